"""Composing LoRA domain experts into a new expert: LoRAHub (learned weights), averaging, peft merges.

For experts i with LoRA matrices A_i, B_i (same base model, rank, alpha and target modules) the LoRAHub
composition (Huang et al. 2023) is the adapter with A = sum(w_i A_i) and B = sum(w_i B_i), of the same rank.
LoRAHub finds the weights gradient-free on a few examples of the new task: minimise the mean token
cross-entropy of the SQL tokens of the k examples plus ``REGULARIZATION`` x mean |w_i|, each w_i in
``BOUNDS``, starting from w = 0 (the base model), with nevergrad's ``NGOpt`` for ``budget`` evaluations.

``NGOpt`` rather than ``CMA``: it is what the reference implementation uses (results stay comparable), and it
is a meta-optimizer that picks an algorithm for the dimension and budget. With a handful of experts and ~40
evaluations it picks COBYLA, a deterministic trust-region method that starts from the given point: the first
evaluation is w = 0, and on smooth low-dimensional problems it gets much further in 40 evaluations than
CMA-ES, whose population (about 4 + 3 ln n) leaves it only a few generations.

Causal LMs, efficiently: the experts are loaded once as adapters of one peft model, and each evaluation
writes the composed matrices in place (``copy_``) into the ``lora_A``/``lora_B`` weights of one more adapter,
then runs the examples through the model; nothing is reloaded or merged. The examples are tokenized once,
exactly as at inference (``training.build_examples``: loss on the SQL tokens only), and when the experts adapt
only the top layers, what enters the first adapted layer is computed once (``training.ActivationCache``):
later evaluations run only the adapted layers.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finsql.ask.pairs import Pair
from finsql.errors import FinsqlError, InputError, UsageError

REGULARIZATION = 0.05
BOUNDS = (-1.5, 1.5)
DEFAULT_BUDGET = 40
OPTIMIZER = "NGOpt"
FINAL_ADAPTER = "default"  # peft saves the adapter named "default" straight into the folder it is given
_SEARCH_ADAPTER = "lorahub-search"
_COMPARED = {
    "r": "rank",
    "lora_alpha": "lora_alpha",
    "target_modules": "target modules",
    "layers_to_transform": "adapted layers",
    "use_rslora": "use_rslora",
    "rank_pattern": "rank pattern",
    "alpha_pattern": "alpha pattern",
}
_MANIFEST_COMPARED = {
    "base_model_hash": "base model",
    "method": "method",
    "prompt_style": "prompt style",
    "shots": "shots",
    "example_tokens": "example token budget",
}


def uniform_weights(n: int) -> list[float]:
    """1/n for each of ``n`` experts."""
    return [1.0 / n] * n


@dataclass(frozen=True)
class Combiner:
    """An adapter combiner, registered through the ``register_combiners`` hook.

    ``combine(model, adapters, weights, target)`` adds adapter ``target`` to a peft ``model`` holding the
    experts as adapters named ``adapters``, built from them with ``weights``. When ``learns_weights`` is
    true the weights come from LoRAHub's search (on the linear composition), else from ``default_weights(n)``.
    """

    name: str
    description: str
    combine: Callable[[Any, list[str], list[float], str], None]
    learns_weights: bool = False
    default_weights: Callable[[int], list[float]] = uniform_weights


def get_combiner(name: str, manager=None) -> Combiner:
    """The registered combiner ``name``; UsageError when there is none."""
    from finsql.plugins import combiners

    found = combiners(manager)
    if name not in found:
        raise UsageError(f"unknown combiner {name!r}; combiners: {', '.join(found) or 'none installed'}")
    combiner = found[name]
    if not isinstance(combiner, Combiner):
        raise FinsqlError(f"combiner {name!r} is a {type(combiner).__name__}, not a finsql Combiner")
    return combiner


# ---- the linear composition -------------------------------------------------------------------------------


def _lora_layers(model, adapter: str) -> Iterator[Any]:
    from peft.tuners.lora import LoraLayer

    for module in model.modules():
        if isinstance(module, LoraLayer) and adapter in module.lora_A:
            yield module


class LinearComposer:
    """Adapter ``target`` with A = sum(w_i A_i), B = sum(w_i B_i) of ``adapters``, rewritten in place."""

    def __init__(self, model, adapters: Sequence[str], target: str) -> None:
        import torch

        model.add_adapter(target, copy.deepcopy(model.peft_config[adapters[0]]))
        self.slots = []
        for module in _lora_layers(model, target):
            for own in (module.lora_A, module.lora_B):
                sources = [own[a].weight.detach().float() for a in adapters]
                self.slots.append((own[target].weight, torch.stack(sources)))
        if not self.slots:
            raise UsageError("the experts have no LoRA layers to compose")

    def write(self, weights: Sequence[float]) -> None:
        """Put the composition with ``weights`` into the target adapter's weights (``copy_``)."""
        import torch

        with torch.no_grad():
            w = torch.tensor([float(x) for x in weights])
            for weight, stack in self.slots:
                weight.copy_(torch.tensordot(w.to(stack.device), stack, dims=1))


