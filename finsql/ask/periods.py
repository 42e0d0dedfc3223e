"""Periods a question states: "after 2015" is from 2016 on, "before 2000" up to 1999, "since 2020" from
2020 on, "in 2023" that year, "in March 2024" that month.

Grounding lets a date literal carry only the question's years, but the model still picks the bound and
its direction: ``maturity_date >= '2030-01-01'`` for "after 2030" (which keeps 2030), or
``founded_date < '2005-01-01'`` for "founded after 2005". When the question names a year once, with one of
these words, an ordering of a column against a date in that year (or of ``year(column)`` or a column
named for years, ``fiscal_year``, against the year) is rewritten to the bound the words state.

It also drops the period altogether (``SELECT avg(unemployment_rate) FROM macro_indicator`` for "in
2023"), or keeps the year of "February 2023" and not its month. ``period_filter`` adds the period when the
SQL names no year at all and the tables its select list reads have one period column (a column named for
years, else one date column); ``month_narrowed`` narrows ``year(column) = 2023`` to the month named.
A span of years ("between 2025 and 2026") answered with one of them (``year(maturity_date) = 2025``) or with
none is filtered on the whole span, both years included (``year_ranged``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from finsql.ask.projection import conjuncts, without_conditions
from finsql.ask.sqlcheck import outer_sources, parse_query
from finsql.ask.wording import is_dated, is_year_column, names_years
from finsql.db.schema import Column, Schema

_PHRASE = re.compile(r"\b(after|before|since|prior\s+to)\s+((?:19|20)\d\d)\b(?!\s*-)", re.I)
_DATE = re.compile(r"^((?:19|20)\d\d)-\d\d-\d\d$")
_ORDERINGS = (exp.GT, exp.GTE, exp.LT, exp.LTE)


def stated_bounds(question: str) -> dict[int, str]:
    """Year -> ``after``, ``before`` or ``since``, for each year the question bounds with exactly one word
    and names nowhere else."""
    found: dict[int, set[str]] = {}
    for word, year in _PHRASE.findall(question):
        word = "before" if word.lower().startswith("prior") else word.lower()
        found.setdefault(int(year), set()).add(word)
    return {
        year: words.pop()
        for year, words in found.items()
        if len(words) == 1 and len(re.findall(rf"\b{year}\b", question)) == 1
    }


def year_bounded(question: str, sql: str) -> str | None:
    """``sql`` with each ordering on a year the question bounds rewritten to that bound, or None when
    there is nothing to rewrite or it is already so."""
    bounds = stated_bounds(question)
    tree = parse_query(sql) if bounds else None
    if tree is None:
        return None
    changed = False
    for node in list(tree.find_all(*_ORDERINGS, exp.EQ)):
        rewritten = _bounded(node, bounds)
        if rewritten is not None and rewritten.sql() != node.sql():
            node.replace(rewritten)
            changed = True
    return tree.sql(dialect="duckdb") if changed else None


def _bounded(node: exp.Expression, bounds: dict[int, str]) -> exp.Expression | None:
    """The comparison ``node`` as the bound its year is given, or None when it compares no such year."""
    side, value = node.this, node.expression
    if isinstance(side, exp.Literal):  # `'2030-01-01' <= maturity_date`: the literal is read the same
        side, value = value, side
    if not isinstance(value, exp.Literal):
        return None
    if isinstance(side, exp.Column) and value.is_string:  # `= '2020-06-01'` for "since 2020" too
        match = _DATE.match(value.this)
        year = int(match.group(1)) if match else None
        if year not in bounds:
            return None
        return _bound(side.copy(), bounds[year], year, by_day=True)
    yearly = isinstance(side, exp.Year) or (isinstance(side, exp.Column) and names_years(side.name))
    if yearly and value.is_int and int(value.this) in bounds:
        return _bound(side.copy(), bounds[int(value.this)], int(value.this), by_day=False)
    return None


def _bound(side: exp.Expression, word: str, year: int, by_day: bool) -> exp.Expression:
    """``side`` bounded as ``word`` (``after``, ``before``, ``since``; or ``year``, by a year number only)
    states: a date by its days (after 2015 is ``> '2015-12-31'``), else a year number (``> 2015``)."""
    if by_day and word == "after":
        return exp.GT(this=side, expression=exp.Literal.string(f"{year}-12-31"))
    if by_day:
        return (exp.LT if word == "before" else exp.GTE)(
            this=side, expression=exp.Literal.string(f"{year}-01-01")
        )
    kind = {"year": exp.EQ, "after": exp.GT, "before": exp.LT, "since": exp.GTE}[word]
    return kind(this=side, expression=exp.Literal.number(year))


_YEAR_WORD = re.compile(r"(?<![\d-])((?:19|20)\d\d)(?![\d-]|'?s\b)")
_MONTH_NAMES = "january february march april may june july august september october november december".split()
_MONTH_YEAR = re.compile(
    r"\b(" + "|".join(_MONTH_NAMES + [m[:3] for m in _MONTH_NAMES]) + r")\.?\s+((?:19|20)\d\d)\b", re.I
)
_PHRASE_BEFORE_MONTH = re.compile(r"\b(after|before|since|prior\s+to)\s+[a-z]+\.?\s+(19|20)\d\d\b", re.I)
_PARTIAL = re.compile(
    r"\d{4}-\d\d|\b\d{1,2}(st|nd|rd|th)?,?\s+(19|20)\d\d|\bq[1-4]\b|\bquarter|\bhalf\b|\bend\b|"
    r"\bfirst\b|\blast\b|\bweek|\b(19|20)\d\d'?s\b|\b(by|until|till|through|from|as\s+of|up\s+to|"
    r"(later|earlier)\s+than)\s+(\w+\s+)?(19|20)\d\d|(19|20)\d\d\s+(on(wards?)?|and\s+(after|later|before))\b",
    re.I,
)
"""Words that make a named year only part of the period (a day, a quarter, a half, a year's end, its first
or last day), a decade ("the 2010s"), or a bound this module does not read ("by 2030", "from 2015",
"as of 2023", "2015 onwards"): a whole-year or whole-month filter would then be wrong, so none is added."""


@dataclass(frozen=True)
class Period:
    """The one period a question names: a whole year or month, or a year bound (``after`` ...)."""

    kind: str
    """``year``, ``month``, ``after``, ``before`` or ``since``."""
    year: int
    month: int = 0

    def first_day(self) -> str:
        return f"{self.year}-{max(self.month, 1):02d}-01"

    def next_first_day(self) -> str:
        if self.kind == "month" and self.month < 12:
            return f"{self.year}-{self.month + 1:02d}-01"
        return f"{self.year + 1}-01-01"


def named_period(question: str) -> Period | None:
    """The period ``question`` names by one year, written once, as a whole year, a month of it or a bound;
    None when it names no year, several, or a part of one (``_PARTIAL``)."""
    years = _YEAR_WORD.findall(question)
    if len(years) != 1 or _PARTIAL.search(question):
        return None
    year = int(years[0])
    month = _MONTH_YEAR.search(question)
    if month is not None:
        name = month.group(1).lower()
        if name == "may" and not re.search(r"\bmay\s+\d", question, re.I):
            return None
        if _PHRASE_BEFORE_MONTH.search(question):  # "after March 2024": a bound, not that month
            return None
        return Period("month", year, next(i for i, m in enumerate(_MONTH_NAMES, 1) if m.startswith(name[:3])))
    bound = stated_bounds(question).get(year)
    return Period(bound or "year", year)


def period_filter(question: str, sql: str, schema: Schema) -> str | None:
    """``sql`` with the period its question names added to its WHERE clause, on the one period column of
    the tables its select list reads; None when there is no such period or column, or ``sql`` already
    names a year anywhere."""
    period = named_period(question)
    tree = parse_query(sql) if period is not None else None
    if not isinstance(tree, exp.Select) or _names_a_year(tree):
        return None
    found = _period_column(tree, schema)
    if found is None:
        return None
    column, kept = found
    if period.kind == "month" and not is_dated(kept):
        return None
    if period.kind != "month" and not _day_column(kept):  # a year column, or a timestamp: by its year
        side = column if is_year_column(kept) else exp.Year(this=column)
        condition = _bound(side, period.kind, period.year, by_day=False)
    elif period.kind in ("month", "year"):
        condition = _within(column, period)
    else:
        condition = _bound(column, period.kind, period.year, by_day=True)
    return tree.where(condition, append=True, copy=True).sql(dialect="duckdb")


def month_narrowed(question: str, sql: str) -> str | None:
    """``sql`` with ``year(column) = YEAR`` narrowed to the month of YEAR its question names ("in February
    2023"), or None when the question names no such month or ``sql`` has no such comparison."""
    period = named_period(question)
    tree = parse_query(sql) if period is not None and period.kind == "month" else None
    if tree is None:
        return None
    changed = False
    for node in list(tree.find_all(exp.EQ)):
        side, value = node.this, node.expression
        if isinstance(side, exp.Literal):
            side, value = value, side
        yearly = isinstance(side, exp.Year) and isinstance(side.this, exp.Column)
        if yearly and value.is_int and int(value.this) == period.year:
            node.replace(exp.paren(_within(side.this.copy(), period), copy=False))
            changed = True
    return tree.sql(dialect="duckdb") if changed else None


_RANGE = re.compile(
    r"\b(?:between|from)\s+((?:19|20)\d\d)\s+(?:and|to|through|till|until)\s+((?:19|20)\d\d)\b(?![\d-])", re.I
)
_COMPARISONS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)


