"""Pairs users teach finsql (``finsql examples``): kept per schema fingerprint in the cache, checked first.

A taught pair is a question with the SQL that answers it on this schema. ``ask`` retrieves from them at once
(they join the example pool) and answers a question it was taught word for word with the taught SQL;
``train`` trains on them as pairs a person wrote. Adding a question that is there already replaces its SQL:
that is how a wrong answer is corrected. Every change is one locked read-modify-write with an atomic write.
"""

from __future__ import annotations

import json
import re

import duckdb

from finsql.ask.pairs import Pair, read_pairs
from finsql.ask.sqlcheck import check_sql
from finsql.db.sandbox import run_query
from finsql.db.schema import Schema
from finsql.errors import InputError
from finsql.inputs import SQL_CHARS, clean_question, clean_text
from finsql.locking import file_lock
from finsql.paths import cache_dir
from finsql.storage import write_text_atomic

TAUGHT = "taught"
"""The category of a taught pair."""


def question_key(question: str) -> str:
    """The question as matched against taught ones: case, spacing and closing punctuation ignored."""
    return re.sub(r"\s+", " ", question).strip().rstrip("?.! ").casefold()


def check_taught(question: str, sql: str, schema: Schema, con: duckdb.DuckDBPyConnection) -> Pair:
    """The pair to keep: the question cleaned, the SQL validated against ``schema`` and run in the
    sandbox; one-line errors (``InputError``, ``SQLRefused``, ``QueryFailed``) otherwise."""
    question = clean_question(question)
    checked = check_sql(clean_text(sql, "SQL", SQL_CHARS), schema)
    run_query(con, checked.sql, timeout_s=10.0, max_rows=1)
    return Pair(question, checked.sql, (TAUGHT,))


class TaughtStore:
    """The taught pairs of one schema, in ``<cache>/taught/<fingerprint>.jsonl``."""

    def __init__(self, fingerprint: str) -> None:
        self.path = cache_dir() / "taught" / f"{fingerprint}.jsonl"
        self._lock = self.path.with_suffix(".lock")

    def pairs(self) -> list[Pair]:
        """Every taught pair, oldest first."""
        return read_pairs(self.path) if self.path.is_file() else []

    def answer_for(self, question: str) -> Pair | None:
        """The taught pair whose question is ``question`` (``question_key``), if any."""
        key = question_key(question)
        return next((p for p in reversed(self.pairs()) if question_key(p.question) == key), None)

    def add(self, pairs: list[Pair]) -> int:
        """Keep ``pairs`` (checked already), replacing the SQL of questions taught before; how many of them
        replaced one."""
        with file_lock(self._lock):
            kept = {question_key(p.question): p for p in self.pairs()}
            replaced = sum(question_key(p.question) in kept for p in pairs)
            for pair in pairs:
                kept.pop(question_key(pair.question), None)
                kept[question_key(pair.question)] = pair
            self._write(list(kept.values()))
        return replaced

    def remove(self, key: str) -> Pair:
        """Forget the pair numbered ``key`` (1-based, as ``finsql examples list`` shows) or whose question
        is ``key``; InputError when there is none."""
        with file_lock(self._lock):
            pairs = self.pairs()
            if key.isdigit() and 1 <= int(key) <= len(pairs):
                index = int(key) - 1
            else:
                index = next(
                    (i for i, p in enumerate(pairs) if question_key(p.question) == question_key(key)), -1
                )
            if index < 0:
                raise InputError(
                    f"no taught example {key!r} ({len(pairs)} taught; see `finsql examples list`)"
                )
            gone = pairs.pop(index)
            self._write(pairs)
        return gone

    def _write(self, pairs: list[Pair]) -> None:
        lines = [
            json.dumps(
                {"question": p.question, "sql": p.sql, "category": list(p.category)}, ensure_ascii=False
            )
            for p in pairs
        ]
        write_text_atomic(self.path, "".join(line + "\n" for line in lines))
