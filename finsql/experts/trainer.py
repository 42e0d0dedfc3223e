"""The ``Trainer`` an expert is fitted with, its callbacks and its arguments.

Speed, beyond what ``Trainer`` does:

* without prompt gradients (``prompt_gradients=False``, the default): each batch's prompt positions (all but
  the last ``max target length + 1``) run first, once, without autograd, keeping their keys and values; the
  target window runs on top of them with autograd, so back-propagation covers the window only (about an
  eighth of the positions on BULL fund). The forward values, hence the loss, are those of one whole pass; the
  gradient leaves out what flows back into the prompt's keys and values, so it is an approximation (cosine
  0.91 to the exact gradient on a test batch): 1.38x the examples/s, half the memory, the same EX
  (docs/benchmarks.md).
  Cached batches split the same way;
* batches whose examples are all in the ``ActivationCache`` start from it, the frozen layers skipped;
* checkpoints hold only the trainable tensors (``finsql.experts.checkpoints``).

This module imports transformers (slow): nothing the ``ask`` path imports may import it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import Trainer, TrainerCallback, TrainingArguments

from finsql.console import err, status
from finsql.experts.batching import LENGTH_GROUP_BATCHES, LengthGroupedSampler
from finsql.experts.checkpoints import load_trainable, save_trainable
from finsql.lm.activations import ActivationCache
from finsql.lm.models import LoadedModel, cache_argument


class ExpertTrainer(Trainer):
    """Checkpoints hold only the trainable tensors (any method, peft or not); length-grouped batches."""

    def __init__(
        self,
        *args,
        lengths: Sequence[int],
        data_seed: int,
        activations: ActivationCache | None,
        prompt_gradients: bool = True,
        group_by_length: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._lengths = lengths
        self._data_seed = data_seed
        self._mega = LENGTH_GROUP_BATCHES if group_by_length else 1
        self.activations = activations
        self.prompt_gradients = prompt_gradients
        self._cache_kwarg = cache_argument(self.model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The batch's loss, from the cached activations once every example of the batch is cached."""
        inputs = dict(inputs)
        uids = inputs.pop("example_ids", None)
        cache = self.activations
        if cache is None or uids is None or not cache.enabled:
            return self._loss(model, inputs, return_outputs, num_items_in_batch)
        uids = uids.tolist()
        lengths = inputs["attention_mask"].sum(-1).tolist()
        if cache.ready(uids):
            cached = {k: v for k, v in inputs.items() if k != "input_ids"}
            width = inputs["input_ids"].shape[1]
            cached["inputs_embeds"] = cache.embeds(uids, lengths, width, self._embed_like)
            if not cache.verified:
                self._verify(model, inputs, cached, num_items_in_batch)
            if cache.enabled:
                cache.record_hit()
                with cache.skipping():
                    return self._loss(model, cached, return_outputs, num_items_in_batch)
        with cache.capture(uids, lengths):
            return self._loss(model, inputs, return_outputs, num_items_in_batch)

    def _loss(self, model: Any, inputs: dict, return_outputs: bool, num_items_in_batch: Any) -> Any:
        """The batch's loss; without prompt gradients the positions before the target window run first,
        once, without autograd, and the window attends to their keys and values (same forward values)."""
        keep = inputs.get("logits_to_keep")
        tokens = "input_ids" if "input_ids" in inputs else "inputs_embeds"
        width = inputs[tokens].shape[1]
        if self.prompt_gradients or not keep or keep >= width or not torch.is_grad_enabled():
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mask, positions = inputs["attention_mask"], inputs["position_ids"]
        with torch.no_grad():
            prompt = model(
                **{tokens: inputs[tokens][:, :-keep]},
                attention_mask=mask[:, :-keep],
                position_ids=positions[:, :-keep],
                use_cache=True,
                logits_to_keep=1,
            )
        window = {k: v for k, v in inputs.items() if k != "logits_to_keep"}
        window[tokens] = inputs[tokens][:, -keep:]
        window["position_ids"] = positions[:, -keep:]
        window[self._cache_kwarg] = getattr(prompt, self._cache_kwarg)
        window["use_cache"] = True
        return super().compute_loss(model, window, return_outputs, num_items_in_batch)

    @property
    def _embed_like(self) -> torch.Tensor:
        return self.accelerator.unwrap_model(self.model).get_input_embeddings().weight

    def _verify(self, model: Any, inputs: dict, cached: dict, num_items_in_batch: Any) -> None:
        """Cached and plain forward passes must agree (eval mode, no dropout), else the cache goes.

        Under mixed precision the same values, summed in another order, may round apart by a few bf16
        steps; a cache that does not fit the model is off by far more (the logits' own scale)."""
        cache = self.activations
        tolerance = 3e-2 if self.args.bf16 or self.args.fp16 else 1e-3  # rounding, not a wrong cache
        training = model.training
        model.eval()
        try:
            with torch.no_grad():
                plain = super().compute_loss(model, inputs, True, num_items_in_batch)[1].logits
                try:
                    with cache.skipping():
                        fast = super().compute_loss(model, cached, True, num_items_in_batch)[1].logits
                except Exception:  # noqa: BLE001 - a model the cache does not fit: train without it
                    fast = None
            difference = cache.verify(plain, fast, tolerance)
        finally:
            model.train(training)
        if not cache.enabled:
            status(f"activation cache disabled: cached logits differ from plain ones by {difference:.3g}")

    def _get_train_sampler(self, train_dataset: Any = None) -> LengthGroupedSampler:
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
        return LengthGroupedSampler(self._lengths, batch, self._data_seed, self._mega)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if self.args.should_save:
            save_trainable(self.accelerator.unwrap_model(self.model), output_dir or self.args.output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        load_trainable(self.accelerator.unwrap_model(model or self.model), resume_from_checkpoint)

    def _load_best_model(self) -> None:
        load_trainable(self.accelerator.unwrap_model(self.model), self.state.best_model_checkpoint)


class StepHook(TrainerCallback):
    """The method's ``on_step(model, step)`` after each optimizer step, before gradients are zeroed."""

    def __init__(self, model: Any, on_step: Callable[[Any, int], None]) -> None:
        self.model, self.on_step = model, on_step

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.on_step(self.model, state.global_step + 1)


class StepTimer(TrainerCallback):
    """Seconds of each optimizer step (forward, backward, update), evaluation and saving excluded."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.durations.append(time.perf_counter() - self._start)

    def seconds_per_step(self) -> float | None:
        steady = self.durations[1:] or self.durations  # the first step warms up caches
        return statistics.fmean(steady) if steady else None


class RichProgress(TrainerCallback):
    """A rich progress bar with the running loss and s/step; one line per evaluation."""

    def __init__(self, title: str, timer: StepTimer) -> None:
        self.title, self.timer = title, timer
        self.bar = None
        self.task = None
        self.loss = float("nan")

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[sps]:.2f}s/step"),
            TimeRemainingColumn(),
            console=err,
            transient=False,
            disable=not err.is_terminal,
        )
        self.bar.start()
        self.task = self.bar.add_task(self.title, total=state.max_steps, loss=self.loss, sps=0.0)
        self.bar.update(self.task, completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            sps = self.timer.seconds_per_step() or 0.0
            self.bar.update(self.task, completed=state.global_step, sps=sps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs or "loss" not in logs:
            return
        self.loss = float(logs["loss"])  # logged after on_step_end: this step's loss
        self.bar.update(self.task, loss=self.loss)
        step, every = state.global_step, max(1, state.max_steps // 20)
        if not err.is_terminal and (step % every == 0 or step == state.max_steps):
            # a log file gets a line per 5% instead of a live bar
            sps = self.timer.seconds_per_step() or 0.0
            self.bar.console.print(
                f"step {step}/{state.max_steps}  loss {self.loss:.4f}  {sps:.2f} s/step", highlight=False
            )

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.bar is None or not metrics or "eval_loss" not in metrics:
            return
        best = state.best_metric is None or metrics["eval_loss"] <= state.best_metric
        self.bar.console.print(
            f"step {state.global_step}/{state.max_steps}  epoch {state.epoch or 0:.2f}  "
            f"train loss {self.loss:.4f}  val loss {metrics['eval_loss']:.4f}" + ("  (best)" if best else ""),
            highlight=False,
        )

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def training_arguments(
    run_dir: Path,
    batch_size: int,
    total_steps: int,
    lr: float,
    interval: int,
    has_val: bool,
    seed: int,
    lm: LoadedModel,
    autocast: str | None,
) -> TrainingArguments:
    """``TrainingArguments`` for an expert: eval and checkpoints every ``interval`` steps, the best kept.

    ``autocast`` is the mixed precision (``mixed_precision``); on CUDA batches are pinned.
    """
    on_cuda = lm.device == "cuda"
    return TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        max_steps=total_steps,
        learning_rate=lr,
        lr_scheduler_type="linear",
        warmup_steps=int(0.05 * total_steps),
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_strategy="steps",
        logging_steps=1,
        eval_strategy="steps" if has_val else "no",
        eval_steps=interval if has_val else None,
        save_strategy="steps",
        save_steps=interval,
        save_total_limit=2,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss" if has_val else None,
        greater_is_better=False if has_val else None,
        restore_callback_states_from_checkpoint=True,
        prediction_loss_only=True,
        label_names=["labels"],
        remove_unused_columns=False,
        seed=seed,
        data_seed=seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_cuda,
        use_cpu=lm.device == "cpu",
        bf16=autocast == "bf16",
        fp16=autocast == "fp16",
    )