def named_range(question: str) -> tuple[int, int] | None:
    """The first and last year a question spans ("between 2018 and 2022", "from 2019 to 2021"), when it
    names no other year and no part of one (``_PARTIAL``) besides; else None."""
    match = _RANGE.search(question)
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    rest = question[: match.start()] + question[match.end() :]
    if first >= last or _YEAR_WORD.search(rest) or _PARTIAL.search(rest):
        return None
    return first, last


def year_ranged(question: str, sql: str, schema: Schema) -> str | None:
    """``sql`` filtering the whole span of years its question names: the conditions of its WHERE that name a
    year, all on one column and all within the span, become the span on that column; with none, the span
    is added on the one period column (``_period_column``). None when there is no span or it does not
    apply."""
    span = named_range(question)
    tree = parse_query(sql) if span is not None else None
    if not isinstance(tree, exp.Select):
        return None
    where = tree.args.get("where")
    named = [c for c in conjuncts(where.this) if _names_a_year(c)] if where is not None else []
    if named:
        sides = [_period_side(c, span) for c in named]
        if None in sides or len({(column.sql(), yearly) for column, yearly in sides}) != 1:
            return None
        column, yearly = sides[0]
        tree = without_conditions(tree, lambda condition: condition in named)
    else:
        period = _period_column(tree, schema)
        if period is None or not (is_year_column(period[1]) or is_dated(period[1])):
            return None
        column, yearly = period[0], is_year_column(period[1])
    ranged = column.copy() if yearly else exp.Year(this=column.copy())
    condition = exp.Between(this=ranged, low=exp.Literal.number(span[0]), high=exp.Literal.number(span[1]))
    return tree.where(condition, append=True, copy=False).sql(dialect="duckdb")


