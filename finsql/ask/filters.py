"""Filters a question names: a cell value the question spells out, on a column the answer never uses.

A small model often answers "How many corporate bonds are there?" with ``SELECT count(*) FROM bond``: it
copies the shape of the nearest example and drops the filter the question's value asks for. When the
question names exactly one value (``bond.bond_type = 'corporate'``, found by the linker's value index) of a
column of a table the answer reads once, and the answer never mentions that column nor that value, the
filter is added to its WHERE clause. More than one such value, or a value inside a longer one the question
names (``equity`` in "Harbor Growth Equity Fund"), and the answer is left as it is.

The same slip shows as a grouping: "What is the average coupon rate of treasury bonds?" answered per
``bond_type``. When the answer groups by that one column alone and the question asks for no groups,
``grouped_filter`` keeps the group the question names instead.
"""

from __future__ import annotations

from sqlglot import exp

from finsql.ask.linking import as_words
from finsql.ask.sqlcheck import parse_query


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
