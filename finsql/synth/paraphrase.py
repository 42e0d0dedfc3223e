"""The paraphraser plugins' contract: other wordings of a synthesized question (a cheap import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Paraphraser:
    """Other wordings of a question: ``paraphrase(question, sql, seed)`` returns new questions (or none)
    asking for the same SQL. Registered with the ``register_paraphrasers`` hook."""

    name: str
    paraphrase: Callable[[str, str, int], list[str]]
    description: str = ""
