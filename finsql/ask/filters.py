"""Filters a question names: a cell value the question spells out, on a column the answer never uses.

A small model often answers "How many corporate bonds are there?" with ``SELECT count(*) FROM bond``: it
copies the shape of the nearest example and drops the filter the question's value asks for. When the
question names exactly one value (``bond.bond_type = 'corporate'``, found by the linker's value index) of a
column of a table the answer reads once, and the answer never mentions that column nor that value, the
filter is added to its WHERE clause. More than one such value, or a value inside a longer one the question
names (``equity`` in "Harbor Growth Equity Fund"), and the answer is left as it is. A value of a table the
answer does not read is joined along the one foreign key that reaches it (``linked_filter``), or replaces
a filter on a literal the question never says (``joined_filter``).

A value in another case than stored ("northwind bank") matches no row: ``stored_spelling`` spells it as
the column stores it, when the column holds it in one spelling only.

The same slip shows as a grouping: "What is the average coupon rate of treasury bonds?" answered per
``bond_type``. When the answer groups by that one column alone and the question asks for no groups,
``grouped_filter`` keeps the group the question names instead.

A yes/no column has no values to spell: "How many fund managers hold the CFA?" names
``fund_manager.certified_cfa`` by a word of its name. ``flag_filter`` adds that column (negated after
"no", "not", "without") when the question names exactly one such column of the tables the answer reads,
always the same way, and the answer never uses it.

And a filter the model turned round: "Which bonds are rated AAA?" answered ``credit_rating <> 'AAA'``.
``unsaid_negation`` makes a top-level ``column <> 'value'`` an equality when the question names the value
and says no negation at all ("not", "other than", "except", "below", ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from finsql.ask.linking import as_words
from finsql.ask.projection import conjuncts
from finsql.ask.sqlcheck import column_source, join_qualified, outer_sources, parse_query
from finsql.ask.wording import is_text, spelt, spoken
from finsql.db.schema import Schema

_NEGATION = frozenset("no not without non never nor".split())
_ANY_NEGATION = re.compile(
    r"\b(no|not|non|never|neither|nor|without|except|excluding|exclude|besides|other|others|apart|below|"
    r"under|outside|unlike|lack|lacks|lacking|different|differs?|rather|instead|aside|from|"
    r"(down|up)grade[ds]?|chang\w*|moved?|switch\w*|lost|dropped|left)\b|n't\b",
    re.I,
)
_FLAG_NOISE = frozenset("is has was flag yes".split())


def named_filter(sql: str, matched: dict[str, list[str]]) -> str | None:
    """``sql`` with the one filter its question names but it omits, or None when there is no such single
    filter (``matched``: the linker's ``table.column`` -> values found in the question)."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or not matched:
        return None
    aliases = _aliases(tree)
    used_columns = {c.name.lower() for c in tree.find_all(exp.Column)}
    used_values = {s.this.casefold() for s in tree.find_all(exp.Literal) if s.is_string}
    hits = _outermost(matched)
    wanted = [
        (aliases[table][0], column, value)
        for table, column, value in hits
        if len(aliases.get(table, ())) == 1
        and column not in used_columns
        and value.casefold() not in used_values
    ]
    if len(wanted) != 1:
        return None
    alias, column, value = wanted[0]
    condition = exp.EQ(this=exp.column(column, table=alias), expression=exp.Literal.string(value))
    return tree.where(condition, append=True, copy=True).sql(dialect="duckdb")


def joined_filter(question: str, sql: str, matched: dict[str, list[str]], schema: Schema) -> str | None:
    """``sql`` reading the one value its question names from the table that holds it, joined along the one
    foreign key that links that table to a table ``sql`` reads, instead of a ``column = 'literal'`` filter
    whose literal the question never says; None when there is no such single value, link or filter."""
    tree = parse_query(sql)
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    if where is None or not matched:
        return None
    aliases = _aliases(tree)
    folded = question.casefold()
    unsaid = [
        c
        for c in conjuncts(where.this)
        if isinstance(c, exp.EQ)
        and isinstance(c.this, exp.Column)
        and isinstance(c.expression, exp.Literal)
        and c.expression.is_string
        and not as_words(c.expression.this.casefold(), folded)
    ]
    if len(unsaid) != 1 or any(len(names) != 1 for names in aliases.values()):
        return None
    # values of tables one foreign key away from a table read ("Northwind Bank": stock, not bond)
    found = [(hit, _links(schema, hit[0], aliases)) for hit in _outermost(matched) if hit[0] not in aliases]
    found = [(hit, links) for hit, links in found if links]
    if len(found) != 1 or len(found[0][1]) != 1:
        return None
    (table, column, value), ((read, (own, other)),) = found[0]
    holder = schema.table(table).name
    on = exp.EQ(this=exp.column(own, table=holder), expression=exp.column(other, table=aliases[read][0]))
    out = tree.copy()
    for node in out.args["where"].find_all(exp.EQ):
        if node == unsaid[0]:
            node.replace(exp.EQ(this=exp.column(column, table=holder), expression=exp.Literal.string(value)))
            break
    return join_qualified(out, holder, on, schema).sql(dialect="duckdb")


def linked_filter(sql: str, matched: dict[str, list[str]], schema: Schema) -> str | None:
    """``sql`` filtered on the one value its question names from a table it does not read, joined along
    the one foreign key that links that table to a table ``sql`` reads ("Break down the funds of Red Maple
    Fund Management by fund type" answered over all funds); None when the question names another value
    ``sql`` does not use, the value's table is read already, or no single link reaches it."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or not matched:
        return None
    aliases = _aliases(tree)
    if any(len(names) != 1 for names in aliases.values()):
        return None
    used = {s.this.casefold() for s in tree.find_all(exp.Literal) if s.is_string}
    unused = [hit for hit in _outermost(matched) if hit[2].casefold() not in used]
    if not unused or any(table in aliases for table, _, _ in unused):
        return None
    # one reading of the value reachable in one step ("Northwind Bank": stock, not bond)
    found = [(hit, links) for hit in unused if (links := _links(schema, hit[0], aliases))]
    if len(found) != 1 or len(found[0][1]) != 1 or len({v.casefold() for _, _, v in unused}) != 1:
        return None
    (table, column, value), ((read, (own, other)),) = found[0]
    holder = schema.table(table).name
    on = exp.EQ(this=exp.column(own, table=holder), expression=exp.column(other, table=aliases[read][0]))
    condition = exp.EQ(this=exp.column(column, table=holder), expression=exp.Literal.string(value))
    out = join_qualified(tree, holder, on, schema)
    return out.where(condition, append=True, copy=False).sql(dialect="duckdb")


def stored_spelling(sql: str, schema: Schema, rows: Callable[[str], list[tuple]]) -> str | None:
    """``sql`` with each ``column = 'literal'`` on a text column spelt as the column stores it, where the
    column holds the literal only in another case and in exactly one spelling ("GuJingGongJiu" written
    'Gujinggongjiu'; a user typing "northwind bank"); None when nothing is respelt. ``rows`` runs a probe
    query and gives its rows (none when it fails)."""
    tree = parse_query(sql)
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    sources = outer_sources(tree, schema) if where is not None else {}
    changed = False
    for node in list(where.find_all(exp.EQ)) if sources else ():
        column, literal = node.this, node.expression
        if not isinstance(column, exp.Column) or not (isinstance(literal, exp.Literal) and literal.is_string):
            continue
        alias = None if node.find_ancestor(exp.Subquery) else column_source(column, sources, schema)
        table = schema.table(sources[alias]) if alias is not None else None
        if table is None or not is_text(table.column(column.name)):
            continue
        name, value = exp.column(column.name), exp.Literal.string(literal.this)
        probe = (
            exp.select(name.copy())
            .distinct()
            .from_(exp.to_table(table.name))
            .where(exp.EQ(this=exp.Lower(this=name.copy()), expression=exp.Lower(this=value)))
            .limit(3)
        )
        found = [r[0] for r in rows(probe.sql(dialect="duckdb"))]
        if len(found) == 1 and isinstance(found[0], str) and found[0] != literal.this:
            literal.replace(exp.Literal.string(found[0]))
            changed = True
    return tree.sql(dialect="duckdb") if changed else None


def _links(schema: Schema, holder: str, aliases: dict[str, list[str]]) -> list[tuple[str, tuple[str, str]]]:
    """``_link`` from ``holder`` to each table read (``aliases``) that has one."""
    return [link for name in aliases if (link := _link(schema, holder, name)) is not None]


def _link(schema: Schema, holder: str, read: str) -> tuple[str, tuple[str, str]] | None:
    """The one single-column foreign key between ``holder`` and ``read`` (either way) as ``(read, (holder
    column, read column))``; None when there is none or more than one."""
    pairs = schema.key_pairs(holder, read)
    return (read, pairs[0]) if len(pairs) == 1 else None


def grouped_filter(sql: str, matched: dict[str, list[str]]) -> str | None:
    """``sql`` grouped by one column whose single value the question names, filtered on that value instead
    (the column leaves the select list); None when ``sql`` is not such a query (ORDER BY, LIMIT or HAVING
    included: a ranking of the groups)."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or not matched:
        return None
    group = tree.args.get("group")
    keys = group.expressions if group else []
    if len(keys) != 1 or not isinstance(keys[0], exp.Column):
        return None
    if any(tree.args.get(k) for k in ("order", "limit", "having", "qualify")):
        return None
    key = keys[0]
    aliases = _aliases(tree)
    values = [
        value
        for table, column, value in _outermost(matched)
        if column == key.name.lower()
        and len(aliases.get(table, ())) == 1
        and (not key.table or key.table.lower() == aliases[table][0].lower())
    ]
    shown = [e for e in tree.expressions if not _is_column(e, key)]
    if len(values) != 1 or not shown:
        return None
    out = tree.copy()
    out.set("expressions", shown)
    out.set("group", None)
    condition = exp.EQ(this=key.copy(), expression=exp.Literal.string(values[0]))
    return out.where(condition, append=True).sql(dialect="duckdb")


def flag_filter(question: str, sql: str, schema: Schema) -> str | None:
    """``sql`` with the one yes/no column its question names by a word of the column's name added to its
    WHERE clause (``NOT column`` when "no", "not" or "without" comes just before); None when the question
    names no such column, several, or the answer already uses it."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select):
        return None
    words = spoken(question)
    used = {c.name.lower() for c in tree.find_all(exp.Column)}
    found = []
    for name, aliases in _aliases(tree).items():
        table = schema.table(name)
        if table is None or len(aliases) != 1:
            continue
        for column in table.columns:
            if column.type.upper() != "BOOLEAN" or column.name.lower() in used:
                continue
            # a word of the table's own name says nothing ("fund" of is_index_fund in table fund)
            parts = {w for w in spelt(column.name) if len(w) >= 3} - _FLAG_NOISE - set(spelt(table.name))
            said = {
                any(w in _NEGATION for w in words[max(0, i - 3) : i])
                for i, w in enumerate(words)
                if w in parts
            }
            if len(said) == 1:  # "with and without a CFA" asks for both: no filter
                found.append((aliases[0], column.name, said.pop()))
            elif said:
                return None
    if len(found) != 1:
        return None
    alias, column, negated = found[0]
    condition: exp.Expression = exp.column(column, table=alias)
    if negated:
        condition = exp.Not(this=condition)
    return tree.where(condition, append=True, copy=True).sql(dialect="duckdb")


def unsaid_negation(question: str, sql: str) -> str | None:
    """``sql`` with each top-level ``column <> 'value'`` on a value its question names made ``=``, when
    the question says no negation; None when there is none to turn."""
    tree = parse_query(sql) if not _ANY_NEGATION.search(question) else None
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    if where is None:
        return None
    folded = question.casefold()
    changed = False
    for node in list(where.find_all(exp.NEQ)):
        value = node.expression
        if node.find_ancestor(exp.Subquery, exp.Or, exp.Not) or not isinstance(node.this, exp.Column):
            continue
        if isinstance(value, exp.Literal) and value.is_string and as_words(value.this.casefold(), folded):
            node.replace(exp.EQ(this=node.this.copy(), expression=value.copy()))
            changed = True
    return tree.sql(dialect="duckdb") if changed else None


def _is_column(node: exp.Expression, key: exp.Column) -> bool:
    """Whether a select item is the grouping column itself (aliased or not)."""
    inner = node.this if isinstance(node, exp.Alias) else node
    return isinstance(inner, exp.Column) and inner.name.lower() == key.name.lower()


def _aliases(tree: exp.Select) -> dict[str, list[str]]:
    """Table name (lower case) -> the names it goes by in the outermost SELECT's own FROM and JOINs (not
    those of subqueries): an alias, else the table's name."""
    found: dict[str, list[str]] = {}
    for source in [tree.args.get("from_"), *(tree.args.get("joins") or [])]:
        if source is not None and isinstance(source.this, exp.Table):
            found.setdefault(source.this.name.lower(), []).append(source.this.alias_or_name)
    return found


def _outermost(matched: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """``(table, column, value)`` for each value found, less those inside a longer value found (as whole
    words): only the longest reading of the question's words counts."""
    hits = [
        (name.rsplit(".", 1)[0].lower(), name.rsplit(".", 1)[1].lower(), value)
        for name, values in matched.items()
        for value in values
    ]
    return [
        hit
        for hit in hits
        if not any(
            len(other[2]) > len(hit[2]) and as_words(hit[2].casefold(), other[2].casefold()) for other in hits
        )
    ]
