"""Composing LoRA domain experts into a new expert: LoRAHub (learned weights), averaging, peft merges.

Causal LMs, efficiently: the experts are loaded once as adapters of one peft model, and each evaluation
writes the composed matrices in place into one more adapter (``LinearComposer``), then runs the examples
through the model (``ExampleLoss``). The examples are tokenized once, exactly as at inference
(``build_examples``: loss on the SQL tokens only). The combiners are in ``finsql.experts.combiners``, the
weight search in ``finsql.experts.weights``.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finsql.ask.pairs import ExampleRetriever, Pair
from finsql.ask.prompting import PromptBuilder
from finsql.ask.session import Session
from finsql.db.database import resolve_database
from finsql.errors import InputError, UsageError
from finsql.experts.combiners import LinearComposer, get_combiner
from finsql.experts.examples import Example, ExcludingRetriever, build_examples
from finsql.experts.pairs_io import data_hash, write_pairs
from finsql.experts.weights import (
    BOUNDS,
    DEFAULT_BUDGET,
    OPTIMIZER,
    REGULARIZATION,
    ExampleLoss,
    search_weights,
)
from finsql.lm import hub
from finsql.lm.manifest import ExpertManifest
from finsql.lm.models import load_model
from finsql.lm.runtime import torch_threads
from finsql.storage import jsonable

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


@dataclass(frozen=True)
class Source:
    """An expert to compose: its manifest and its peft adapter config (``target_modules`` sorted)."""

    manifest: ExpertManifest
    adapter_config: dict[str, Any]


def _adapter_config(manifest: ExpertManifest) -> dict[str, Any]:
    """The LoRA adapter config of an expert; UsageError when it is not a plain LoRA adapter."""
    try:
        config = json.loads((Path(manifest.path) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if not isinstance(config, dict) or config.get("peft_type") != "LORA" or config.get("use_dora"):
        raise UsageError(
            f"expert {manifest.name!r} is a {manifest.method} adapter: only LoRA experts compose"
        )
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    return config


def source_experts(names: Sequence[str], minimum: int = 2) -> list[Source]:
    """The experts to compose, with their adapter configs; UsageError when they differ or are fewer than
    ``minimum`` distinct ones."""
    names = list(dict.fromkeys(names))
    if len(names) < minimum:
        raise UsageError("composing needs at least two experts" if minimum == 2 else "no experts given")
    manifests = [hub.load_manifest(name) for name in names]
    sources = [Source(manifest, _adapter_config(manifest)) for manifest in manifests]
    first = sources[0]
    for other in sources[1:]:
        pairs = [
            (getattr(first.manifest, key), getattr(other.manifest, key), label)
            for key, label in _MANIFEST_COMPARED.items()
        ]
        pairs += [
            (first.adapter_config.get(key), other.adapter_config.get(key), label)
            for key, label in _COMPARED.items()
        ]
        for a, b, label in pairs:
            if a != b:
                raise UsageError(
                    f"experts {first.manifest.name!r} and {other.manifest.name!r} differ in {label} "
                    f"({a} vs {b}): only experts of one LoRA setup compose"
                )
    return sources


def _base_model(manifest: ExpertManifest) -> str | None:
    path = manifest.base_model_path
    return path if path and Path(path).is_dir() else manifest.base_model


@dataclass
class Composition:
    """The experts loaded as adapters ``e0``, ``e1``, ... of one peft model, with the examples' loss."""

    session: Session
    model: Any
    sources: list[Source]
    adapters: list[str]
    examples: list[Example]
    loss: ExampleLoss
    _composer: LinearComposer | None = None

    def loss_of(self, weights: Sequence[float]) -> float:
        """The examples' loss under the linear composition with ``weights`` (one-hot: that expert)."""
        if self._composer is None:
            self._composer = LinearComposer(self.model, self.adapters, _SEARCH_ADAPTER)
        self.model.set_adapter(_SEARCH_ADAPTER)
        self._composer.write(weights)
        return self.loss()

    @property
    def manifests(self) -> list[ExpertManifest]:
        """The composed experts' manifests, in adapter order."""
        return [source.manifest for source in self.sources]


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
    sources = source_experts(names, minimum)
    if not pairs:
        raise InputError("no examples to compose the experts on")
    first = sources[0].manifest
    with torch_threads(threads):
        session = Session(
            resolve_database(db_path),
            model_name=_base_model(first),
            shots=int(first.shots),
            expert=False,
            prompt_style=first.prompt_style,
            example_tokens=first.example_tokens,
            lm=load_model(_base_model(first)),  # as loaded: the experts are composed on these weights
            synth_pool=0,  # composing retrieves from the given pairs
        )
        try:
            yield _open(session, sources, list(pairs), batch_size)
        finally:
            session.close()


