"""Groups a question states: "by ownership type" is one figure per type; "at least two companies" keeps the
groups with two or more.

A small model often answers "What is the average registered capital of fund companies by ownership type?" with
the one average over all rows, or "Which cities are home to at least two listed companies?" with every city's
count. ``grouped_by_named`` groups an answer that aggregates without grouping by the text or yes/no column the
words after "by", "per" or "for each" spell; ``count_bounded`` adds the bound on the number of rows per group
("at least 2", "more than two") to an answer that groups and counts but does not bound them, and
``count_formed`` forms those groups from a plain list joined to the things the bound counts ("Which fund
companies run at least 4 funds?" answered with each company once per fund).

And groups that count the wrong rows: "How many funds does each fund company run?" answered ``SELECT
company_name, count(*) FROM fund_company GROUP BY company_name`` counts each company once. ``counted_rows``
joins the table the question counts (``fund``) along its one foreign key to the table grouped, so the count is
of its rows.

A count of several values asked for at once: "How many funds are open and how many are closed?" answered with
one count (``WHERE status = 'closed'``). ``counted_values`` counts per value of the one column whose values
the question names, those values kept.
"""

from __future__ import annotations

import re

from sqlglot import exp

from finsql.ask.comparisons import BOUND_WORDS, bound_operator
from finsql.ask.projection import without_conditions
from finsql.ask.shape import asks_for_count, counted_noun
from finsql.ask.sqlcheck import aggregates, column_source, join_qualified, outer_sources, parse_query
from finsql.ask.wording import NUMBER_WORDS, number_value, spelt, spoken
from finsql.db.schema import Schema

_HOW_MANY = re.compile(r"\bhow\s+many\b", re.I)
_BY = re.compile(r"\b(?:by|per|for\s+each|in\s+each|of\s+each|for\s+every)\s+([a-z][a-z\s-]*)", re.I)
_BOUND = re.compile(
    rf"\b({BOUND_WORDS})\s+"
    r"(\d+|" + "|".join(NUMBER_WORDS) + r")\s+(?!%|percent|per\b|million|billion|thousand|trillion|yuan|cny|"
    r"usd|bn|mn|times|years?\b|months?\b|days?\b)[a-z]",
    re.I,
)
_BOUNDED_NOUN = re.compile(
    rf"\b({BOUND_WORDS})\s+(\d+|" + "|".join(NUMBER_WORDS) + r")\s+([a-z][a-z-]*)", re.I
)
"""A bound on a number of things: "at least 4 funds" (the noun is checked against the schema's tables)."""
_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR", "BOOLEAN", "ENUM")


