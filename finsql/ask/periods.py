"""Year bounds a question states: "after 2015" is from 2016 on, "before 2000" up to 1999, "since 2020"
from 2020 on.

Grounding lets a date literal carry only the question's years, but the model still picks the bound and
its direction: ``maturity_date >= '2030-01-01'`` for "after 2030" (which keeps 2030), or
``founded_date < '2005-01-01'`` for "founded after 2005". When the question names a year once, with one of
these words, an ordering of a column against a date in that year (or of ``year(column)`` or a column
named for years, ``fiscal_year``, against the year) is rewritten to the bound the words state.
"""

from __future__ import annotations

import re

from sqlglot import exp

from finsql.ask.sqlcheck import parse_query

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
    if isinstance(side, exp.Column) and value.is_string and not isinstance(node, exp.EQ):
        match = _DATE.match(value.this)
        year = int(match.group(1)) if match else None
        if year not in bounds:
            return None
        word = bounds[year]
        if word == "after":
            return exp.GT(this=side.copy(), expression=exp.Literal.string(f"{year}-12-31"))
        return (exp.LT if word == "before" else exp.GTE)(
            this=side.copy(), expression=exp.Literal.string(f"{year}-01-01")
        )
    yearly = isinstance(side, exp.Year) or (isinstance(side, exp.Column) and "year" in side.name.lower())
    if yearly and value.is_int and int(value.this) in bounds:
        word = bounds[int(value.this)]
        kind = {"after": exp.GT, "before": exp.LT, "since": exp.GTE}[word]
        return kind(this=side.copy(), expression=value.copy())
    return None
