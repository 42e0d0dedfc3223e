"""An expert's manifest (``finsql-expert.json``): what it was trained for, how, and how well.

One typed object written by training and composing and read by routing, loading and the CLI, so a field's
name and meaning live in one place. The nested records (``data``, ``metrics``, ``hyperparameters``,
``composition``) vary with how the expert was made and stay plain JSON objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

MANIFEST_FORMAT = 1
BUNDLED = "bundled"  # ``source`` of an expert copied from ``data/experts``


@dataclass
class ExpertManifest:
    """The record of one expert. ``name`` and ``path`` are filled in by the hub when it is read."""

    method: str
    """The PEFT method plugin that saved and loads the adapter."""
    base_model: str | None = None
    """The base model's name (``--model`` to use it)."""
    base_model_hash: str | None = None
    """Hash of the base model's weights: an expert only loads onto the weights it was trained on."""
    base_model_path: str | None = None
    schema_fingerprint: str | None = None
    """The schema it answers for (the first database's for a joint expert)."""
    schema_fingerprints: dict[str, str] = field(default_factory=dict)
    """A joint expert's schema per database name."""
    database: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """The method's settings."""
    layers: int | None = None
    layers_applied: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    augment: list[str] = field(default_factory=list)
    shots: int = 0
    """Retrieved examples in its prompt: it is asked with as many as it was trained with."""
    prompt_style: str = "full"
    example_tokens: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    """The training data: hash, pair and example counts."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Losses, validation EX, timings, sizes."""
    composition: dict[str, Any] | None = None
    """For a composed expert: the experts, the combiner and the weights."""
    source: str | None = None
    """``bundled`` for a shipped expert (routed to after those trained here)."""
    training_command: str | None = None
    created_at: str = ""
    format: int = MANIFEST_FORMAT
    name: str = ""
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields this version does not know (written by a newer finsql), kept as they were."""

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ExpertManifest:
        """The manifest from its JSON object; unknown fields go to ``extra``."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in payload.items() if k in known}
        values.setdefault("method", "")
        return cls(**values, extra={k: v for k, v in payload.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk (without the machine-local ``path``; ``None`` fields left out)."""
        payload = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        payload.pop("path")
        payload |= payload.pop("extra")
        return {k: v for k, v in payload.items() if v is not None}

    def fingerprints(self) -> set[str]:
        """The schema fingerprints it answers for: one, or every database of a joint expert."""
        found = {str(f) for f in self.schema_fingerprints.values()}
        if self.schema_fingerprint:
            found.add(str(self.schema_fingerprint))
        return found

    @property
    def bundled(self) -> bool:
        """Whether it was shipped with finsql rather than trained here."""
        return self.source == BUNDLED
