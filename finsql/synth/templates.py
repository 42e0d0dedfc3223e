"""Typed query templates: each draws a SQL query over the profiled schema and a question asking for it.

A template picks its tables and columns by role (``profile.ROLES``), its literals from the data and its
joins along foreign keys (``conditions.reach``); the question is rendered from the same choices, in one of
several phrasings. ``TEMPLATES`` names them all; ``Composer.draft(name)`` returns a ``Draft`` or None when
the schema offers the template nothing (no measure to sum, no name to look up).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from finsql.synth.conditions import (
    Condition,
    Source,
    condition,
    display,
    ident,
    noun_phrase,
    null_condition,
    reach,
)
from finsql.synth.phrasing import AGGREGATES, column_words, plural, sentence, sql_text, table_noun
from finsql.synth.profile import ColumnProfile, DatabaseProfile, TableProfile

FILTER_ROLES = ("category", "name", "ordinal", "measure", "year", "date", "bool")
GROUP_ROLES = ("category", "name", "ordinal", "year")
IMPERATIVES = ("Show", "List", "Break down", "Count", "Give")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 5: "five", 10: "ten"}


@dataclass(frozen=True)
class Draft:
    """A synthesized question and its SQL, before execution decides whether it is kept."""

    template: str
    question: str
    sql: str


def _where(conditions: list[Condition]) -> str:
    return f" WHERE {' AND '.join(c.sql for c in conditions)}" if conditions else ""


class NotApplicable(Exception):
    """The schema offers the template being drawn nothing to fill it with (no measure, no name, ...)."""


class Composer:
    """Draws drafts from one database profile with one random generator (deterministic per seed)."""

    def __init__(self, db: DatabaseProfile, rng: random.Random) -> None:
        self.db = db
        self.rng = rng
        self.source: Source | None = None
        self.templates: dict[str, Callable[[], Draft | None]] = {
            "lookup": self.lookup,
            "filter": self.filter,
            "count": self.count,
            "aggregate": self.aggregate,
            "group_aggregate": self.group_aggregate,
            "group_count": self.group_count,
            "having": self.having,
            "top_k": self.top_k,
            "group_top": self.group_top,
            "distinct": self.distinct,
            "above_average": self.above_average,
            "ratio": self.ratio,
            "per_year": self.per_year,
            "nulls": self.nulls,
        }

    def draft(self, template: str) -> Draft | None:
        """One draft of ``template``, or None when this schema offers it nothing this time."""
        self.source = None
        try:
            made = self.templates[template]()
        except NotApplicable:
            return None
        if made is None or self.source is None:
            return made
        return Draft(made.template, made.question, self.source.render(made.sql))

    def _source(self, base: TableProfile) -> Source:
        """The FROM clause of the draft being made (its column refs are written out at the end)."""
        self.source = Source(self.db, base)
        return self.source

    # -- shared choices ---------------------------------------------------------------------------------

    def _table(self, need: Callable[[TableProfile], bool]) -> TableProfile:
        tables = [t for t in self.db.tables.values() if t.rows > 0 and need(t)]
        if not tables:
            raise NotApplicable
        return self.rng.choice(tables)

    def _listed(self, need: Callable[[TableProfile], bool]) -> tuple[Source, ColumnProfile]:
        """A base table that passes ``need`` and whose rows have a display column, with its FROM clause
        joined to that column's table."""
        base = self._table(lambda t: need(t) and display(self.db, t) is not None)
        shown, path = display(self.db, base)
        source = self._source(base)
        source.add(path)
        return source, shown

    def _ranked(self) -> tuple[Source, ColumnProfile, ColumnProfile]:
        """``_listed`` for a table with a measure, and one of its measures (to rank or compare rows by)."""
        source, shown = self._listed(lambda t: bool(t.of("measure")))
        return source, shown, self.rng.choice(source.base.of("measure"))

    def _ask(self, template: str, sql: str, *wordings: str) -> Draft:
        """The draft of ``sql`` asked in one of ``wordings``: a question mark, or a full stop after an
        imperative ("Show ...")."""
        text = self.rng.choice(wordings)
        return Draft(template, sentence(text, not text.startswith(IMPERATIVES)), sql)

    def _conditions(
        self, source: Source, count: int, roles: tuple[str, ...] = FILTER_ROLES
    ) -> list[Condition]:
        """Up to ``count`` conditions on distinct columns reachable from the base, joins added as needed."""
        found: list[Condition] = []
        used: set[tuple[str, str]] = set()
        for _ in range(count * 3):
            if len(found) == count:
                break
            picked = reach(self.rng, self.db, source.base, roles)
            if picked is None:
                break
            column, path = picked
            if (column.table, column.name) in used or column is source.base.name_column:
                continue
            source.add(path)
            made = condition(self.rng, source, column)
            if made is not None:
                used.add((column.table, column.name))
                found.append(made)
        return found

    def _agg(self) -> tuple[str, str]:
        name = self.rng.choice(tuple(AGGREGATES))
        return name, self.rng.choice(AGGREGATES[name])

    def _k(self) -> tuple[int, str]:
        k = self.rng.choice((1, 3, 3, 5, 5, 10))
        return k, (NUMBER_WORDS[k] if self.rng.random() < 0.4 else str(k))

    def _group_words(self, column: ColumnProfile) -> str:
        if column.role == "name":
            return table_noun(self.db.tables[column.table], many=False)
        return column_words(column, self.rng)

    def _finish(self, source: Source, *columns: ColumnProfile) -> str:
        """The ``ref``s of ``columns``, comma-separated."""
        return ", ".join(source.ref(c) for c in columns)

    # -- templates --------------------------------------------------------------------------------------

    def lookup(self) -> Draft | None:
        table = self._table(lambda t: t.name_column is not None and len(t.of(*FILTER_ROLES)) > 1)
        named = table.name_column
        attrs = [c for c in table.of(*FILTER_ROLES) if c is not named]
        picked = self.rng.sample(attrs, min(len(attrs), self.rng.choice((1, 1, 2))))
        value = self.rng.choice(named.values[:200])
        words = " and ".join(column_words(c, self.rng) for c in picked)
        sql = f"SELECT {', '.join(ident(c.name) for c in picked)} FROM {ident(table.name)} WHERE "
        sql += f"{ident(named.name)} = {sql_text(value)}"
        question = self.rng.choice(
            (
                f"What is the {words} of {value}?",
                f"Show the {words} of {value}.",
                f"Give me {value}'s {words}.",
            )
        )
        return Draft("lookup", sentence(question.rstrip("?."), question.endswith("?")), sql)

    def filter(self) -> Draft | None:
        source, shown = self._listed(lambda t: bool(t.of(*FILTER_ROLES)))
        base = source.base
        wanted = self.rng.choice((0, 1, 1, 2))
        conditions = self._conditions(source, wanted)
        if wanted and not conditions:  # the joins it tried stay in the FROM clause: no plain list of them
            return None
        extra = [c for c in base.of("measure") if any(ident(c.name) in k.sql for k in conditions)]
        columns = self._finish(source, shown, *extra[:1])
        sql = f"SELECT {columns} FROM {source.sql()}{_where(conditions)}"
        phrase = noun_phrase(self.db.tables[shown.table], conditions, self.rng)
        if conditions:
            opening = self.rng.choice(("Which {}?", "List the {}.", "Show all {}.", "What are the {}?"))
        else:  # every row (the synthesizer keeps it only for a small table)
            opening = self.rng.choice(("List all {}.", "Show all the {}.", "What {} are there?"))
        text = opening.format(phrase)
        return Draft("filter", sentence(text[:-1], text.endswith("?")), sql)

    def count(self) -> Draft | None:
        base = self._table(lambda t: bool(t.of(*FILTER_ROLES)))
        source = self._source(base)
        wanted = self.rng.choice((0, 1, 1, 2))
        conditions = self._conditions(source, wanted)
        if wanted and not conditions:  # the joins it tried would filter a plain count
            return None
        phrase = noun_phrase(base, conditions, self.rng)
        text = self.rng.choice(
            (f"How many {phrase} are there", f"How many {phrase}", f"What is the number of {phrase}")
        )
        return Draft("count", sentence(text), f"SELECT count(*) FROM {source.sql()}{_where(conditions)}")

    def aggregate(self) -> Draft | None:
        base = self._table(lambda t: bool(t.of("measure")))
        measure = self.rng.choice(base.of("measure"))
        source = self._source(base)
        conditions = self._conditions(source, self.rng.choice((0, 1, 1, 2)))
        agg, agg_words = self._agg()
        words = column_words(measure, self.rng)
        sql = f"SELECT {agg}({source.ref(measure)}) FROM {source.sql()}{_where(conditions)}"
        if conditions and self.rng.random() < 0.5:
            text = f"What was the {agg_words} {words} {' and '.join(c.words for c in conditions)}"
        else:
            text = f"What is the {agg_words} {words} of {noun_phrase(base, conditions, self.rng)}"
        return Draft("aggregate", sentence(text), sql)

    def _grouped(self, measure_needed: bool) -> tuple[Source, ColumnProfile, list[Condition]]:
        base = self._table(lambda t: bool(t.of("measure")) or not measure_needed)
        source = self._source(base)
        picked = reach(self.rng, self.db, base, GROUP_ROLES)
        if picked is None:
            raise NotApplicable
        group, path = picked
        source.add(path)
        conditions = [
            c for c in self._conditions(source, self.rng.choice((0, 0, 1))) if group.name not in c.sql
        ]
        return source, group, conditions

    def group_aggregate(self) -> Draft | None:
        source, group, conditions = self._grouped(measure_needed=True)
        measure = self.rng.choice(source.base.of("measure"))
        agg, agg_words = self._agg()
        g = source.ref(group)
        alias = f"{agg}_{measure.name}"[:30]
        sql = f"SELECT {g}, {agg}({source.ref(measure)}) AS {ident(alias)} FROM {source.sql()}"
        sql += f"{_where(conditions)} GROUP BY {g}"
        gw, mw = self._group_words(group), column_words(measure, self.rng)
        tail = " ".join(c.words for c in conditions)
        return self._ask(
            "group_aggregate",
            sql,
            f"What is the {agg_words} {mw} for each {gw} {tail}",
            f"Show the {agg_words} {mw} per {gw} {tail}",
            f"Break down the {agg_words} {mw} by {gw} {tail}",
        )

    def group_count(self) -> Draft | None:
        source, group, conditions = self._grouped(measure_needed=False)
        g = source.ref(group)
        sql = f"SELECT {g}, count(*) AS n FROM {source.sql()}{_where(conditions)} GROUP BY {g}"
        nouns, gw = noun_phrase(source.base, conditions, self.rng), self._group_words(group)
        return self._ask(
            "group_count",
            sql,
            f"How many {nouns} are there for each {gw}",
            f"Count the {nouns} per {gw}",
            f"Break down the {nouns} by {gw}",
        )

    def having(self) -> Draft | None:
        source, group, _ = self._grouped(measure_needed=False)
        g = source.ref(group)
        k = self.rng.choice((1, 2, 3, 5, 10, 20))
        sql = f"SELECT {g}, count(*) AS n FROM {source.sql()} GROUP BY {g} HAVING count(*) > {k}"
        gw = plural(self._group_words(group))
        return self._ask(
            "having",
            sql,
            f"Which {gw} have more than {k} {table_noun(source.base)}",
            f"List the {gw} with over {k} {table_noun(source.base)}",
        )

    def top_k(self) -> Draft | None:
        source, shown, measure = self._ranked()
        conditions = self._conditions(source, self.rng.choice((0, 1, 1)))
        k, k_words = self._k()
        high = self.rng.random() < 0.7
        shows_measure = self.rng.random() < 0.4  # the question then asks for the figure too
        columns = self._finish(source, shown, measure) if shows_measure else self._finish(source, shown)
        sql = f"SELECT {columns} FROM {source.sql()}{_where(conditions)} "
        sql += f"ORDER BY {source.ref(measure)} {'DESC' if high else 'ASC'} LIMIT {k}"
        most = self.rng.choice(("highest", "largest") if high else ("lowest", "smallest"))
        mw, table = column_words(measure, self.rng), self.db.tables[shown.table]
        if k == 1:
            one = noun_phrase(table, conditions, self.rng, many=False)
            also = ", and what is it" if shows_measure else ""
            return Draft("top_k", sentence(f"Which {one} has the {most} {mw}{also}"), sql)
        phrase = noun_phrase(table, conditions, self.rng)
        also = f", with their {mw}" if shows_measure else ""
        return self._ask(
            "top_k",
            sql,
            f"Which {k_words} {phrase} have the {most} {mw}{also}",
            f"What are the {'top' if high else 'bottom'} {k_words} {phrase} by {mw}{also}",
            f"Show the {k_words} {phrase} with the {most} {mw}{also}",
        )

    def group_top(self) -> Draft | None:
        source, group, conditions = self._grouped(measure_needed=True)
        measure = self.rng.choice(source.base.of("measure"))
        agg, agg_words = self._agg()
        high = self.rng.random() < 0.7
        g, alias = source.ref(group), f"{agg}_{measure.name}"[:30]
        sql = f"SELECT {g}, {agg}({source.ref(measure)}) AS {ident(alias)} FROM {source.sql()}"
        sql += (
            f"{_where(conditions)} GROUP BY {g} ORDER BY {ident(alias)} {'DESC' if high else 'ASC'} LIMIT 1"
        )
        most = "highest" if high else "lowest"
        if agg in ("max", "min"):  # "the highest maximum", never "the highest largest"
            agg_words = {"max": "maximum", "min": "minimum"}[agg]
        tail = " ".join(c.words for c in conditions)
        mw = column_words(measure, self.rng)
        text = f"Which {self._group_words(group)} has the {most} {agg_words} {mw} {tail}"
        return Draft("group_top", sentence(text), sql)

    def distinct(self) -> Draft | None:
        base = self._table(lambda t: bool(t.of("category", "name", "year")))
        source = self._source(base)
        picked = reach(self.rng, self.db, base, ("category", "year"), max_hops=1)
        if picked is None:
            return None
        column, path = picked
        source.add(path)
        conditions = [
            c for c in self._conditions(source, self.rng.choice((0, 1))) if column.name not in c.sql
        ]
        words, nouns = column_words(column, self.rng), noun_phrase(base, conditions, self.rng)
        if self.rng.random() < 0.5:
            sql = f"SELECT count(DISTINCT {source.ref(column)}) FROM {source.sql()}{_where(conditions)}"
            return Draft("distinct", sentence(f"How many different {plural(words)} do {nouns} have"), sql)
        sql = f"SELECT DISTINCT {source.ref(column)} FROM {source.sql()}{_where(conditions)}"
        return self._ask(
            "distinct",
            sql,
            f"What different {plural(words)} do {nouns} have",
            f"List the distinct {plural(words)} of {nouns}",
        )

    def above_average(self) -> Draft | None:
        source, shown, measure = self._ranked()
        base = source.base
        above = self.rng.random() < 0.7
        sub = f"(SELECT avg({ident(measure.name)}) FROM {ident(base.name)})"
        sql = (
            f"SELECT {self._finish(source, shown, measure)} FROM {source.sql()} WHERE {source.ref(measure)} "
        )
        sql += f"{'>' if above else '<'} {sub}"
        mw, nouns = column_words(measure, self.rng), table_noun(self.db.tables[shown.table])
        side = self.rng.choice(("above", "higher than") if above else ("below", "lower than"))
        return Draft("above_average", sentence(f"Which {nouns} have a {mw} {side} the average"), sql)

    def ratio(self) -> Draft | None:
        base = self._table(lambda t: len(t.of("measure")) > 1)
        part, whole = self.rng.sample(base.of("measure"), 2)
        source = self._source(base)
        conditions = self._conditions(source, self.rng.choice((0, 1, 1, 2)))
        pw, ww = column_words(part, self.rng), column_words(whole, self.rng)
        tail = " ".join(c.words for c in conditions)
        ratio = f"sum({source.ref(part)}) / sum({source.ref(whole)})"
        if self.rng.random() < 0.6:
            sql = f"SELECT {ratio} * 100 FROM {source.sql()}{_where(conditions)}"
            text = self.rng.choice(
                (
                    f"What is the {pw} as a percentage of the {ww} {tail}",
                    f"What share of the {ww} is the {pw} {tail}, in percent",
                )
            )
        else:
            sql = f"SELECT {ratio} FROM {source.sql()}{_where(conditions)}"
            text = f"What is the ratio of the {pw} to the {ww} {tail}"
        return Draft("ratio", sentence(text), sql)

    def per_year(self) -> Draft | None:
        base = self._table(lambda t: bool(t.of("measure")) and bool(t.of("date", "year")))
        period = self.rng.choice(base.of("date", "year"))
        measure = self.rng.choice(base.of("measure"))
        source = self._source(base)
        conditions = [c for c in self._conditions(source, self.rng.choice((0, 1)), ("category", "name")) if c]
        agg, agg_words = self._agg()
        year = f"year({source.ref(period)})" if period.role == "date" else source.ref(period)
        alias = f"{agg}_{measure.name}"[:30]
        sql = f"SELECT {year} AS yr, {agg}({source.ref(measure)}) AS {ident(alias)} FROM {source.sql()}"
        sql += f"{_where(conditions)} GROUP BY {year} ORDER BY yr"
        tail, mw = " ".join(c.words for c in conditions), column_words(measure, self.rng)
        text = self.rng.choice(
            (f"What was the {agg_words} {mw} {tail} in each year", f"Show the yearly {agg_words} {mw} {tail}")
        )
        return Draft("per_year", sentence(text, text.startswith("What")), sql)

    def nulls(self) -> Draft | None:
        source, shown = self._listed(lambda t: any(c.nullable for c in t.columns))
        base = source.base
        column = self.rng.choice([c for c in base.columns if c.nullable and c.role != "key"] or [None])
        if column is None:
            return None
        conditions = [null_condition(self.rng, source, column)]
        conditions += [
            c for c in self._conditions(source, self.rng.choice((0, 1))) if column.name not in c.sql
        ]
        sql = f"SELECT {self._finish(source, shown)} FROM {source.sql()}{_where(conditions)}"
        phrase = noun_phrase(self.db.tables[shown.table], conditions, self.rng)
        which = self.rng.random() < 0.5
        return Draft("nulls", sentence(f"Which {phrase}" if which else f"List the {phrase}", which), sql)


TEMPLATES = tuple(Composer(DatabaseProfile({}), random.Random(0)).templates)
"""Every template's name."""
