"""The pieces a synthesized query is built from: a FROM clause that grows along joins, and WHERE conditions
that carry their own words.

A column is reached from the query's base table by 0, 1 or 2 joins along foreign keys, nearer ones more
often (``HOP_WEIGHTS``): typed, key-aware sampling weighted by schema distance, which is what made
synthetic pairs help real parsers (arXiv 2212.08785).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from finsql.synth.phrasing import (
    MONTHS,
    column_words,
    date_text,
    humanize,
    nice_threshold,
    number_text,
    sql_text,
    table_noun,
)
from finsql.synth.profile import ColumnProfile, DatabaseProfile, Edge, TableProfile

HOP_WEIGHTS = (0.5, 0.35, 0.15)
"""How often a column is taken from the base table, a referenced table, or one two joins away."""
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = set("select from where group order by limit join on and or not as case end having".split())
"""Reserved words a column may be named after (``limit``): quoted."""
_REF = re.compile("\u27e6([^\u27e6\u27e7]*)\u27e7([^\u27e6]*)\u27e6")
_COMPARE = (
    (">", ("more than", "above", "greater than", "over")),
    ("<", ("less than", "below", "under")),
    (">=", ("at least",)),
    ("<=", ("at most", "no more than")),
)


def ident(name: str) -> str:
    """An identifier as people write it: lower case and bare (DuckDB resolves names case-insensitively),
    quoted only when it must be."""
    if _PLAIN.fullmatch(name) and name.lower() not in _KEYWORDS:
        return name.lower()
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Source:
    """A FROM clause: the base table and the joins added to reach other tables' columns."""

    db: DatabaseProfile
    base: TableProfile
    chain: list[Edge] = field(default_factory=list)

    def tables(self) -> list[TableProfile]:
        """The tables in the clause, base first."""
        return [self.base] + [self.db.tables[e.parent] for e in self.chain]

    def add(self, path: tuple[Edge, ...]) -> None:
        """Join the tables of ``path`` (a chain from the base) not joined yet."""
        for edge in path:
            if edge not in self.chain and edge.parent not in {t.name for t in self.tables()}:
                self.chain.append(edge)

    def ref(self, column: ColumnProfile) -> str:
        """A placeholder for ``column``, written out by ``render`` once every join is known: qualified by
        its table's alias when the query has joins, bare when it has none."""
        return f"\u27e6{column.table}\u27e7{column.name}\u27e6"

    def render(self, sql: str) -> str:
        """``sql`` with every ``ref`` placeholder written out."""

        def write(match: re.Match) -> str:
            table, column = match.group(1), match.group(2)
            if not self.chain:
                return ident(column)
            return f"{self.db.tables[table].alias}.{ident(column)}"

        return _REF.sub(write, sql)

    def sql(self) -> str:
        """The FROM clause's text (without ``FROM``)."""
        if not self.chain:
            return ident(self.base.name)
        text = f"{ident(self.base.name)} {self.base.alias}"
        for edge in self.chain:
            child, parent = self.db.tables[edge.child], self.db.tables[edge.parent]
            on = " AND ".join(
                f"{child.alias}.{ident(c)} = {parent.alias}.{ident(p)}"
                for c, p in zip(edge.child_columns, edge.parent_columns, strict=True)
            )
            text += f" JOIN {ident(parent.name)} {parent.alias} ON {on}"
        return text


@dataclass(frozen=True)
class Condition:
    """One WHERE condition with the words that ask for it."""

    sql: str
    words: str
    """A trailing modifier: "with fund type equity", "in 2023", "of Skyline Properties"."""
    kind: str
    adjective: str | None = None
    """A value that may stand before the noun instead ("equity funds")."""


def reach(
    rng: random.Random, db: DatabaseProfile, base: TableProfile, roles: tuple[str, ...], max_hops: int = 2
) -> tuple[ColumnProfile, tuple[Edge, ...]] | None:
    """A column of one of ``roles`` from ``base`` or a table 1-2 joins away (nearer more often), and the
    joins to it; None when there is none."""
    options: list[tuple[int, ColumnProfile, tuple[Edge, ...]]] = [(0, c, ()) for c in base.of(*roles)]
    for hops in range(1, max_hops + 1):
        for path in db.paths(base.name, hops):
            options += [(hops, c, path) for c in db.tables[path[-1].parent].of(*roles)]
    if not options:
        return None
    by_hops = sorted({h for h, _, _ in options})
    weights = [HOP_WEIGHTS[h] for h in by_hops]
    hops = rng.choices(by_hops, weights)[0]
    _, column, path = rng.choice([o for o in options if o[0] == hops])
    return column, path


def display(db: DatabaseProfile, base: TableProfile) -> tuple[ColumnProfile, tuple[Edge, ...]] | None:
    """The column that names the rows a query lists: the base table's name column, else that of a table it
    references (``fund_size`` -> ``fund.fund_name``), else the base table's first key (``id``) or category
    (``firm``) column."""
    if base.name_column is not None:
        return base.name_column, ()
    for edge in db.parents(base.name):
        named = db.tables[edge.parent].name_column
        if named is not None:
            return named, (edge,)
    fallback = base.of("key") or base.of("category")
    return (fallback[0], ()) if fallback else None


