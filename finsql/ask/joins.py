"""Joins nothing asks for: a table the answer reads only to join it, and the question never names.

"What are the five stocks with the most total shares?" answered ``SELECT s.stock_name FROM stock_dividend AS
sd JOIN stock AS s ON sd.ticker = s.ticker ORDER BY s.total_shares_mn DESC LIMIT 5``: the model copied a join
from an example. ``stock_dividend`` gives the answer no column, and the join repeats each stock once per
dividend and drops the stocks that paid none. When a table of the outermost FROM/JOINs is used only by its own
join condition (or, as the FROM table, by the first join's), links to one other table, and the question says
no word of its name or its columns' names that the other tables' names lack ("dividend", "payout"), nor its
whole name ("funds" for ``fund`` beside ``fund_size``), ``unjoined`` drops it. A question that names it
("stocks that paid a dividend") keeps the join: there it is the filter asked for.
"""

from __future__ import annotations

from sqlglot import exp

from finsql.ask.sqlcheck import outer_sources, parse_query
from finsql.ask.wording import spelt, spoken
from finsql.db.schema import Schema


def unjoined(question: str, sql: str, schema: Schema) -> str | None:
    """``sql`` without one table it joins for nothing the question names (see the module); None when there
    is no such table, or more than one."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or not tree.args.get("joins") or tree.find(exp.Subquery):
        return None
    sources = outer_sources(tree, schema)
    joins = tree.args["joins"]
    if len(sources) != len(joins) + 1 or any(j.args.get("using") or j.args.get("kind") for j in joins):
        return None
    qualifier = {alias.lower(): alias for alias in sources}
    owner = _owners(tree, sources, schema, qualifier)
    if owner is None:
        return None
    said = set(spoken(question))
    aliases = list(sources)
    dropped = [
        alias
        for position, alias in enumerate(aliases)
        if (own := _own_words(sources, alias, schema))
        and not _says(own, said)
        and not all(_says({w}, said) for w in spelt(sources[alias]))
        and _only_joins(tree, owner, alias, position)
    ]
    if len(dropped) != 1:
        return None
    return _without(tree, aliases.index(dropped[0])).sql(dialect="duckdb")


def _own_words(sources: dict[str, str], alias: str, schema: Schema) -> set[str]:
    """The words of a read table's name and column names that no other read table's names have:
    ``dividend``, ``payout``... of ``stock_dividend`` beside ``stock`` (a question about stocks says "stock"
    for either, and "total shares" is a column of ``stock``)."""

    def words(table: str) -> set[str]:
        found = schema.table(table)
        return {w for name in [found.name, *(c.name for c in found.columns)] for w in spelt(name)}

    others = {w for a, t in sources.items() if a != alias for w in words(t)}
    return words(sources[alias]) - others


def _says(words: set[str], said: set[str]) -> bool:
    """Whether the question says one of ``words``, stems meeting at a shared start of 4 letters or more
    ("trading": trad, ``trade_date``: trade)."""
    return any(
        w == s or (min(len(w), len(s)) >= 4 and (w.startswith(s) or s.startswith(w)))
        for w in words
        for s in said
    )


def _owners(
    tree: exp.Select, sources: dict[str, str], schema: Schema, qualifier: dict[str, str]
) -> dict[int, str] | None:
    """Each column node (by id) -> the alias of the table it reads; None when one cannot be told (an
    unknown qualifier, or a bare name several read tables have)."""
    owner: dict[int, str] = {}
    for column in tree.find_all(exp.Column):
        if column.table:
            alias = qualifier.get(column.table.lower())
            if alias is None:
                return None
        else:
            having = [a for a, t in sources.items() if schema.table(t).column(column.name) is not None]
            if len(having) != 1:
                if any(column.name.lower() == e.alias.lower() for e in tree.expressions if e.alias):
                    continue  # an output name (ORDER BY n)
                return None
            alias = having[0]
        owner[id(column)] = alias
    return owner


def _only_joins(tree: exp.Select, owner: dict[int, str], alias: str, position: int) -> bool:
    """Whether the table under ``alias`` (``position`` in FROM/JOIN order) is used by one join condition
    alone, which links it to exactly one other table."""
    joins = tree.args["joins"]
    link = joins[max(position - 1, 0)].args.get("on")
    if link is None:
        return False
    inside = {id(c) for c in link.find_all(exp.Column)}
    used_elsewhere = any(a == alias and key not in inside for key, a in owner.items())
    if used_elsewhere:
        return False
    linked = {owner.get(id(c)) for c in link.find_all(exp.Column)}
    if len(linked - {alias}) != 1 or alias not in linked:
        return False
    # no other join condition may lean on it
    return all(
        alias not in {owner.get(id(c)) for c in j.args.get("on").find_all(exp.Column)}
        for k, j in enumerate(joins)
        if k != max(position - 1, 0) and j.args.get("on") is not None
    )


def _without(tree: exp.Select, position: int) -> exp.Select:
    """``tree`` without the source at ``position`` in FROM/JOIN order, and the join condition that linked it
    (the FROM table's place goes to the first join's table)."""
    out = tree.copy()
    joins = out.args["joins"]
    if position == 0:
        first = joins[0]
        out.set("from_", exp.From(this=first.this.copy()))
        out.set("joins", [j.copy() for j in joins[1:]] or None)
    else:
        out.set("joins", [j.copy() for k, j in enumerate(joins) if k != position - 1] or None)
    return out
