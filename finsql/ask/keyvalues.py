"""A value compared with the key that points at it: ``stock.industry_id = 'Real Estate'``.

A small model filters a table on the name of the row its foreign key points at, as if the key held it:
"Which stocks in the Real Estate sector ...?" answered ``WHERE industry_id = 'Real Estate'``, which DuckDB
refuses (the key is a number). ``through_key`` reads the value where it is instead: from the referenced table,
joined along that key, in the column of that table that holds the value the question names
(``industry.sector = 'Real Estate'``). Where two columns of it hold the value, the one the question names
beside it ("the Real Estate *sector*") is meant; otherwise the filter is left as it was.

It runs as a repairer, only on SQL DuckDB refused, with the values the question names (``Session`` passes
them per question): a plugin repairer sees the SQL and the schema alone.
"""

from __future__ import annotations

from sqlglot import exp

from finsql.ask.sqlcheck import join_qualified, outer_sources, parse_query
from finsql.ask.wording import spelt, spoken
from finsql.db.schema import Schema

_TEXT = ("VARCHAR", "TEXT", "STRING", "CHAR")
_BESIDE = 2
"""Words between a value and the column name that says which column holds it ("Real Estate sector")."""


def through_key(sql: str, schema: Schema, question: str, matched: dict[str, list[str]]) -> str:
    """``sql`` with each ``key = 'value'`` on a non-text foreign key read from the table the key references
    (joined along it) in the one column there holding a value the question names; ``sql`` when none
    applies (``matched``: ``table.column`` -> values the question names, of every table)."""
    tree = parse_query(sql)
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    sources = outer_sources(tree, schema) if where is not None else {}
    if not sources or tree.find(exp.Subquery):
        return sql
    changed = False
    for node in list(where.find_all(exp.EQ)):
        column, literal = node.this, node.expression
        if not (isinstance(column, exp.Column) and isinstance(literal, exp.Literal) and literal.is_string):
            continue
        found = _holder(column, literal.this, sources, schema, question, matched)
        if found is None:
            continue
        alias, own, holder, key, held = found
        read = next((a for a, t in sources.items() if t.lower() == holder.lower()), None)
        if read is None:
            on = exp.EQ(this=exp.column(key, table=holder), expression=exp.column(own, table=alias))
            tree = join_qualified(tree, holder, on, schema)
            sources[holder] = holder
            read = holder
        node.replace(exp.EQ(this=exp.column(held, table=read), expression=exp.Literal.string(literal.this)))
        changed = True
    return tree.sql(dialect="duckdb") if changed else sql


def _holder(
    column: exp.Column,
    value: str,
    sources: dict[str, str],
    schema: Schema,
    question: str,
    matched: dict[str, list[str]],
) -> tuple[str, str, str, str, str] | None:
    """``(alias, key column, referenced table, its key column, the column holding value)`` for a
    comparison of the non-text foreign key ``column`` with ``value``; None when it is no such comparison
    or the holder is not one column."""
    owners = [
        (alias, schema.table(table))
        for alias, table in sources.items()
        if (not column.table or column.table.lower() == alias.lower())
        and schema.table(table).column(column.name) is not None
    ]
    if len(owners) != 1:
        return None
    alias, owner = owners[0]
    if owner.column(column.name).type.upper().startswith(_TEXT):
        return None
    holders = []  # (table, column holding the value, that table's key column)
    for name, values in matched.items():
        table, _, held = name.lower().rpartition(".")
        keys = [
            ref for own, ref in schema.references(owner.name, table) if own.lower() == column.name.lower()
        ]
        if keys and any(v.casefold() == value.casefold() for v in values):
            holders.append((table, held, keys[0]))
    if len(holders) > 1:
        holders = [h for h in holders if _named_beside(h[1], value, question)]
    if len(holders) != 1:
        return None
    table, held, key = holders[0]
    return alias, column.name, schema.table(table).name, key, held


def _named_beside(column: str, value: str, question: str) -> bool:
    """Whether the question says the column's name within ``_BESIDE`` words of the value ("the Real Estate
    sector", "sector Real Estate")."""
    words, name, said = spoken(question), spelt(column), spoken(value)
    spots = [i for i in range(len(words)) if said and words[i : i + len(said)] == said]
    return bool(name) and any(
        words[j : j + len(name)] == name and not i <= j < i + len(said)
        for i in spots
        for j in range(max(0, i - _BESIDE - len(name)), i + len(said) + _BESIDE + 1)
    )