def _date_condition(rng: random.Random, ref: str, column: ColumnProfile, prefix: str) -> Condition:
    days = column.values
    day = rng.choice(days)
    years = sorted({d.year for d in days})
    year = day.year
    style = rng.random()
    if style < 0.35:
        return Condition(f"year({ref}) = {year}", f"{prefix}in {year}", "date")
    if style < 0.55:
        return Condition(f"{ref} = {sql_text(day)}", f"{prefix}on {date_text(day, rng)}", "date")
    if style < 0.67:
        words = f"{prefix}in {MONTHS[day.month - 1]} {year}"
        return Condition(f"year({ref}) = {year} AND month({ref}) = {day.month}", words, "date")
    if style < 0.77 and len(years) > 2:
        lo, hi = sorted(rng.sample(years, 2))
        return Condition(f"year({ref}) BETWEEN {lo} AND {hi}", f"{prefix}between {lo} and {hi}", "date")
    if style < 0.87 and len(years) > 1:
        since = rng.choice(years[1:])
        return Condition(f"{ref} >= '{since}-01-01'", f"{prefix}since {since}", "date")
    if style < 0.93 and len(years) > 1:
        before = rng.choice(years[1:])
        return Condition(f"{ref} < '{before}-01-01'", f"{prefix}before {before}", "date")
    quarter = (day.month - 1) // 3 + 1
    return Condition(
        f"year({ref}) = {year} AND quarter({ref}) = {quarter}", f"{prefix}in Q{quarter} {year}", "date"
    )


def condition(rng: random.Random, source: Source, column: ColumnProfile) -> Condition | None:
    """A WHERE condition on ``column`` with a real value from the data, and its words."""
    ref = source.ref(column)
    words = column_words(column, rng)
    table = source.db.tables[column.table]
    role = column.role
    if role == "category" and column.values:
        value = rng.choice(column.values[:15])
        phrase = rng.choice(
            (f"with {words} {value}", f"whose {words} is {value}", f"where {words} is {value}")
        )
        adjective = value if len(value.split()) <= 3 else None
        return Condition(f"{ref} = {sql_text(value)}", phrase, role, adjective)
    if role == "name" and column.values:
        value = rng.choice(column.values[:100])
        return Condition(f"{ref} = {sql_text(value)}", f"{rng.choice(('of', 'for'))} {value}", role)
    if role == "ordinal" and column.values:
        value = rng.choice(column.values)
        return Condition(f"{ref} = {value}", f"with {words} {value}", role)
    if role == "measure" and column.values:
        threshold = nice_threshold(rng.choice(column.values))
        op, phrases = rng.choice(_COMPARE)
        text = f"with {words} {rng.choice(phrases)} {number_text(threshold)}"
        return Condition(f"{ref} {op} {number_text(threshold)}", text, role)
    # a period of another table, or of one of several date columns, is named ("with inception date in 2020")
    named = column.table != source.base.name or len(table.of("date", "year")) > 1
    if role == "year" and column.values:
        year = rng.choice(column.values)
        style = rng.random()
        prefix = f"with {words} " if named else ""
        if style < 0.6:
            said = f"{prefix}in {year}" if named or rng.random() < 0.5 else f"for {words} {year}"
            return Condition(f"{ref} = {year}", said, role)
        if style < 0.8 and len(column.values) > 2:
            lo, hi = sorted(rng.sample(list(column.values), 2))
            return Condition(f"{ref} BETWEEN {lo} AND {hi}", f"{prefix}between {lo} and {hi}", role)
        return Condition(f"{ref} >= {year}", f"{prefix}since {year}", role)
    if role == "date" and column.values:
        return _date_condition(rng, ref, column, f"with {words} " if named else "")
    if role == "bool":
        if rng.random() < 0.5:
            return Condition(ref, rng.choice((f"with {words}", f"where {words} is true")), role)
        return Condition(f"NOT {ref}", rng.choice((f"without {words}", f"where {words} is false")), role)
    return None


def null_condition(rng: random.Random, source: Source, column: ColumnProfile) -> Condition:
    """``column IS [NOT] NULL`` in words."""
    words = humanize(column.name)
    if rng.random() < 0.6:
        return Condition(f"{source.ref(column)} IS NULL", f"with no {words} recorded", "null")
    return Condition(f"{source.ref(column)} IS NOT NULL", f"with a {words} recorded", "null")


def noun_phrase(
    table: TableProfile, conditions: list[Condition], rng: random.Random, many: bool = True
) -> str:
    """The table's noun, with at most one category value before it ("equity funds") and the other
    conditions after it."""
    noun = table_noun(table, many)
    after = []
    for cond in conditions:
        if cond.adjective and noun == table_noun(table, many) and rng.random() < 0.4:
            noun = f"{cond.adjective} {noun}"
        else:
            after.append(cond.words)
    return " ".join([noun, " and ".join(after)]).strip()
