"""FROM repairs: a select list that never reached its FROM reads the one table that has all its columns.

A small model sometimes repeats its select list until the token limit (``SELECT report_month, cpi_yoy,
cpi_yoy, cpi_yoy, ...``), so the statement has no FROM and no prefix of it validates. The columns it named
before the first repeat are the ones it meant; when exactly one table has every one of them, the statement
reads that table. A list with an expression, or columns no single table has, is left as it is.
"""

from __future__ import annotations

import re

from finsql.db.schema import Schema
from finsql.hookspecs import hookimpl

_LEAD = re.compile(r"^\s*select\s+(distinct\s+)?", re.I)
_COLUMN = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)$")
_FROM = re.compile(r"\bfrom\b", re.I)


def selected_columns(sql: str) -> list[str] | None:
    """The distinct plain columns a FROM-less ``SELECT a, b, b, ...`` names before it first repeats one
    (qualifiers dropped: with no FROM they name nothing), or None when ``sql`` has a FROM or its list starts
    with anything other than a column."""
    lead = _LEAD.match(sql)
    if lead is None or _FROM.search(sql):
        return None
    columns: list[str] = []
    for item in sql[lead.end() :].split(","):
        match = _COLUMN.match(item.strip())
        if match is None or match.group(1).lower() in {c.lower() for c in columns}:
            break
        columns.append(match.group(1))
    return columns or None


def add_from(sql: str, schema: Schema) -> str:
    """``sql``'s select list up to its first repeat, read from the one table that has all its columns;
    ``sql`` unchanged when it has a FROM, or no single table has those columns."""
    columns = selected_columns(sql)
    if columns is None:
        return sql
    owners = schema.tables_with(columns)
    if len(owners) != 1:
        return sql
    from sqlglot import exp

    (table,) = owners
    names = [exp.column(table.column(c).name) for c in columns]
    query = exp.select(*names).from_(exp.table_(table.name))
    if _LEAD.match(sql).group(1):
        query = query.distinct()
    return query.sql(dialect="duckdb")


@hookimpl
def register_sql_repairers(register):
    register(add_from, name="select-list-from")