def linear_combine(model, adapters: list[str], weights: list[float], target: str) -> None:
    """LoRAHub's composition: adapter ``target`` with A = sum(w_i A_i), B = sum(w_i B_i).

    Not peft's ``linear``, which scales A and B by square roots of the weights.
    """
    LinearComposer(model, adapters, target).write(weights)


# ---- the examples' loss -----------------------------------------------------------------------------------


class ExampleLoss:
    """Mean token cross-entropy of the examples' SQL tokens under the model's active adapter."""

    def __init__(
        self, model, examples: list, pad_id: int, first_adapted: int | None, batch_size: int
    ) -> None:
        from finsql.experts.training import ACTIVATION_CACHE_BYTES, ActivationCache, Collator

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
            self.cache = ActivationCache(model, first_adapted, ACTIVATION_CACHE_BYTES)

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
            cache.verified = True
            try:
                fast = self._cached_logits(batch, uids, lengths).float()
                ok = float((fast - logits.float()).abs().max()) <= 1e-3 * max(float(logits.abs().max()), 1e-6)
            except Exception:  # noqa: BLE001 - a model the cache does not fit: run every layer
                ok = False
            if not ok:
                cache.disable()
        return logits


# ---- the search -------------------------------------------------------------------------------------------


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

    from finsql.console import err

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


# ---- the experts ------------------------------------------------------------------------------------------


def source_experts(names: Sequence[str], minimum: int = 2) -> list[dict[str, Any]]:
    """The manifests of the experts to compose, with their adapter configs; UsageError when they differ or
    are fewer than ``minimum`` distinct ones."""
    from finsql.lm import hub

    names = list(dict.fromkeys(names))
    if len(names) < minimum:
        raise UsageError("composing needs at least two experts" if minimum == 2 else "no experts given")
    manifests = [hub.load_manifest(name) for name in names]
    for manifest in manifests:
        config_file = Path(manifest["path"]) / "adapter_config.json"
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        if config.get("peft_type") != "LORA" or config.get("use_dora"):
            raise UsageError(
                f"expert {manifest['name']!r} is a {manifest.get('method')} adapter: "
                "only LoRA experts compose"
            )
        if isinstance(config.get("target_modules"), list):
            config["target_modules"] = sorted(config["target_modules"])
        manifest["adapter_config"] = config
    first = manifests[0]
    for other in manifests[1:]:
        pairs = [(first, other, key, label) for key, label in _MANIFEST_COMPARED.items()]
        pairs += [(first["adapter_config"], other["adapter_config"], k, v) for k, v in _COMPARED.items()]
        for a, b, key, label in pairs:
            if a.get(key) != b.get(key):
                raise UsageError(
                    f"experts {first['name']!r} and {other['name']!r} differ in {label} "
                    f"({a.get(key)} vs {b.get(key)}): only experts of one LoRA setup compose"
                )
    return manifests


def _base_model(manifest: dict[str, Any]) -> str | None:
    path = manifest.get("base_model_path")
    return path if path and Path(path).is_dir() else manifest.get("base_model")


@dataclass
class Composition:
    """The experts loaded as adapters ``e0``, ``e1``, ... of one peft model, with the examples' loss."""

    session: Any
    model: Any
    manifests: list[dict[str, Any]]
    adapters: list[str]
    examples: list
    loss: ExampleLoss
    _composer: LinearComposer | None = None

    def loss_of(self, weights: Sequence[float]) -> float:
        """The examples' loss under the linear composition with ``weights`` (one-hot: that expert)."""
        if self._composer is None:
            self._composer = LinearComposer(self.model, self.adapters, _SEARCH_ADAPTER)
        self.model.set_adapter(_SEARCH_ADAPTER)
        self._composer.write(weights)
        return self.loss()


@contextlib.contextmanager
def open_composition(
    names: Sequence[str],
    pairs: Sequence[Pair],
    db_path: str | Path | None,
    batch_size: int = 8,
    threads: int | None = None,
    minimum: int = 2,
) -> Iterator[Composition]:
    """Load the base model, the experts ``names`` and the tokenized ``pairs`` (prompts as at inference).
    ``minimum=1`` allows one expert: its loss on ``pairs`` is ``loss_of([1.0])``, the base model's
    ``loss_of([0.0])``."""
    import torch

    from finsql.ask.pairs import ExampleRetriever
    from finsql.ask.session import Session
    from finsql.db.database import resolve_database
    from finsql.experts.training import _ExcludingRetriever, build_examples, cpu_threads
    from finsql.lm import hub

    manifests = source_experts(names, minimum)
    if not pairs:
        raise InputError("no examples to compose the experts on")
    first = manifests[0]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads or cpu_threads())
    session = Session(
        resolve_database(db_path),
        model_name=_base_model(first),
        shots=int(first.get("shots", 0)),
        expert=False,
        prompt_style=first.get("prompt_style", "full"),
        example_tokens=first.get("example_tokens"),
    )
    try:
        lm = session.lm
        if hub.weights_hash(lm.path) != first.get("base_model_hash"):
            raise UsageError(
                f"the base model {lm.name!r} is not the one the experts were trained on "
                f"(weights {hub.weights_hash(lm.path)}, not {first.get('base_model_hash')})"
            )
        if session.shots > 0:  # the examples are the few-shot pool, never their own shot
            session.examples = _ExcludingRetriever(ExampleRetriever(list(pairs)))
        max_length = getattr(lm.model.config, "max_position_embeddings", None)
        examples, _stats = build_examples(session, list(pairs), (), 0, max_length)
        if not examples:
            raise InputError("no usable examples (gold SQL must start with SELECT and fit the model)")
        model = _load_adapters(lm.model, [Path(m["path"]) for m in manifests])
        adapters = [f"e{i}" for i in range(len(manifests))]
        layers = first["adapter_config"].get("layers_to_transform")
        first_adapted = min(layers) if isinstance(layers, list) and layers else None
        loss = ExampleLoss(model, examples, lm.tokenizer.pad_token_id, first_adapted, batch_size)
        yield Composition(session, model, manifests, adapters, examples, loss)
    finally:
        session.close()
        torch.set_num_threads(previous_threads)


