"""Which expert answers on a database: the one asked for by name, else the newest trained here for its schema.

Shipped experts (``data/experts``) are used only when asked for by name: the shipped demo expert answered
the held-out demo questions no better than the base model and got the README's first question wrong, so an
expert nobody measured on this machine is never picked by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from finsql.ask.pairs import Pair, read_pairs
from finsql.ask.prompting import PromptSettings
from finsql.db.schema import Schema
from finsql.lm import hub
from finsql.lm.models import resolve_model_path


@dataclass(frozen=True)
class Route:
    """The expert chosen, the base model it needs, and the prompt settings it was trained with."""

    expert: str
    model_name: str | None
    settings: PromptSettings


def route_expert(
    schema: Schema, model_name: str | None, expert: str | None | Literal[False], force: bool = False
) -> Route | None:
    """The route for ``expert``: None picks an expert trained for this schema and base model (if any), a
    name uses that expert (checked against the schema and model unless ``force``), False none."""
    if expert is False:
        return None
    fingerprint = schema.fingerprint()
    if expert is None:
        if not any(fingerprint in m.fingerprints() for m in hub.list_experts()):
            return None  # no weights to hash: the common case stays cheap
        name = hub.find_expert_for(fingerprint, hub.weights_hash(resolve_model_path(model_name)))
        if name is None:
            return None
        manifest = hub.load_manifest(name)
    else:
        hub.install_bundled(name=expert)
        manifest = hub.load_manifest(expert)
        name = expert
        if model_name is None and manifest.base_model:
            model_name = manifest.base_model
        base_hash = hub.weights_hash(resolve_model_path(model_name))
        hub.check_expert(manifest, fingerprint, base_hash, force=force)
    settings = PromptSettings(manifest.prompt_style, int(manifest.shots), manifest.example_tokens)
    return Route(name, model_name, settings)


def expert_examples(name: str, fingerprint: str) -> list[Pair] | None:
    """The few-shot examples expert ``name`` was trained with, for the schema ``fingerprint`` (a joint
    expert keeps only that database's); None when it keeps none."""
    pool = hub.expert_dir(name) / hub.EXAMPLES_FILE
    if not pool.is_file():
        return None
    pairs = read_pairs(pool)
    joint = hub.load_manifest(name).schema_fingerprints
    if joint:
        pairs = [p for p in pairs if joint.get(p.db) == fingerprint]
    return pairs
