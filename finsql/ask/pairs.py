"""Question/SQL pairs: reading JSONL files and retrieving the pairs most similar to a question."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finsql.ask.linking import embed
from finsql.errors import InputError


@dataclass(frozen=True)
class Pair:
    """One question with its gold SQL (and optional category labels)."""

    question: str
    sql: str
    category: tuple[str, ...] = field(default=())
    db: str = ""


def read_pairs(path: str | Path) -> list[Pair]:
    """Read a JSONL file of ``{"question", "sql"[, "category", "db"]}`` objects."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pair file not found: {path}")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            pairs.append(
                Pair(item["question"], item["sql"], tuple(item.get("category") or ()), item.get("db", ""))
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: not a question/sql JSON object ({exc})") from exc
    return pairs


def demo_pairs(split: str) -> Path:
    """Path of the packaged demo pairs: ``train`` or ``eval`` (eval is held out: never for training)."""
    import finsql.data

    return Path(finsql.data.__file__).parent / f"{split}.jsonl"


class ExampleRetriever:
    """Finds the training pairs whose questions are closest to a new question (embedding cosine)."""

    def __init__(self, pairs: list[Pair]) -> None:
        self.pairs = pairs
        self._emb = embed([p.question for p in pairs])

    def nearest(self, question: str, k: int) -> list[Pair]:
        """The ``k`` most similar pairs, least similar first (so the closest sits next to the question)."""
        if k <= 0 or not self.pairs:
            return []
        sims = self._emb @ embed([question])[0]
        top = np.argsort(-sims)[:k]
        return [self.pairs[i] for i in reversed(top)]
