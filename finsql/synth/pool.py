"""Synthesized example pools: the pairs ``ask`` retrieves from on a database few people wrote pairs for.

The base model answers from its few-shot examples far more than from the schema (BULL fund: 36/200 with
three retrieved training pairs, 0/200 without). A user's own database has no pairs, so ``ask`` draws them
from the database itself (``Synthesizer``: typed templates, each query run and kept only when its result
answers a question) and retrieves from them beside any pairs a person wrote or taught. A pool is drawn
once per database file and kept in ``<cache>/synth/`` with its question embeddings; its name carries the
schema, the file's size and time, and a digest of the synthesizer's own code, so new data or a finsql that
draws differently draws it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import numpy as np

from finsql.ask.linking import embed, embedding_model_dir
from finsql.ask.pairs import ExampleRetriever, Pair, read_pairs
from finsql.console import status
from finsql.db.schema import Schema
from finsql.experts.pairs_io import write_pairs
from finsql.locking import file_lock
from finsql.paths import cache_dir
from finsql.storage import write_bytes_atomic
from finsql.synth.synthesizer import Synthesizer

POOL_PAIRS = 2000
"""Pairs synthesized for a pool: about 15 s once per schema on a 2-core CPU."""
FEW_PAIRS = 200
"""Fewer pairs written by people than this, and synthesized ones are drawn: retrieved by ``ask`` (the demo's
371 written pairs answered its everyday questions as well alone as with 2000 synthesized beside them, 14/55
both) and mixed into ``train``."""
POOL_SEED = 0


@dataclass(frozen=True)
class SynthesizedPool:
    """A schema's synthesized pairs and the embeddings of their questions (row ``i`` is pair ``i``)."""

    pairs: list[Pair]
    vectors: np.ndarray


@cache
def synthesizer_digest() -> str:
    """First 12 hex digits of the sha256 of the synthesizer's modules: what a cached pool was drawn by."""
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("conditions.py", "phrasing.py", "profile.py", "synthesizer.py", "templates.py"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:12]


def pool_path(schema: Schema, db_path: str | os.PathLike, n: int = POOL_PAIRS, seed: int = POOL_SEED) -> Path:
    """Where the pairs of the pool of the database at ``db_path`` are kept (they may not be drawn yet): named
    by its schema, its file's size and modification time (the pairs hold its values, so new data draws
    them again), the request and the synthesizer's code."""
    stat = Path(db_path).stat()
    data = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:8]
    name = f"{schema.fingerprint()}-{data}-{n}-s{seed}-{synthesizer_digest()}.jsonl"
    return cache_dir() / "synth" / name


def _vectors_path(path: Path, pairs: list[Pair]) -> Path:
    """Where the embeddings of ``pairs`` (the pool at ``path``) are kept: per embedding model and pairs."""
    model = hashlib.sha256(embedding_model_dir().encode()).hexdigest()[:8]
    questions = hashlib.sha256("\n".join(p.question for p in pairs).encode()).hexdigest()[:8]
    return path.with_name(f"{path.stem}-{model}-{questions}.npy")


def _vectors(path: Path, pairs: list[Pair]) -> np.ndarray:
    """The question embeddings of ``pairs``: read, else computed and kept (when the cache can be written)."""
    where = _vectors_path(path, pairs)
    if where.is_file():
        return np.load(where)
    vectors = embed([p.question for p in pairs])
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    with contextlib.suppress(OSError):  # a read-only cache: computed again next time
        write_bytes_atomic(where, buffer.getvalue())
    return vectors


def synthesized_pool(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    db_path: str | os.PathLike,
    n: int = POOL_PAIRS,
    seed: int = POOL_SEED,
) -> SynthesizedPool:
    """The pool of the database at ``db_path`` (open as ``con``): read from the cache, else synthesized and
    kept (atomic writes under a lock, so two processes draw it once; an empty pool is not kept). A cache that
    cannot be written still gets its pool, drawn for this process alone."""
    path = pool_path(schema, db_path, n, seed)
    if path.is_file():  # written atomically: no lock needed to read it
        pairs = read_pairs(path)
        return SynthesizedPool(pairs, _vectors(path, pairs))
    try:
        waiting = "waiting for another finsql process to synthesize examples"
        with file_lock(path.with_suffix(".lock"), waiting):
            if path.is_file():
                pairs = read_pairs(path)
            else:
                pairs = _draw(con, schema, n, seed)
                if pairs:
                    write_pairs(path, pairs, with_db=False)
    except OSError:  # a read-only or full cache
        pairs = _draw(con, schema, n, seed)
    return SynthesizedPool(pairs, _vectors(path, pairs))


def _draw(con: duckdb.DuckDBPyConnection, schema: Schema, n: int, seed: int) -> list[Pair]:
    status(f"synthesizing {n} example pairs from this database (once per schema and data)")
    pairs, _ = Synthesizer(con, schema).run(n, seed)
    return pairs


class PooledRetriever:
    """``ExampleRetriever`` over written pairs and a synthesized pool that is drawn on the first retrieval
    (a taught answer, or a session that never asks, never pays for it)."""

    def __init__(self, written: list[Pair], draw: Callable[[], SynthesizedPool]) -> None:
        self.written, self._draw = written, draw
        self._built: ExampleRetriever | None = None

    def _retriever(self) -> ExampleRetriever:
        if self._built is None:
            pool = self._draw()
            self._built = ExampleRetriever(self.written, pool.pairs, pool.vectors)
        return self._built

    @property
    def pairs(self) -> list[Pair]:
        """The written pairs, then the synthesized ones (drawing them if need be)."""
        return self._retriever().pairs

    def nearest(self, question: str, k: int) -> list[Pair]:
        """``ExampleRetriever.nearest`` over both."""
        return self._retriever().nearest(question, k)
