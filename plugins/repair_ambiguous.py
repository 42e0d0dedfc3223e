"""Ambiguity repair: an unqualified column that several tables of its SELECT have is read from the first of
them, in the order the query names its tables.

A small model writes ``SELECT secuabbr, bondcode FROM detail AS a JOIN archives AS b ...`` where both tables
keep ``secuabbr``; the binder refuses it, and every sample of the retry tends to repeat it. The table the
query reads first is the one it is about (the others are joined to it), so the column is qualified by that
table's alias. Columns of a join's ON condition are left alone: qualifying both sides alike would compare a
column with itself.
"""

from __future__ import annotations

from finsql.ask.sqlcheck import parse_query
from finsql.db.schema import Schema
from finsql.hookspecs import hookimpl


def qualify_ambiguous(sql: str, schema: Schema) -> str:
    """``sql`` with each ambiguous unqualified column qualified by the first table of its own SELECT that
    has it; unchanged when no column is ambiguous (or the statement does not parse)."""
    from sqlglot import exp

    tree = parse_query(sql)
    if tree is None:
        return sql
    changed = False
    for select in tree.find_all(exp.Select):
        sources = [select.args.get("from_")] + list(select.args.get("joins") or [])
        tables = [(s.this.alias_or_name, schema.table(s.this.name)) for s in sources if s is not None]
        known = [(alias, table) for alias, table in tables if table is not None]
        if len(known) < 2:
            continue
        shown = {a.alias.lower() for a in select.expressions if isinstance(a, exp.Alias)}
        for column in select.find_all(exp.Column):
            if column.table or not column.name or column.name.lower() in shown:
                continue
            if column.find_ancestor(exp.Select) is not select or column.find_ancestor(exp.Join):
                continue
            owners = [alias for alias, table in known if table.column(column.name)]
            if len(owners) > 1:
                column.set("table", exp.to_identifier(owners[0]))
                changed = True
    return tree.sql(dialect="duckdb") if changed else sql


@hookimpl
def register_sql_repairers(register):
    register(qualify_ambiguous, name="qualify-ambiguous")
