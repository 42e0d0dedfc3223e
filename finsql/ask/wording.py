"""The words the steps after the vote read: a question's words, a name's words, number words, and what
kind of value a column holds. One place, so that each step reads them the same way."""

from __future__ import annotations

import re

from finsql.ask.grounding import stem
from finsql.ask.linking import name_words
from finsql.db.schema import Column

NUMBER_WORDS = "one two three four five six seven eight nine ten".split()
"""Numbers a question may spell ("the three largest", "at least two")."""
UNITS = frozenset("mn bn pct cny usd num".split())
"""Name words that give a unit, not what the column is (``total_shares_mn``): a question leaves them out."""
_WHOLE = ("TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER")
_TEXT = ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR")
_NUMBER = (*_WHOLE, "UBIGINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")


def number_value(text: str) -> int:
    """A number as digits or a word ("3", "three")."""
    return int(text) if text.isdigit() else NUMBER_WORDS.index(text.lower()) + 1


def spoken(text: str) -> list[str]:
    """The stemmed words of a question or phrase, in order."""
    return [stem(w) for w in re.findall(r"[a-z0-9]+", text.lower())]


def spelt(name: str) -> list[str]:
    """The stemmed words of a table or column name a question would say, units left out: ``total_shares_mn``
    is total, share; ``ManagementFee`` management, fee."""
    return [stem(w) for w in name_words(name) if w not in UNITS]


def is_dated(column: Column) -> bool:
    """A DATE or TIMESTAMP column."""
    return _base(column.type) in ("DATE", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP_S", "TIMESTAMP_MS")


def is_text(column: Column) -> bool:
    """A column of text (VARCHAR and its aliases)."""
    return _base(column.type) in _TEXT


def is_number(column: Column) -> bool:
    """A column of numbers (whole or not)."""
    return _base(column.type) in _NUMBER


def names_years(name: str) -> bool:
    """A name whose last word is "year" (``fiscal_year``, ``FiscalYear``; not ``years_to_maturity``)."""
    return name_words(name)[-1:] == ["year"]


def is_year_column(column: Column) -> bool:
    """A whole-number column named for years: a table's period key, as ``fiscal_year``."""
    return _base(column.type) in _WHOLE and names_years(column.name)


def _base(sql_type: str) -> str:
    """A type without its precision or time zone words: ``DECIMAL(18,9)`` is DECIMAL."""
    return re.split(r"[\s(]", sql_type.strip().upper(), maxsplit=1)[0]