def grouped_by_named(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, one aggregate row, grouped by the one text or yes/no column of its tables that the words
    after "by", "per" or "for each" spell (``ownership_type``: "by ownership type"), the column shown
    first; None when it does not apply."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or tree.args.get("group") or tree.args.get("having"):
        return None
    if not tree.expressions or not all(aggregates(e) for e in tree.expressions):
        return None
    phrases = [spoken(m.group(1)) for m in _BY.finditer(question)]
    sources = outer_sources(tree, schema)
    where = tree.args.get("where")
    filtered = {c.name.lower() for c in where.find_all(exp.Column)} if where is not None else set()
    found = [
        (alias, column.name)
        for alias, table in sources.items()
        for column in schema.table(table).columns
        if column.type.upper().startswith(_TEXT_TYPES)
        and column.name.lower() not in filtered  # "funds managed by Zhang Wei", already filtered on
        and any(_spells(column.name, words) for words in phrases)
    ]
    if len(found) != 1:
        return None
    alias, name = found[0]
    key = exp.column(name, table=alias if len(sources) > 1 else None)
    out = tree.copy()
    out.set("expressions", [key.copy(), *out.expressions])
    return out.group_by(key).sql(dialect="duckdb")


def count_bounded(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, grouped and counting without HAVING, with the bound its question puts on the count ("at
    least 2 ..."); None when the question states no such bound, ``sql`` already uses its number (the bound
    is on a column: "companies with more than 1000 employees") or is not such a query. (``schema``: as
    every step takes it.)"""
    bounds = _BOUND.findall(question)
    tree = parse_query(sql) if len(bounds) == 1 else None
    if not isinstance(tree, exp.Select) or not tree.args.get("group") or tree.args.get("having"):
        return None
    counts = [c for e in tree.expressions for c in e.find_all(exp.Count) if not c.find_ancestor(exp.Subquery)]
    if len(counts) != 1:
        return None
    word, number = bounds[0]
    value = number_value(number)
    if any(n.is_number and float(n.this) == value for n in tree.find_all(exp.Literal)):
        return None
    operator = bound_operator(word)
    condition = operator(this=counts[0].copy(), expression=exp.Literal.number(value))
    return tree.having(condition, copy=True).sql(dialect="duckdb")


def count_formed(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, a plain list of one table's columns joined to others, as groups of those columns counted
    and bounded as the question bounds the number of things each has ("Which fund companies run at least
    4 funds?": companies grouped, ``HAVING count(*) >= 4``, the count shown); None when the bounded noun
    names no table or the table listed, or ``sql`` groups, aggregates, ranks or joins nothing."""
    bounds = _BOUNDED_NOUN.findall(question)
    tree = parse_query(sql) if len(bounds) == 1 and len(_BOUND.findall(question)) == 1 else None
    if not isinstance(tree, exp.Select) or not tree.args.get("joins") or tree.find(exp.Subquery):
        return None
    if any(tree.args.get(k) for k in ("group", "having", "order", "limit", "qualify")):
        return None
    word, number, noun = bounds[0]
    counted = [t for t in schema.tables if spelt(t.name)[-1:] == spoken(noun)]
    sources = outer_sources(tree, schema)
    keys = [e for e in tree.expressions if isinstance(e, exp.Column)]
    if len(counted) != 1 or not sources or len(keys) != len(tree.expressions):
        return None
    listed = {sources.get(column_source(key, sources, schema)) for key in keys}
    if len(listed) != 1 or None in listed or counted[0].name in listed:
        return None
    count = exp.Count(this=exp.Star())
    out = tree.copy()
    out.set("distinct", None)
    out.set("expressions", [*(k.copy() for k in keys), count])
    out = out.group_by(*(k.copy() for k in keys), copy=False)
    condition = bound_operator(word)(this=count.copy(), expression=exp.Literal.number(number_value(number)))
    return out.having(condition, copy=False).sql(dialect="duckdb")


def counted_rows(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, a grouped ``count(*)`` over one table, counting the rows of the table the count question
    counts, joined along that table's one foreign key to the grouped one; None when it does not apply."""
    head = counted_noun(question, schema)
    tree = parse_query(sql) if head is not None else None
    if not isinstance(tree, exp.Select) or not tree.args.get("group") or tree.args.get("joins"):
        return None
    sources = outer_sources(tree, schema)
    counts = [c for e in tree.expressions for c in e.find_all(exp.Count) if isinstance(c.this, exp.Star)]
    if len(sources) != 1 or len(counts) != 1 or tree.find(exp.Subquery):
        return None
    ((alias, grouped),) = sources.items()
    keys = schema.references(head.table.name, grouped)
    if head.table.name.lower() == grouped.lower() or len(keys) != 1:
        return None
    own, other = keys[0]
    on = exp.EQ(this=exp.column(own, table=head.table.name), expression=exp.column(other, table=alias))
    return join_qualified(tree, head.table.name, on, schema).sql(dialect="duckdb")


def counted_values(question: str, sql: str, matched: dict[str, list[str]], schema: Schema) -> str | None:
    """``sql``, one count, counting per value of the one column of a table it reads once whose values its
    count question names two or more of (``matched``: the linker's ``table.column`` -> values), kept to
    those values; None when the question asks how many once only (and not "respectively"), there is no such
    column or ``sql`` is not one ungrouped count."""
    several = len(_HOW_MANY.findall(question)) > 1 or re.search(r"\brespectively\b", question, re.I)
    tree = parse_query(sql) if asks_for_count(question) and several else None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or tree.find(exp.Subquery):
        return None
    if any(tree.args.get(k) for k in ("group", "having", "order", "limit", "qualify", "distinct")):
        return None
    if not isinstance(tree.expressions[0].unalias(), exp.Count):
        return None
    sources = outer_sources(tree, schema)
    read = {table.lower(): alias for alias, table in sources.items()}
    found = [
        (read[table], column, values)
        for key, values in matched.items()
        for table, _, column in [key.lower().partition(".")]
        if len(values) > 1 and table in read
    ]
    if len(found) != 1:
        return None
    alias, column, values = found[0]
    key = exp.column(column, table=alias if len(sources) > 1 else None)
    out = without_conditions(tree, lambda condition: _on(condition, column))
    among = exp.In(this=key.copy(), expressions=[exp.Literal.string(v) for v in values])
    out.set("expressions", [key.copy(), *out.expressions])
    return out.where(among, append=True, copy=False).group_by(key, copy=False).sql(dialect="duckdb")


def _on(condition: exp.Expression, column: str) -> bool:
    """Whether ``condition`` compares ``column`` (by that name) with literals only."""
    columns = list(condition.find_all(exp.Column))
    return bool(columns) and all(c.name.lower() == column for c in columns)


def _spells(name: str, words: list[str]) -> bool:
    """Whether the phrase's first words are the column name's words (units left out), in order."""
    parts = spelt(name)
    return bool(parts) and words[: len(parts)] == parts
