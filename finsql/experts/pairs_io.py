"""Reading training pairs from the files people have: finsql JSONL, Spider and BULL JSON arrays."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finsql.ask.pairs import Pair
from finsql.errors import InputError
from finsql.storage import write_text_atomic

_SQL_KEYS = ("sql", "query", "sql_query", "SQL")
_DB_KEYS = ("db", "db_id", "db_name")


def _pair_from(item: Any, where: str) -> Pair:
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        raise InputError(f"{where}: expected an object with a 'question'")
    sql = next((item[k] for k in _SQL_KEYS if isinstance(item.get(k), str)), None)
    if sql is None:
        raise InputError(f"{where}: no SQL ('sql', 'query' or 'sql_query')")
    db = next((str(item[k]) for k in _DB_KEYS if item.get(k)), "")
    category = item.get("category") or ()
    return Pair(item["question"], sql, tuple(category) if isinstance(category, list) else (), db)


def read_pairs_any(path: str | os.PathLike, db: str | None = None) -> list[Pair]:
    """Question/SQL pairs from JSONL (``question`` + ``sql``) or a Spider/BULL-style JSON array.

    Array items need ``question`` and ``query`` or ``sql_query`` (or ``sql``); ``db`` keeps only the items
    whose ``db_id``/``db_name``/``db`` equals it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pair file not found: {path}")
    text = path.read_text(encoding="utf-8")
    pairs: list[Pair] = []
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from exc
        pairs = [_pair_from(item, f"{path}[{i}]") for i, item in enumerate(items)]
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{path}:{number}: not a JSON object ({exc})") from exc
            pairs.append(_pair_from(item, f"{path}:{number}"))
    if db is not None:
        known = sorted({p.db for p in pairs if p.db})
        pairs = [p for p in pairs if p.db == db]
        if not pairs:
            shown = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
            raise InputError(f"{path} holds no pairs of database {db!r} (databases: {shown or 'none named'})")
    return pairs


def write_pairs(path: str | os.PathLike, pairs: Sequence[Pair], with_db: bool = True) -> None:
    """Write ``pairs`` as finsql JSONL (``question``, ``sql``, ``category`` when there is one and, with
    ``with_db``, ``db``), atomically: an expert's few-shot pool, or ``finsql synth``'s output."""
    keys = ("question", "sql", "db") if with_db else ("question", "sql")
    rows = [
        {k: getattr(p, k) for k in keys} | ({"category": list(p.category)} if p.category else {})
        for p in pairs
    ]
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def data_hash(pairs: Sequence[Pair]) -> str:
    """First 16 hex digits of the sha256 of the pairs' questions and SQL, in order: what an expert was
    trained on, comparable across runs."""
    canon = json.dumps([[p.question, p.sql] for p in pairs], ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]