def _open(session: Session, sources: list[Source], pairs: list[Pair], batch_size: int) -> Composition:
    lm = session.lm
    first = sources[0]
    if hub.weights_hash(lm.path) != first.manifest.base_model_hash:
        raise UsageError(
            f"the base model {lm.name!r} is not the one the experts were trained on "
            f"(weights {hub.weights_hash(lm.path)}, not {first.manifest.base_model_hash})"
        )
    retriever = session.retriever
    if session.settings.shots > 0:  # the examples are the few-shot pool, never their own shot
        retriever = ExcludingRetriever(ExampleRetriever(pairs))
    prompts = PromptBuilder(session.schema, session.linker, retriever, lm.tokenizer, session.settings)
    max_length = getattr(lm.model.config, "max_position_embeddings", None)
    examples, _counts = build_examples(prompts, pairs, (), 0, max_length)
    if not examples:
        raise InputError("no usable examples (gold SQL must start with SELECT and fit the model)")
    model = load_adapters(lm.model, [Path(source.manifest.path) for source in sources])
    adapters = [f"e{i}" for i in range(len(sources))]
    layers = first.adapter_config.get("layers_to_transform")
    first_adapted = min(layers) if isinstance(layers, list) and layers else None
    loss = ExampleLoss(model, examples, lm.tokenizer.pad_token_id, first_adapted, batch_size)
    return Composition(session, model, sources, adapters, examples, loss)


def load_adapters(base: Any, folders: list[Path]) -> Any:
    """The base model with the experts in ``folders`` as adapters ``e0``, ``e1``, ... (eval mode)."""
    from peft import PeftModel

    with warnings.catch_warnings():  # peft asks transformers 5 a deprecated question; not ours to answer
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        model = PeftModel.from_pretrained(base, str(folders[0]), adapter_name="e0")
        for i, folder in enumerate(folders[1:], 1):
            model.load_adapter(str(folder), adapter_name=f"e{i}")
    model.eval()
    return model


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
    manager: Any = None,
) -> Path:
    """Compose the experts ``names`` into a new expert ``name`` for the database at ``db_path``.

    The new expert is a standard peft adapter folder with a finsql manifest recording the experts, the
    combiner, the weights and (for a learning combiner) the loss of every search step; it carries the schema
    fingerprint of ``db_path``, so asking that database routes to it.
    """
    started = time.perf_counter()
    hub.validate_name(name)
    chosen = get_combiner(combiner, manager)
    if budget < 1:
        raise UsageError(f"--budget must be at least 1, not {budget}")
    if name in names:
        raise UsageError(f"the new expert {name!r} cannot be one of the experts it is composed of")
    if hub.expert_dir(name).exists() and not force:
        raise UsageError(f"expert {name!r} already exists; use --force to replace it")
    with open_composition(names, pairs, db_path, batch_size, threads) as comp:
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
            "experts": [m.name for m in comp.manifests],
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
        manifest = ExpertManifest(
            schema_fingerprint=comp.session.schema.fingerprint(),
            database=str(comp.session.db_path),
            base_model=lm.name,
            base_model_path=lm.path,
            base_model_hash=first.base_model_hash,
            method=first.method,
            params=dict(first.params),
            layers=first.layers,
            layers_applied=first.layers_applied,
            shots=comp.session.settings.shots,
            prompt_style=comp.session.settings.style,
            example_tokens=comp.session.settings.example_tokens,
            composition=jsonable(composition),
            data={"hash": data_hash(list(pairs)), "pairs": len(pairs), "examples": len(comp.examples)},
            metrics=jsonable(
                {"examples_loss": final_loss, "seconds": round(time.perf_counter() - started, 2)}
            ),
        )

        def write_state(folder: Path) -> None:
            comp.model.save_pretrained(str(folder), selected_adapters=[FINAL_ADAPTER])
            if comp.session.settings.shots > 0:  # the examples are the new expert's few-shot pool
                write_pairs(folder / hub.EXAMPLES_FILE, pairs, with_db=False)

        return hub.save_expert(name, write_state, manifest, force=force)
