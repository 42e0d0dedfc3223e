"""LoRAHub's weight search: the examples' loss under a composition, minimised gradient-free.

LoRAHub finds the weights of the linear composition on a few examples of the new task: minimise the mean
token cross-entropy of the SQL tokens of the k examples plus ``REGULARIZATION`` x mean |w_i|, each w_i in
``BOUNDS``, starting from w = 0 (the base model), with nevergrad's ``NGOpt`` for ``budget`` evaluations.

``NGOpt`` rather than ``CMA``: it is what the reference implementation uses (results stay comparable), and it
is a meta-optimizer that picks an algorithm for the dimension and budget. With a handful of experts and ~40
evaluations it picks COBYLA, a deterministic trust-region method that starts from the given point: the first
evaluation is w = 0, and on smooth low-dimensional problems it gets much further in 40 evaluations than
CMA-ES, whose population (about 4 + 3 ln n) leaves it only a few generations.

The examples are tokenized once, and when the experts adapt only the top layers, what enters the first
adapted layer is computed once (``ActivationCache``): later evaluations run only the adapted layers.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from finsql.console import err
from finsql.experts.batching import Collator
from finsql.experts.examples import Example
from finsql.lm.activations import ActivationCache

REGULARIZATION = 0.05
BOUNDS = (-1.5, 1.5)
DEFAULT_BUDGET = 40
OPTIMIZER = "NGOpt"


class ExampleLoss:
    """Mean token cross-entropy of the examples' SQL tokens under the model's active adapter."""

    def __init__(
        self, model: Any, examples: list[Example], pad_id: int, first_adapted: int | None, batch_size: int
    ) -> None:
        self.model = model
        device = next(model.parameters()).device
        ordered = sorted(examples, key=len)
        collate = Collator(pad_id, fast=True)
        self.batches = []
        for start in range(0, len(ordered), batch_size):
            batch = collate(ordered[start : start + batch_size])
            self.batches.append({k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()})
        self.cache = None
        if first_adapted:
            self.cache = ActivationCache(model, first_adapted)

    def __call__(self) -> float:
        import torch

        total, count = 0.0, 0
        self.model.eval()  # an adapter added since (search, final) comes with its dropout in training mode
        with torch.inference_mode():
            for batch in self.batches:
                logits = self._logits(batch).float()
                labels = batch["labels"][:, 1:]
                total += float(
                    torch.nn.functional.cross_entropy(
                        logits[:, :-1].reshape(-1, logits.shape[-1]),
                        labels.reshape(-1),
                        ignore_index=-100,
                        reduction="sum",
                    )
                )
                count += int((labels != -100).sum())
        return total / max(count, 1)

    def _inputs(self, batch: dict) -> dict:
        keys = ("input_ids", "attention_mask", "position_ids", "logits_to_keep")
        return {k: batch[k] for k in keys}

    def _cached_logits(self, batch: dict, uids: list[int], lengths: list[int]):
        cache = self.cache
        inputs = self._inputs(batch)
        width = inputs.pop("input_ids").shape[1]
        like = self.model.get_input_embeddings().weight
        inputs["inputs_embeds"] = cache.embeds(uids, lengths, width, like)
        with cache.skipping():
            return self.model(**inputs).logits

    def _logits(self, batch: dict):
        cache = self.cache
        if cache is None or not cache.enabled or "example_ids" not in batch:
            return self.model(**self._inputs(batch)).logits
        uids = batch["example_ids"].tolist()
        lengths = batch["attention_mask"].sum(-1).tolist()
        if cache.ready(uids):
            return self._cached_logits(batch, uids, lengths)
        with cache.capture(uids, lengths):
            logits = self.model(**self._inputs(batch)).logits
        if not cache.verified and cache.ready(uids):  # the first captured batch: cached == plain?
            try:
                fast = self._cached_logits(batch, uids, lengths)
            except Exception:  # noqa: BLE001 - a model the cache does not fit: run every layer
                fast = None
            cache.verify(logits, fast, 1e-3)
        return logits


@dataclass
class Search:
    """LoRAHub's search: per evaluation the weights' loss and objective; the best weights."""

    weights: list[float]
    loss: float
    objective: float
    steps: list[dict[str, Any]] = field(default_factory=list)


def objective_value(loss: float, weights: Sequence[float]) -> float:
    """LoRAHub's objective: the loss plus ``REGULARIZATION`` x mean |w|."""
    return loss + REGULARIZATION * sum(abs(w) for w in weights) / len(weights)


def search_weights(
    loss_of: Callable[[list[float]], float],
    n: int,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    progress: bool = False,
) -> Search:
    """Minimise ``objective_value(loss_of(w), w)`` with nevergrad NGOpt: ``budget`` evaluations from w = 0.

    The objective is deterministic (no dropout at evaluation), so the best evaluated weights are returned.
    """
    import nevergrad as ng
    import numpy as np

    parametrization = ng.p.Array(init=np.zeros(n), lower=np.full(n, BOUNDS[0]), upper=np.full(n, BOUNDS[1]))
    parametrization.random_state = np.random.RandomState(seed)
    optimizer = ng.optimizers.registry[OPTIMIZER](
        parametrization=parametrization, budget=budget, num_workers=1
    )
    steps: list[dict[str, Any]] = []
    with _search_progress(budget, progress) as bar, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "COBYLA", UserWarning)  # scipy's note on nevergrad's settings
        for step in range(1, budget + 1):
            candidate = optimizer.ask()
            weights = [float(x) for x in candidate.value]
            loss = loss_of(weights)
            value = objective_value(loss, weights)
            optimizer.tell(candidate, value)
            steps.append({"step": step, "weights": weights, "loss": loss, "objective": value})
            bar(step, loss, min(s["objective"] for s in steps))
    best = min(steps, key=lambda s: s["objective"])
    return Search(best["weights"], best["loss"], best["objective"], steps)


@contextlib.contextmanager
def _search_progress(budget: int, enabled: bool) -> Iterator[Callable[[int, float, float], None]]:
    """``update(step, loss, best)``: a rich bar on a terminal, else one line per step on stderr."""
    if not enabled:
        yield lambda step, loss, best: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("LoRAHub search"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  best objective {task.fields[best]:.4f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("search", total=budget, loss=float("nan"), best=float("nan"))

        def update(step: int, loss: float, best: float) -> None:
            bar.update(task, completed=step, loss=loss, best=best)
            if not err.is_terminal:
                err.print(
                    f"step {step}/{budget}  loss {loss:.4f}  best objective {best:.4f}", highlight=False
                )

        yield update
