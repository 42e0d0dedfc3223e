"""Which expert answers on a database: the one asked for by name, else the newest trained here for its schema
and base model that validated at least as well as the base model, else such a shipped one.

Training measures the expert and the base model on the same held-out pairs (``finsql.experts.validation``);
an expert worse than the base model, or never measured against it, is skipped with the reason said, and its
training pairs stay the pool examples are retrieved from (the base model was measured that way). A shipped
expert (``data/experts``) carries the figures of its own training and passes the same gate; it comes after
the experts trained here (the user's own), and one the user removed (``finsql experts rm``) stays unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from finsql.ask.pairs import Pair, read_pairs
from finsql.ask.prompting import PromptSettings
from finsql.db.schema import Schema
from finsql.lm import hub
from finsql.lm.manifest import ExpertManifest
from finsql.lm.models import resolve_model_path


@dataclass(frozen=True)
class Skipped:
    """An expert routing did not use, and why."""

    expert: str
    reason: str


@dataclass(frozen=True)
class Route:
    """Who answers: ``expert`` (None: the base model), the base model it needs, the prompt settings it was
    trained with (None: the session's), the expert whose training pairs are the example pool, and the
    experts skipped on the way."""

    expert: str | None
    model_name: str | None
    settings: PromptSettings | None = None
    pool: str | None = None
    skipped: tuple[Skipped, ...] = ()


def gate_reason(manifest: ExpertManifest) -> str | None:
    """Why ``manifest``'s expert may not answer by itself (None: it may): it must have validated at least as
    well as the base model on the same held-out pairs."""
    metrics = manifest.metrics
    expert_ex, base_ex = metrics.get("val_ex"), metrics.get("base_val_ex")
    if expert_ex is None or base_ex is None:
        return "not validated against the base model"
    if expert_ex < base_ex:
        n = metrics.get("val_ex_n", 0)
        return f"validation EX {expert_ex:.0%} is below the base model's {base_ex:.0%} on {n} held-out pairs"
    return None


def _settings(manifest: ExpertManifest) -> PromptSettings:
    return PromptSettings(manifest.prompt_style, int(manifest.shots), manifest.example_tokens)


def route_expert(
    schema: Schema, model_name: str | None, expert: str | None | Literal[False], force: bool = False
) -> Route:
    """The route for ``expert``: None picks the newest expert trained here for this schema and base model
    that passes the gate (``gate_reason``), else a shipped one that does; a name uses that expert (checked
    against the schema and model unless ``force``); False the base model alone."""
    if expert is False:
        return Route(None, model_name)
    if expert is not None:
        hub.install_bundled(name=expert)
        manifest = hub.load_manifest(expert)
        if model_name is None and manifest.base_model:
            model_name = manifest.base_model
        base_hash = hub.weights_hash(resolve_model_path(model_name))
        hub.check_expert(manifest, schema.fingerprint(), base_hash, force=force)
        return Route(expert, model_name, _settings(manifest), expert)
    fingerprint = schema.fingerprint()
    trained_here = [m for m in hub.list_experts() if not m.bundled]
    if not any(fingerprint in m.fingerprints() for m in [*trained_here, *hub.shipped()]):
        return Route(None, model_name)  # no weights to hash: the common case stays cheap
    skipped, pool = [], None
    base_hash = hub.weights_hash(resolve_model_path(model_name))
    for manifest in [*hub.experts_for(fingerprint, base_hash), *hub.shipped_for(fingerprint, base_hash)]:
        reason = gate_reason(manifest)
        if reason is None:
            if manifest.bundled:
                hub.install_bundled(name=manifest.name)
            return Route(manifest.name, model_name, _settings(manifest), manifest.name, tuple(skipped))
        skipped.append(Skipped(manifest.name, reason))
        if pool is None and manifest.metrics.get("base_val_ex") is not None:
            pool = manifest.name  # the base model was measured with this expert's pool
    return Route(None, model_name, None, pool, tuple(skipped))


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
