"""Training a domain expert: a PEFT adapter fitted to one database schema with HF ``Trainer``.

Given a ``finsql bull import`` folder instead of one database, one *joint* expert is trained for every
database the pairs name (each pair prompted with its own database's schema); it answers on any of them.

An expert is used at inference with the number of retrieved examples (``shots``) it was trained with; the
default is 3, as ``ask`` gives the base model: the k training pairs whose questions are closest (DAIL-SQL
style; see ``finsql.experts.examples``). Measured on BULL fund, the examples carry most of what a short run
can learn, at about 1.6x the step time of no examples (``benchmarks/results/train-speed-*.json``).

The steps: check the settings (``check_config``), build the examples per database (``prepare_data``), set up
the trainer (``build_run``), train (``run_training``), validate the trained model as ``ask`` would use it
and the base model beside it (``finsql.experts.validation``), write the expert and its manifest
(``write_expert``). Speed: see ``batching``, ``trainer``, ``finsql.lm.activations`` and ``finsql.lm.runtime``.

Multi-GPU: run ``accelerate launch -m finsql train ...``; ``Trainer`` does the data parallelism and only the
main process writes the expert.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from accelerate import PartialState
from transformers import EarlyStoppingCallback, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from finsql.ask.pairs import Pair
from finsql.console import status
from finsql.errors import InputError, UsageError
from finsql.experts.batching import Collator
from finsql.experts.checkpoints import prepare_run_dir, runs_dir
from finsql.experts.config import DEFAULT_EPOCHS, CheckedConfig, TrainConfig, check_config
from finsql.experts.data import TrainingData, open_sessions, prepare_data
from finsql.experts.pairs_io import data_hash, read_pairs_any, write_pairs
from finsql.experts.trainer import ExpertTrainer, RichProgress, StepHook, StepTimer, training_arguments
from finsql.experts.validation import Validation, validate
from finsql.lm import hub
from finsql.lm.activations import ActivationCache
from finsql.lm.manifest import ExpertManifest
from finsql.lm.methods import is_prompt_learning
from finsql.lm.models import LoadedModel, quiet_cache_rename
from finsql.lm.runtime import mixed_precision, torch_threads
from finsql.lm.wrapping import first_adapted_layer, wrap_for_training
from finsql.storage import jsonable
from finsql.synth.synthesizer import is_synthetic


@dataclass
class TrainingRun:
    """The wrapped model and the trainer set up for it, with what the manifest reports about them."""

    trainer: ExpertTrainer
    model: Any
    timer: StepTimer
    activations: ActivationCache | None
    world: PartialState
    total_steps: int
    interval: int
    layer_mode: str
    trainable: int
    total: int
    autocast: str | None
    bf16_speedup: float | None
    prompt_gradients: bool
    base_hash: str | None
    run_dir: Path
    resume_from: Path | None

    @property
    def processes(self) -> int:
        """Training processes (``accelerate launch`` / ``torchrun``), 1 for a plain run."""
        return max(1, self.world.num_processes)


@dataclass
class Outcome:
    """What training and validation measured."""

    train_seconds: float
    val_loss: float | None
    losses: list[float]
    cached_batches: int
    validation: Validation | None = None


def train_expert(
    db_path: str | os.PathLike | None, pairs: Sequence[Pair] | str | os.PathLike, config: TrainConfig
) -> Path:
    """Train a domain expert for the database at ``db_path`` on ``pairs`` (or a pair file); its folder.

    ``db_path`` may also be a ``finsql bull import`` folder: then each pair is prompted with the schema of the
    database its ``db`` names, the validation split is drawn per database, and the one expert is recorded
    for all their schemas (a joint expert). ``config`` holds every other setting (``TrainConfig``).
    """
    started = time.perf_counter()
    checked = check_config(config)
    pairs = list(pairs) if isinstance(pairs, list | tuple) else read_pairs_any(pairs)
    if not pairs:
        raise InputError("no training pairs")
    with torch_threads(config.threads):
        set_seed(config.seed)
        with open_sessions(db_path, pairs, config) as sessions:
            data = prepare_data(sessions, pairs, checked)
            run = build_run(data, checked)
            outcome = run_training(run, started)
            if not run.trainer.is_world_process_zero():
                run.world.wait_for_everyone()  # while the main process validates and saves the expert
                return hub.expert_dir(config.name)
            lm = data.lm
            trained = LoadedModel(run.model, lm.tokenizer, lm.name, lm.path, lm.device)
            outcome.validation = validate(data, trained, config)
            folder = write_expert(db_path, data, run, outcome, checked, started)
            run.world.wait_for_everyone()
            if not config.keep_run:
                shutil.rmtree(run.run_dir, ignore_errors=True)
            return folder


def build_run(data: TrainingData, checked: CheckedConfig) -> TrainingRun:
    """Wrap the model for the method, prepare the run's folder and set up the trainer."""
    config = checked.config
    lm = data.lm
    world = PartialState(cpu=lm.device == "cpu")  # several CPU processes (torchrun) need it
    processes = max(1, world.num_processes)
    steps_per_epoch = math.ceil(len(data.train_examples) / (config.batch_size * processes))
    total_steps = config.steps or max(1, math.ceil(steps_per_epoch * (config.epochs or DEFAULT_EPOCHS)))
    interval = config.eval_steps or max(1, min(50, total_steps // 10))
    has_val = bool(data.val_examples)

    set_seed(config.seed)
    model, layer_mode = wrap_for_training(
        checked.method, lm.model, checked.params, config.layers, total_steps
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    if trainable == 0:
        raise UsageError(f"{config.method} left nothing to train with --layers {config.layers}")

    run_dir = runs_dir() / config.name
    base_hash = hub.weights_hash(lm.path)
    settings = run_settings(data, checked, total_steps, interval, base_hash)
    resume_from = prepare_run_dir(run_dir, settings, config.resume, world.is_main_process)
    world.wait_for_everyone()

    autocast, bf16_speedup = mixed_precision(lm, config.precision)
    args = training_arguments(
        run_dir, config.batch_size, total_steps, checked.lr, interval, has_val, config.seed, lm, autocast
    )
    timer = StepTimer()
    callbacks: list[Any] = [timer]
    if checked.method.on_step is not None:
        callbacks.append(StepHook(model, checked.method.on_step))
    if has_val and config.patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    if config.progress:
        callbacks.append(RichProgress(f"training {config.name}", timer))
    callbacks += list(config.callbacks)
    fast = not is_prompt_learning(model)
    prompt_gradients = config.prompt_gradients or not fast  # virtual tokens: no target window to split
    activations = None
    revisits = total_steps > steps_per_epoch  # a single pass never reads what the cache would keep
    first = first_adapted_layer(model, layer_mode, config.layers)
    if config.activation_cache and revisits and fast and processes == 1 and first > 0:
        activations = ActivationCache(model, first)
    trainer = ExpertTrainer(
        model=model,
        args=args,
        train_dataset=data.train_examples,
        eval_dataset=data.val_examples or None,
        data_collator=Collator(
            lm.tokenizer.pad_token_id, fast=fast, multiple_of=8 if lm.device == "cuda" else 1
        ),
        callbacks=callbacks,
        lengths=[len(e) for e in data.train_examples],
        data_seed=config.seed,
        activations=activations,
        prompt_gradients=prompt_gradients,
        group_by_length=config.group_by_length,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if config.progress:
        counts = data.counts
        status(
            f"{config.method} on {lm.name}: {len(data.train_examples)} examples ({counts.sql} SQL, "
            f"{counts.skeleton} skeleton, {counts.paraphrase} paraphrase), {total_steps} steps of "
            f"{config.batch_size}, lr {checked.lr:g}, layers {config.layers or 'all'} ({layer_mode}), "
            f"{trainable:,} trainable parameters"
            + (f"; resuming from {resume_from.name}" if resume_from else "")
        )
    return TrainingRun(
        trainer=trainer, model=model, timer=timer, activations=activations, world=world,
        total_steps=total_steps, interval=interval, layer_mode=layer_mode, trainable=trainable, total=total,
        autocast=autocast, bf16_speedup=bf16_speedup, prompt_gradients=prompt_gradients, base_hash=base_hash,
        run_dir=run_dir, resume_from=resume_from,
    )  # fmt: skip


def run_training(run: TrainingRun, started: float) -> Outcome:
    """Train (resuming where asked), evaluate the best checkpoint, leave the model as inference runs it."""
    trainer = run.trainer
    with quiet_cache_rename():  # peft prefix tuning still passes `past_key_values` (transformers 5)
        trainer.train(resume_from_checkpoint=str(run.resume_from) if run.resume_from else None)
        train_seconds = time.perf_counter() - started
        val_loss = None
        if trainer.eval_dataset is not None:  # the best checkpoint is loaded and was evaluated already
            best = trainer.state.best_metric
            val_loss = best if best is not None else trainer.evaluate()["eval_loss"]
    trainer.accelerator.unwrap_model(run.model, keep_fp32_wrapper=False)  # no autocast: validate as inference
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    activations = run.activations
    cached_batches = activations.hits if activations is not None and activations.enabled else 0
    if activations is not None:
        activations.disable()  # frees the cached activations
    return Outcome(train_seconds, val_loss, losses, cached_batches)


def write_expert(
    db_path: str | os.PathLike | None,
    data: TrainingData,
    run: TrainingRun,
    outcome: Outcome,
    checked: CheckedConfig,
    started: float,
) -> Path:
    """Save the trained state, the training pairs as its few-shot pool and the manifest, atomically."""
    config = checked.config
    manifest = expert_manifest(db_path, data, run, outcome, checked, time.perf_counter() - started)

    def write_state(target: Path) -> None:
        checked.method.save(run.model, target)
        # its few-shot pool: the expert answers with examples retrieved from its training pairs, and the base
        # model does when routing skips the expert (it was validated that way)
        write_pairs(target / hub.EXAMPLES_FILE, data.all_train)

    return hub.save_expert(config.name, write_state, manifest, force=config.force)


def run_settings(
    data: TrainingData, checked: CheckedConfig, total_steps: int, interval: int, base_hash: str | None
) -> dict[str, Any]:
    """What a run must share with the run it resumes (``RUN_FILE``)."""
    c = checked.config
    fingerprints = data.fingerprints
    return jsonable(
        {
            "method": c.method, "params": checked.params, "layers": c.layers, "model": data.lm.name,
            "base_model_hash": base_hash,
            "schema_fingerprint": fingerprints if data.joint else next(iter(fingerprints.values())),
            "data_hash": data_hash(data.pairs),
            "batch_size": c.batch_size, "lr": checked.lr, "total_steps": total_steps, "seed": c.seed,
            "augment": checked.augment, "shots": c.shots, "prompt_style": c.prompt_style,
            "example_tokens": c.example_tokens, "prompt_gradients": c.prompt_gradients,
            "group_by_length": c.group_by_length, "val_split": c.val_split, "max_length": data.max_length,
            "interval": interval, "patience": c.patience,
        }
    )  # fmt: skip


def _metrics(
    run: TrainingRun, outcome: Outcome, lm: LoadedModel, config: TrainConfig, seconds: float
) -> dict[str, Any]:
    state = run.trainer.state
    losses = outcome.losses
    validation = outcome.validation
    seconds_per_step = run.timer.seconds_per_step()
    return {
        "train_loss": losses[-1] if losses else None,
        "train_loss_mean": statistics.fmean(losses) if losses else None,
        "val_loss": outcome.val_loss,
        "best_val_loss": state.best_metric,
        "best_step": state.best_global_step,
        "val_ex": validation.expert_ex if validation else None,
        "base_val_ex": validation.base_ex if validation else None,
        "val_ex_n": validation.n if validation else 0,
        "val_source": validation.source if validation else "none",
        "val_constrained": config.constrain,
        "steps": state.global_step,
        "epochs": state.epoch,
        "seconds": round(seconds, 2),
        "train_seconds": round(outcome.train_seconds, 2),
        "seconds_per_step": round(seconds_per_step, 4) if seconds_per_step is not None else None,
        "trainable_params": run.trainable,
        "total_params": run.total,
        "activation_cache": run.activations is not None,
        "cached_batches": outcome.cached_batches,
        "prompt_gradients": run.prompt_gradients,
        "group_by_length": config.group_by_length,
        "device": lm.device,
        "precision": run.autocast or str(lm.model.dtype)[6:],
        "cpu_bf16_speedup": run.bf16_speedup,
        "processes": run.processes,
    }


def expert_manifest(
    db_path: str | os.PathLike | None,
    data: TrainingData,
    run: TrainingRun,
    outcome: Outcome,
    checked: CheckedConfig,
    seconds: float,
) -> ExpertManifest:
    """The expert's manifest: what it is for (schemas, base model), how it was trained, how it measured."""
    c = checked.config
    lm = data.lm
    fingerprints = data.fingerprints
    counts, val_counts = data.counts, data.val_counts
    first = next(iter(data.sessions.values()))
    return ExpertManifest(
        schema_fingerprint=next(iter(fingerprints.values())),
        schema_fingerprints=dict(fingerprints) if data.joint else {},
        database=str(db_path if data.joint else first.db_path),
        base_model=lm.name,
        base_model_path=lm.path,
        base_model_hash=run.base_hash,
        method=c.method,
        params=jsonable(checked.params),
        layers=c.layers,
        layers_applied=run.layer_mode,
        hyperparameters=jsonable({
            "epochs": c.epochs, "steps": c.steps, "total_steps": run.total_steps,
            "batch_size": c.batch_size, "lr": checked.lr, "val_split": c.val_split, "seed": c.seed,
            "patience": c.patience, "eval_steps": run.interval, "max_length": data.max_length,
        }),
        augment=list(checked.augment),
        shots=c.shots,
        prompt_style=c.prompt_style,
        example_tokens=c.example_tokens,
        data=jsonable({
            "hash": data_hash(data.pairs), "pairs": len(data.pairs), "train_pairs": len(data.all_train),
            "synthetic_pairs": sum(map(is_synthetic, data.pairs)), "user_weight": c.user_weight,
            "val_pairs": len(data.all_val), "train_examples": len(data.train_examples),
            "train_tokens_median": statistics.median(map(len, data.train_examples)),
            "val_examples": len(data.val_examples),
            **{f"train_{k}": v for k, v in asdict(counts).items()},
            "val_skipped": val_counts.skipped,
        }),
        metrics=jsonable(_metrics(run, outcome, lm, c, seconds)),
    )  # fmt: skip
