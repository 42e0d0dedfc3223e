"""What a list asks to show and in which order: "List all currencies with their names", "List every
industry with its sector, in alphabetical order".

A small model answering "List every industry with its sector" often shows the industries alone, and "List
all currencies with their names" the names alone: one half of what the question pairs is left out.
``with_their`` shows the column the words after "with its/their" name (a column of a table the answer
reads, not a key) when the answer does not, and when that column is all the answer shows, puts the listed
thing before it: the table's name column, else its one-column key. ``alphabetical`` sorts a list the
question wants "in alphabetical order" by the first text column it shows, and ``per_period`` shows and
orders a list "for each quarter" by its table's quarter column.
"""

from __future__ import annotations

import re

from sqlglot import exp

from finsql.ask.linking import name_words
from finsql.ask.projection import conjuncts
from finsql.ask.sqlcheck import aggregates, column_source, outer_sources, parse_query
from finsql.ask.wording import is_text, spelt, spoken
from finsql.db.schema import Column, Schema, Table

_WITH = re.compile(
    r"\b(?:with|and)\s+(?:its|their)\s+([a-z][a-z ]*?)\s*"
    r"(?:[,.;:?!]|$|\b(?:in|by|sorted|ordered|for|from|on|at|as|where|who|that|which|and)\b)",
    re.I,
)
_COMPARE = re.compile(r"\bcompar", re.I)
"""A question comparing ("Compare X with its Y") names what is compared, not a column of each listed row."""
_ALPHABETICAL = re.compile(r"\balphabetical(?:ly)?\b|\ba\s*(?:-|to)\s*z\b", re.I)
_EACH = re.compile(r"\b(?:for|in|of|by)\s+(?:each|every)\s+(quarter|month|year|day)\b", re.I)
_FILLER = frozenset(spoken("the a an of own respective"))
_KEY_WORDS = (["id"], ["code"])


def with_their(question: str, sql: str, schema: Schema) -> str | None:
    """``sql`` showing the column "with its/their ..." names beside what it lists (see the module); None
    when the question pairs nothing (or compares), the words name no single column of a table read, or
    ``sql`` aggregates, groups or already shows both."""
    found = None if _COMPARE.search(question) else _WITH.search(question)
    tree = parse_query(sql) if found is not None else None
    if not isinstance(tree, exp.Select) or tree.args.get("group") or any(map(aggregates, tree.expressions)):
        return None
    sources = outer_sources(tree, schema)
    words = set(spoken(found.group(1))) - _FILLER
    if not sources or not words:
        return None
    named = [
        (alias, schema.table(table), column)
        for alias, table in sources.items()
        for column in schema.table(table).columns
        if set(spelt(column.name)) >= words and (name_words(column.name)[-1:] not in _KEY_WORDS)
    ]
    exact = [hit for hit in named if set(spelt(hit[2].name)) == words]
    named = exact or named
    if len(named) != 1:
        return None
    alias, table, column = named[0]
    qualify = len(sources) > 1
    shown = [_shown_name(e) for e in tree.expressions]
    out = tree.copy()
    if column.name.lower() not in shown:
        return out.select(exp.column(column.name, table=alias if qualify else None)).sql(dialect="duckdb")
    listed = _listed(table, column)
    if shown != [column.name.lower()] or listed is None:
        return None
    out.set("expressions", [exp.column(listed.name, table=alias if qualify else None), *out.expressions])
    return out.sql(dialect="duckdb")


def alphabetical(question: str, sql: str, schema: Schema) -> str | None:
    """``sql`` ordered by the first text column it shows when the question asks for alphabetical order and
    ``sql`` is ordered otherwise (or not at all); None when it is not asked, or no text column is shown."""
    tree = parse_query(sql) if _ALPHABETICAL.search(question) else None
    if not isinstance(tree, exp.Select):
        return None
    sources = outer_sources(tree, schema)
    texts = [
        e.unalias()
        for e in tree.expressions
        if (column := _schema_column(e, sources, schema)) is not None and is_text(column)
    ]
    if not texts:
        return None
    order = tree.args.get("order")
    first = order.expressions[0] if order is not None and order.expressions else None
    if first is not None and not first.args.get("desc") and first.this == texts[0]:
        return None
    out = tree.copy()
    out.set("order", None)
    return out.order_by(texts[0].copy()).sql(dialect="duckdb")


def per_period(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, a plain list, showing first and ordered by the one column of its tables named for the
    period the question lists "for each" ("... for each quarter of 2021": ``fiscal_quarter``), in place of
    an order on a column its WHERE fixes to one value; None when the question lists no period, the column
    is not one, or ``sql`` aggregates or is ordered otherwise."""
    found = _EACH.search(question)
    tree = parse_query(sql) if found is not None else None
    if not isinstance(tree, exp.Select) or tree.args.get("group") or any(map(aggregates, tree.expressions)):
        return None
    sources = outer_sources(tree, schema)
    period = found.group(1).lower()
    named = [
        (alias, c)
        for alias, name in sources.items()
        for c in schema.table(name).columns
        if name_words(c.name)[-1:] == [period]
    ]
    if len(named) != 1:
        return None
    alias, column = named[0]
    key = exp.column(column.name, table=alias if len(sources) > 1 else None)
    order = tree.args.get("order")
    if order is not None and not all(_fixed(o.this, tree) for o in order.expressions):
        return None
    out = tree.copy()
    if column.name.lower() not in [_shown_name(e) for e in tree.expressions]:
        out.set("expressions", [key.copy(), *out.expressions])
    out.set("order", None)
    changed = out.order_by(key.copy()).sql(dialect="duckdb")
    return None if changed == tree.sql(dialect="duckdb") else changed


def _fixed(node: exp.Expression, tree: exp.Select) -> bool:
    """Whether an ORDER BY key is a column a top-level ``column = literal`` of the WHERE fixes (ordering
    by it orders nothing)."""
    where = tree.args.get("where")
    if not isinstance(node, exp.Column) or where is None:
        return False
    return any(
        isinstance(c, exp.EQ)
        and isinstance(c.expression, exp.Literal)
        and isinstance(c.this, exp.Column)
        and c.this.name.lower() == node.name.lower()
        for c in conjuncts(where.this)
    )


def _listed(table: Table, shown: Column) -> Column | None:
    """What a row of ``table`` is known by, other than ``shown``: its one name column, else its one-column
    key."""
    names = [c for c in table.columns if c is not shown and name_words(c.name)[-1:] == ["name"]]
    if len(names) == 1:
        return names[0]
    keys = [c for c in table.columns if c.primary_key]
    return keys[0] if len(keys) == 1 and keys[0] is not shown else None


def _shown_name(node: exp.Expression) -> str | None:
    """The column a select item shows (aliased or not), lower case; None for anything else."""
    inner = node.unalias()
    return inner.name.lower() if isinstance(inner, exp.Column) else None


def _schema_column(node: exp.Expression, sources: dict[str, str], schema: Schema) -> Column | None:
    """The schema column a select item shows (``column_source``), or None."""
    inner = node.unalias()
    alias = column_source(inner, sources, schema) if isinstance(inner, exp.Column) else None
    return schema.table(sources[alias]).column(inner.name) if alias is not None else None
