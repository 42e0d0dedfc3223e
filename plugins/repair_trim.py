"""Trimming repairs: a statement that breaks after its first clauses is cut back to its longest prefix that
validates, at a top-level clause, conjunct or list boundary.

A small model often writes the right start (``SELECT count(*) FROM fund``) and then an extra clause it cannot
finish: a filter the question never asked for that runs on to the token limit, a name outside the query's
tables, a ``GROUP BY`` list that repeats itself. Decoding within the grammar keeps every prefix well formed,
so the text up to the last clean boundary is a statement of the model's own; only what broke is dropped.
"""

from __future__ import annotations

import re

from finsql.db.schema import Schema
from finsql.errors import FinsqlError
from finsql.hookspecs import hookimpl

_BOUNDARY = re.compile(
    r"\s+(?=(where|group\s+by|having|qualify|window|order\s+by|limit|offset|and|or|union|intersect|except)\b)"
    r"|\s*,",
    re.I,
)
MIN_PREFIX = len("SELECT x FROM t")
"""Shorter prefixes cannot be a statement that reads a table."""


def boundaries(sql: str) -> list[int]:
    """Offsets in ``sql`` where a top-level (outside parentheses and quotes) clause keyword, ``AND``/``OR``
    or list comma starts; the prefix before each is a candidate statement."""
    cuts, depth, quote = [], 0, ""
    for i, ch in enumerate(sql):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and (i == 0 or not sql[i - 1].isspace()) and _BOUNDARY.match(sql, i):
            cuts.append(i)
    return cuts


def trim_to_valid(sql: str, schema: Schema) -> str:
    """The longest prefix of ``sql`` ending at a boundary that the validator accepts; ``sql`` unchanged
    when it validates as it is or no prefix does."""
    from finsql.ask.sqlcheck import check_sql

    try:
        check_sql(sql, schema)
        return sql
    except FinsqlError:
        pass
    for cut in sorted(set(boundaries(sql)), reverse=True):
        prefix = sql[:cut].rstrip()
        if len(prefix) < MIN_PREFIX:
            break
        try:
            return check_sql(prefix, schema).sql
        except FinsqlError:
            continue
    return sql


@hookimpl
def register_sql_repairers(register):
    register(trim_to_valid, name="trim-clauses")