def _period_side(condition: exp.Expression, span: tuple[int, int]) -> tuple[exp.Column, bool] | None:
    """``(column, whether it holds years)`` that ``condition`` compares with years of ``span`` (a year
    column or ``year(column)`` with year numbers, a column with dates), or None for anything else."""
    if not isinstance(condition, _COMPARISONS):
        return None
    side = condition.this
    values = [v for k, v in condition.args.items() if k != "this" and isinstance(v, exp.Expression)]
    if isinstance(side, exp.Literal) and len(values) == 1:
        side, values = values[0], [side]
    if not values or not all(isinstance(v, exp.Literal) for v in values):
        return None
    years = [int(v.this[:4]) if v.is_string else int(float(v.this)) for v in values if v.this[:4].isdigit()]
    if len(years) != len(values) or not all(span[0] <= y <= span[1] for y in years):
        return None
    if isinstance(side, exp.Year) and isinstance(side.this, exp.Column):
        return side.this, False
    if isinstance(side, exp.Column):
        strings = all(v.is_string for v in values)
        if strings and all(_DATE.match(v.this) for v in values):
            return side, False
        if not strings and names_years(side.name):
            return side, True
    return None


def _within(column: exp.Expression, period: Period) -> exp.Expression:
    """``column`` within the whole year or month of ``period``."""
    return exp.and_(
        exp.GTE(this=column.copy(), expression=exp.Literal.string(period.first_day())),
        exp.LT(this=column.copy(), expression=exp.Literal.string(period.next_first_day())),
    )


def _names_a_year(tree: exp.Expression) -> bool:
    """Whether any literal of ``tree`` is or holds a year (a date, a year number)."""
    for literal in tree.find_all(exp.Literal):
        if literal.is_string and _YEAR_WORD.search(literal.this.replace("-", " ")):
            return True
        if literal.is_int and 1800 <= int(literal.this) < 2200:
            return True
    return False


def _period_column(tree: exp.Select, schema: Schema) -> tuple[exp.Column, Column] | None:
    """The period column the answer should filter, as the SQL refers to it and as the schema has it: the
    one column named for years (a table's period key, ``fiscal_year``) of the tables its select list reads
    (all of them when it reads no column, as ``count(*)``), else of all its tables, else the one date column
    of the tables its select list reads; None when there is no such single column or a table is read
    twice."""
    names = {alias.lower(): table for alias, table in outer_sources(tree, schema).items()}
    if not names:
        return None
    read: set[str] = set()
    for column in (c for e in tree.expressions for c in e.find_all(exp.Column)):
        if column.table:
            read.add(names.get(column.table.lower(), ""))
        else:
            read.update(n for n in names.values() if schema.table(n).column(column.name) is not None)
    read = {t for t in read if t} or set(names.values())

    def having(tables: set[str], kind: Callable[[Column], bool]) -> list[tuple[str, Column]]:
        return [(t, c) for t in sorted(tables) for c in schema.table(t).columns if kind(c)]

    yearly = having(read, is_year_column) or having(set(names.values()), is_year_column)
    chosen = yearly or having(read, is_dated)
    if len(chosen) != 1:
        return None
    table, column = chosen[0]
    alias = next(a for a, t in names.items() if t == table) if len(names) > 1 else None
    return exp.column(column.name, table=alias), column


def _day_column(column: Column) -> bool:
    """A DATE column: one whose values are whole days, so ``> '2015-12-31'`` starts with 2016 (a timestamp
    on that day's afternoon would not)."""
    return column.type.strip().upper() == "DATE"
