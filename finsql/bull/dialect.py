"""BULL's SQLite gold SQL as DuckDB SQL: sqlglot's transpiler plus fixes for the SQLite idioms it misses.

sqlglot turns ``strftime(fmt, col)`` into ``STRFTIME(CAST(col AS TIMESTAMP), fmt)`` but leaves
``DATE('now', '-1 year')`` as is (DuckDB has no such function) and fails on ``date()``. SQLite also
coerces text silently where DuckDB refuses: ``strftime('%m', d) / 3.0``, ``strftime('%Y', d) > 2010``,
``timestamp_col LIKE '2020%'`` and ``timestamp_col > '2010'`` (text comparison of the stored text).
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from finsql.errors import first_line

_MODIFIER = re.compile(r"^\s*([+-]?\d+)\s+(year|month|day|hour|minute|second)s?\s*$", re.IGNORECASE)
_START_OF = re.compile(r"^\s*start of (year|month|day)\s*$", re.IGNORECASE)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


class TranspileError(Exception):
    """A gold query that cannot be expressed in DuckDB SQL (the message says why)."""


def _duck(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def _sqlite_date(args: list[exp.Expression]) -> exp.Expression:
    """``date(value, modifier...)`` as a DuckDB DATE expression."""
    if not args or (isinstance(args[0], exp.Literal) and args[0].name.lower() == "now"):
        text = "CURRENT_DATE"
    else:
        text = f"CAST({args[0].sql('duckdb')} AS DATE)"
    for modifier in args[1:]:
        if not (isinstance(modifier, exp.Literal) and modifier.is_string):
            raise TranspileError(f"unsupported date modifier {modifier.sql('sqlite')}")
        shift, start = _MODIFIER.match(modifier.name), _START_OF.match(modifier.name)
        if shift:
            amount = int(shift.group(1))
            sign = "-" if amount < 0 else "+"
            text = f"({text} {sign} INTERVAL {abs(amount)} {shift.group(2).upper()})"
        elif start:
            text = f"DATE_TRUNC('{start.group(1).lower()}', {text})"
        else:
            raise TranspileError(f"unsupported date modifier {modifier.name!r}")
    return _duck(f"CAST({text} AS DATE)")


def _fix_sqlite(node: exp.Expression) -> exp.Expression:
    """Rewrite the SQLite date functions sqlglot leaves unconverted."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "date":
        return _sqlite_date(list(node.expressions))
    if type(node) is exp.Date and not node.expressions:
        this = node.this
        return _sqlite_date([] if this is None else [this])
    return node


def _is_strftime(node: exp.Expression | None) -> bool:
    return isinstance(node, exp.TimeToStr)


def _is_timestamp_column(node: exp.Expression | None, timestamps: frozenset[str]) -> bool:
    return isinstance(node, exp.Column) and node.name.lower() in timestamps


def _as_text(node: exp.Expression) -> exp.Expression:
    return exp.cast(node.copy(), "VARCHAR")


def _fix_coercions(node: exp.Expression, timestamps: frozenset[str]) -> exp.Expression:
    """Make SQLite's implicit text/number coercions explicit where DuckDB would refuse them."""
    if isinstance(node, _ARITHMETIC):
        for key in ("this", "expression"):
            if _is_strftime(node.args.get(key)):
                node.set(key, exp.cast(node.args[key].copy(), "DOUBLE"))
    if isinstance(node, _COMPARISONS):
        left, right = node.this, node.expression
        for term, other, key in ((left, right, "expression"), (right, left, "this")):
            if _is_strftime(term) and isinstance(other, exp.Literal) and not other.is_string:
                node.set(key, exp.Literal.string(other.name))
            if (
                _is_timestamp_column(term, timestamps)
                and isinstance(other, exp.Literal)
                and other.is_string
                and not _DATE_TEXT.match(other.name)
            ):
                node.set("this" if key == "expression" else "expression", _as_text(term))
    if isinstance(node, (exp.Like, exp.ILike)) and _is_timestamp_column(node.this, timestamps):
        node.set("this", _as_text(node.this))
    return node


def to_duckdb_tree(sql: str, timestamps: frozenset[str] = frozenset()) -> exp.Expression:
    """One SQLite query as a tree that writes DuckDB SQL (``.sql("duckdb")``); ``timestamps``: lower-case
    names of the TIMESTAMP columns. Raises TranspileError."""
    try:
        parsed = sqlglot.parse(sql, read="sqlite")
    except (SqlglotError, RecursionError) as exc:
        raise TranspileError(f"sqlglot cannot parse the SQLite query: {first_line(exc)}") from None
    statements = [s for s in parsed if s is not None]
    if len(statements) != 1:
        raise TranspileError(f"expected one statement, found {len(statements)}")
    tree = statements[0].transform(_fix_sqlite, copy=False)
    return tree.transform(lambda n: _fix_coercions(n, timestamps), copy=False)


def to_duckdb(sql: str, timestamps: frozenset[str] = frozenset()) -> str:
    """The DuckDB SQL of one SQLite query (see ``to_duckdb_tree``)."""
    tree = to_duckdb_tree(sql, timestamps)
    try:
        return tree.sql("duckdb")
    except (SqlglotError, RecursionError, ValueError) as exc:
        raise TranspileError(f"sqlglot cannot write DuckDB SQL: {first_line(exc)}") from None
