"""Question/SQL pairs: reading JSONL files and retrieving the pairs most similar to a question."""

from __future__ import annotations

import json
import re
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
    """Path of the packaged demo pairs: ``train``, ``eval`` or ``everyday`` (eval and everyday are held out:
    never for training or retrieval)."""
    import finsql.data

    return Path(finsql.data.__file__).parent / f"{split}.jsonl"


STRUCTURE_WORDS = frozenset(
    """how many much what which who whom whose when where why is are was were be been has have had do does did
    there the a an of each per every by for in on at from to into with without before after between since
    until during than and or not no any all only top highest lowest most least largest smallest biggest
    best worst average mean median total sum count number max maximum min minimum first last latest earliest
    oldest newest more less fewer over under above below greater list show give name find tell distinct
    different unique ratio percent percentage share rate change growth difference year years month months
    quarter quarters day days date dates ago""".split()
)
"""Words that carry what a question asks (its shape), not what it is about: the rest are masked."""
STRUCTURE_WEIGHT = 1.0
"""Weight of the shape similarity (Jaccard of skeleton bigrams, in [0, 1]) next to the embedding cosine."""
SYNTHESIZED_PENALTY = 0.1
"""Subtracted from a synthesized pair's similarity (cosine + shape, in [-1, 2]): a pair a person wrote for
this schema wins when the two are about as close."""


def question_skeleton(question: str) -> str:
    """The question's shape: structure words kept, numbers as ``N``, every run of other words one ``x``
    (``How many bond funds are there?`` -> ``how many x are there``)."""
    out: list[str] = []
    for word in re.findall(r"[a-z]+|\d+(?:[.,]\d+)*", question.lower()):
        token = "N" if word[0].isdigit() else word if word in STRUCTURE_WORDS else "x"
        if not (token == "x" and out and out[-1] == "x"):
            out.append(token)
    return " ".join(out)


def _bigrams(skeleton: str) -> frozenset[tuple[str, str]]:
    words = ["<s>", *skeleton.split(), "</s>"]
    return frozenset(zip(words, words[1:], strict=False))


def shape_similarity(a: frozenset, b: frozenset) -> float:
    """Jaccard similarity of two questions' skeleton bigrams (``_bigrams``): 1 for the same shape."""
    return len(a & b) / len(a | b) if a or b else 0.0


class ExampleRetriever:
    """Finds the training pairs closest to a new question: embedding cosine of the questions plus the
    similarity of their shapes (``question_skeleton``, after DAIL-SQL's masked-question similarity), so a
    plain count question is shown plain counts, not the topical group-bys a bare embedding prefers.

    ``synthesized``: pairs drawn from the database itself (``finsql.synth.pool``), retrieved beside the
    pairs a person wrote, which win a near tie (``SYNTHESIZED_PENALTY``); ``synthesized_vectors``: their
    question embeddings when already known (a cached pool)."""

    def __init__(
        self,
        pairs: list[Pair],
        synthesized: list[Pair] | None = None,
        synthesized_vectors: np.ndarray | None = None,
    ) -> None:
        synthesized = synthesized or []
        self.pairs = pairs + synthesized
        if synthesized_vectors is None:
            synthesized_vectors = embed([p.question for p in synthesized])
        self._emb = np.concatenate([embed([p.question for p in pairs]), synthesized_vectors])
        self._bias = np.array([0.0] * len(pairs) + [-SYNTHESIZED_PENALTY] * len(synthesized))
        self._shapes = [_bigrams(question_skeleton(p.question)) for p in self.pairs]

    def nearest(self, question: str, k: int) -> list[Pair]:
        """The ``k`` most similar pairs, least similar first (so the closest sits next to the question)."""
        if k <= 0 or not self.pairs:
            return []
        shape = _bigrams(question_skeleton(question))
        sims = self._emb @ embed([question])[0] + self._bias
        sims = sims + STRUCTURE_WEIGHT * np.array([shape_similarity(shape, s) for s in self._shapes])
        top = np.argsort(-sims, kind="stable")[:k]
        return [self.pairs[i] for i in reversed(top)]