def _load_adapters(base, folders: list[Path]):
    from peft import PeftModel

    with warnings.catch_warnings():  # peft asks transformers 5 a deprecated question; not ours to answer
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        model = PeftModel.from_pretrained(base, str(folders[0]), adapter_name="e0")
        for i, folder in enumerate(folders[1:], 1):
            model.load_adapter(str(folder), adapter_name=f"e{i}")
    model.eval()
    return model


# ---- composing a new expert -------------------------------------------------------------------------------


def compose_expert(
    names: Sequence[str],
    pairs: Sequence[Pair],
    db_path: str | Path | None,
    name: str,
    *,
    combiner: str = "lorahub",
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    batch_size: int = 8,
    progress: bool = True,
    force: bool = False,
    threads: int | None = None,
    manager=None,
) -> Path:
    """Compose the experts ``names`` into a new expert ``name`` for the database at ``db_path``.

    The new expert is a standard peft adapter folder with a finsql manifest recording the experts, the
    combiner, the weights and (for a learning combiner) the loss of every search step; it carries the schema
    fingerprint of ``db_path``, so asking that database routes to it.
    """
    from finsql.experts.training import _jsonable, data_hash
    from finsql.lm import hub

    started = time.perf_counter()
    hub.validate_name(name)
    chosen = get_combiner(combiner, manager)
    if budget < 1:
        raise UsageError(f"--budget must be at least 1, not {budget}")
    if name in names:
        raise UsageError(f"the new expert {name!r} cannot be one of the experts it is composed of")
    if hub.expert_dir(name).exists() and not force:
        raise UsageError(f"expert {name!r} already exists; use --force to replace it")
    with open_composition(names, pairs, db_path, batch_size) as comp:
        n = len(comp.adapters)
        search = None
        if chosen.learns_weights:
            search = search_weights(comp.loss_of, n, budget, seed, progress)
            weights = search.weights
        else:
            weights = list(chosen.default_weights(n))
        chosen.combine(comp.model, list(comp.adapters), list(weights), FINAL_ADAPTER)
        comp.model.set_adapter(FINAL_ADAPTER)
        final_loss = comp.loss()
        first = comp.manifests[0]
        lm = comp.session.lm
        composition = {
            "combiner": chosen.name,
            "experts": [m["name"] for m in comp.manifests],
            "weights": weights,
            "examples": len(pairs),
            "seed": seed,
        }
        if search is not None:
            composition |= {
                "optimizer": OPTIMIZER,
                "budget": budget,
                "bounds": list(BOUNDS),
                "regularization": REGULARIZATION,
                "objective": search.objective,
                "steps": [{k: s[k] for k in ("step", "loss", "objective", "weights")} for s in search.steps],
            }
        manifest = _jsonable(
            {
                "schema_fingerprint": comp.session.schema.fingerprint(),
                "database": str(comp.session.db_path),
                "base_model": lm.name,
                "base_model_path": lm.path,
                "base_model_hash": first.get("base_model_hash"),
                "method": first.get("method"),
                "params": first.get("params"),
                "layers": first.get("layers"),
                "layers_applied": first.get("layers_applied"),
                "shots": comp.session.shots,
                "prompt_style": comp.session.prompt_style,
                "example_tokens": comp.session.example_tokens,
                "composition": composition,
                "data": {"hash": data_hash(list(pairs)), "pairs": len(pairs), "examples": len(comp.examples)},
                "metrics": {
                    "examples_loss": final_loss,
                    "seconds": round(time.perf_counter() - started, 2),
                },
            }
        )

        def write_state(folder: Path) -> None:
            comp.model.save_pretrained(str(folder), selected_adapters=[FINAL_ADAPTER])
            if comp.session.shots > 0:  # the examples are the new expert's few-shot pool
                rows = [{"question": p.question, "sql": p.sql} for p in pairs]
                text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                (folder / hub.EXAMPLES_FILE).write_text(text, encoding="utf-8")

        return hub.save_expert(name, write_state, manifest, force=force)
