"""Grouping repairs: plain columns beside an aggregate, or a GROUP BY that leaves a selected column out.

``SELECT fund_type, count(*) FROM fund`` is how a small model writes "how many funds of each type" when it
stops before the ``GROUP BY``; DuckDB refuses it at execution (the column must appear in the GROUP BY clause).
Grouping by the plain columns of the select list is the reading the columns ask for (``group-by-columns``).

A GROUP BY that leaves out a column the query shows or orders by is refused the same way. With no aggregate
anywhere, the grouping was a stray (``SELECT fund_name, net_assets_mn ... GROUP BY fund_name ORDER BY
net_assets_mn DESC``: "the ten largest funds") and goes; an ungrouped aggregate ordered by a plain column
returns one row, so the ORDER BY goes (``ungrouped-columns``). An aggregate grouped by one column while it
shows another (``SELECT manager_name, count(*) ... GROUP BY education``) is left to the retry: grouping by
what it shows turned a right answer of the retry into a wrong one.
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


def _ungrouped(node, grouped: set[str], names: set[str]) -> list:
    """Columns of ``node`` outside any aggregate, window or subquery that no GROUP BY expression covers
    (``grouped``: their SQL) and that are not output names (``names``)."""
    from sqlglot import exp

    if node.sql(dialect="duckdb") in grouped:
        return []
    found = []
    for column in node.find_all(exp.Column):
        if column.find_ancestor(exp.AggFunc, exp.Window, exp.Subquery):
            continue
        if not column.table and column.name.lower() in names:
            continue
        covered = column
        while covered is not node and covered.sql(dialect="duckdb") not in grouped:
            covered = covered.parent
        if covered is node:
            found.append(column)
    return found


def regroup(sql: str, schema: Schema) -> str:
    """``sql`` with the grouping DuckDB refuses mended (see the module docstring); unchanged when every
    column it shows, orders by or filters groups with is grouped or aggregated."""
    from sqlglot import exp

    tree = parse_query(sql)
    if not isinstance(tree, exp.Select):
        return sql
    group, having, order = tree.args.get("group"), tree.args.get("having"), tree.args.get("order")
    grouped = {e.sql(dialect="duckdb") for e in group.expressions} if group else set()
    items = [e.this if isinstance(e, exp.Alias) else e for e in tree.expressions]
    names = {e.alias.lower() for e in tree.expressions if isinstance(e, exp.Alias)}
    if any(isinstance(e, exp.Star) for e in items) or (group and group.find(exp.Literal)):
        return sql  # a star, or GROUP BY 1: left to DuckDB
    ordered = [o.this for o in order.expressions] if order else []
    aggregated = any(aggregates(e) for e in [*items, *ordered, *([having] if having else [])])
    if group is None and not aggregated:
        return sql
    shown = [c for e in items for c in _ungrouped(e, grouped, names)]
    late = [c for e in [*ordered, *([having.this] if having else [])] for c in _ungrouped(e, grouped, names)]
    if not shown and not late:
        return sql
    if not aggregated:
        tree.set("group", None)
    elif group is None:
        if shown:
            return sql  # add_group_by's case
        tree.set("order", None)
    else:
        return sql  # grouped by one thing, showing another: which one the question meant is no guess
    return tree.sql(dialect="duckdb")


@hookimpl
def register_sql_repairers(register):
    register(add_group_by, name="group-by-columns")
    register(regroup, name="ungrouped-columns")
