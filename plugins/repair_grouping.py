"""Grouping repairs: an aggregate query that also selects plain columns, with no GROUP BY, groups by them.

``SELECT fund_type, count(*) FROM fund`` is how a small model writes "how many funds of each type" when it
stops before the ``GROUP BY``; DuckDB refuses it at execution (the column must appear in the GROUP BY clause).
Grouping by the plain columns of the select list is the reading the columns ask for.
"""

from __future__ import annotations

from finsql.ask.sqlcheck import aggregates, parse_query
from finsql.db.schema import Schema
from finsql.hookspecs import hookimpl


def add_group_by(sql: str, schema: Schema) -> str:
    """``sql`` grouped by the plain expressions of its select list when it aggregates, names such
    expressions and has no GROUP BY; otherwise unchanged."""
    from sqlglot import exp

    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or tree.args.get("group"):
        return sql
    items = [e.this if isinstance(e, exp.Alias) else e for e in tree.expressions]
    plain = [e for e in items if not aggregates(e) and e.find(exp.Column) and not e.find(exp.Subquery)]
    if not plain or not any(aggregates(e) for e in items):
        return sql
    return tree.group_by(*[e.copy() for e in plain]).sql(dialect="duckdb")


@hookimpl
def register_sql_repairers(register):
    register(add_group_by, name="group-by-columns")
