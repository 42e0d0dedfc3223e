"""After the vote: the winning SQL reshaped to what the question asks for, each step checked by running it.

Nine steps, in order, each kept only when its SQL validates and runs (and, for a filter or a group, finds
something: rows, not one row of zeros and NULLs): a bare count of another table counts the table the question
counts (``shape``); a period the question names ("after 2015", "in 2023", "in March 2024", "between 2025 and
2026") is bounded so or added (``periods``); a value or a yes/no column the question names is filtered on
(joining the value's table when the answer does not read it; a value spelt as the column stores it), a
negation it never says turned round (``filters``) and a column the filter fixes to one value no longer shown
(``projection``); a table read only to join it, which the question never names, is dropped (``joins``); the
groups it states ("by ownership type", "at least two companies") are formed and bounded (``groups``); a
superlative ("Which fund has the highest fee?") ranks the answer and keeps the rows asked for (``ranking``); a
list "with their names" shows both halves, "in alphabetical order" sorted so (``listing``); a figure asked for
once is not given per group when the groups are single rows or show no key (``one_figure``); a how-many
question answered with a list is answered with its number of rows (``shape``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlglot import exp

from finsql.ask.comparisons import stated_bound
from finsql.ask.filters import (
    flag_filter,
    grouped_filter,
    joined_filter,
    linked_filter,
    named_filter,
    stored_spelling,
    unsaid_negation,
)
from finsql.ask.groups import count_bounded, count_formed, counted_rows, counted_values, grouped_by_named
from finsql.ask.joins import unjoined
from finsql.ask.listing import alphabetical, per_period, with_their
from finsql.ask.periods import month_narrowed, period_filter, year_bounded, year_ranged
from finsql.ask.projection import without_fixed
from finsql.ask.ranking import ranked, reranked
from finsql.ask.shape import asks_for_count, count_answer, counted_days, counted_table
from finsql.ask.sqlcheck import aggregates, parse_query
from finsql.ask.voting import Decision
from finsql.db.schema import Schema

ONE_FIGURE = re.compile(
    r"^\s*what(\s+is|'s|\s+was|\s+were|\s+are)\s+the\s+(highest|lowest|largest|smallest|biggest|maximum|"
    r"minimum|max|min|average|mean|median|total|sum|number|combined|overall|peak)\b",
    re.I,
)
"""Questions that ask for one figure ("What is the lowest minimum purchase of any fund?"), besides counts."""
PER_GROUP = re.compile(r"\b(each|every|per|by|respective|respectively|break\s*down|breakdown|group)\b", re.I)
"""Words that ask for one figure per group instead."""


@dataclass
class Reshaped:
    """The decision after reshaping, and the model's SQL before each step that changed it."""

    decision: Decision
    miscounted: str | None = None
    unjoined: str | None = None
    unbounded: str | None = None
    unfiltered: str | None = None
    ungrouped: str | None = None
    unranked: str | None = None
    unlisted: str | None = None
    grouped: str | None = None
    counted: str | None = None


Decide = Callable[[str], Decision]
"""Validates and runs one SQL (repairers included) as the session does for a candidate."""
Rewrite = Callable[[str], str | None]
"""One step's rewrite of the SQL so far, or None when it does not apply."""


def reshape(
    question: str,
    decision: Decision,
    matched: dict[str, list[str]],
    decide: Decide,
    schema: Schema,
    *,
    joins: bool = True,
    bounds: bool = True,
    filters: bool = True,
    groups: bool = True,
    rankings: bool = True,
    listings: bool = True,
    one_figure: bool = True,
    counts: bool = True,
) -> Reshaped:
    """The decision with its winner reshaped by each step that is on and applies (see the module)."""
    if decision.best is None:
        return Reshaped(decision)
    refilters = (
        lambda sql: stored_spelling(sql, schema, partial(_rows, decide)),
        lambda sql: named_filter(sql, matched),
        lambda sql: joined_filter(question, sql, matched, schema),
        lambda sql: linked_filter(sql, matched, schema),
        lambda sql: None if PER_GROUP.search(question) else grouped_filter(sql, matched),
        lambda sql: flag_filter(question, sql, schema),
        lambda sql: unsaid_negation(question, sql),
        lambda sql: stated_bound(question, sql),
        without_fixed,
    )
    figure = one_figure and asks_one_figure(question)
    recount = tuple(partial(f, question, schema=schema) for f in (counted_table, counted_days))
    periods = tuple(partial(f, question, schema=schema) for f in (period_filter, year_ranged))
    stages: list[tuple[str, bool, bool, tuple[Rewrite, ...]]] = [
        # (the Reshaped field for the SQL before, on, must find something, the rewrites in order)
        ("miscounted", counts, True, recount),
        ("unbounded", bounds, False, (partial(year_bounded, question), partial(month_narrowed, question))),
        ("unbounded", bounds, True, periods),
        ("unfiltered", filters, True, refilters),
        ("unjoined", joins, True, (lambda sql: unjoined(question, sql, schema),)),
        # again once an unused join is gone: a count or period column is no longer ambiguous
        ("miscounted", counts, True, recount),
        ("unbounded", bounds, True, periods),
        (
            "ungrouped",
            groups,
            True,
            (
                *(
                    partial(f, question, schema=schema)
                    for f in (grouped_by_named, counted_rows, count_bounded, count_formed)
                ),
                lambda sql: counted_values(question, sql, matched, schema),
            ),
        ),
        ("unranked", rankings, False, tuple(partial(f, question, schema=schema) for f in (ranked, reranked))),
        (
            "unlisted",
            listings,
            False,
            tuple(partial(f, question, schema=schema) for f in (with_their, alphabetical, per_period)),
        ),
        ("grouped", figure, False, (lambda sql: _ungrouped(sql, decide),)),
        ("counted", counts, False, (lambda sql: count_answer(question, sql, decision.best.result.rows),)),
    ]
    before: dict[str, str] = {}
    for field, on, finds, rewrites in stages:
        for rewrite in rewrites if on else ():
            sql = rewrite(decision.best.candidate.sql)
            if (
                sql is not None
                and (ran := _ran(decide, sql, decision)) is not None
                and (not finds or _found(ran))
            ):
                before.setdefault(field, decision.best.candidate.sql)
                decision = ran
    return Reshaped(decision, **before)


def asks_one_figure(question: str) -> bool:
    """Whether ``question`` asks for one number (how many, what is the highest ...) and for no group."""
    return bool(asks_for_count(question) or ONE_FIGURE.match(question)) and not PER_GROUP.search(question)


def one_figure_of(sql: str) -> tuple[str | None, str] | None:
    """For a grouped SELECT without ORDER BY, LIMIT or HAVING that aggregates: ``sql`` with its grouping
    keys and GROUP BY dropped, and the SQL counting its groups of more than one row, which must find none
    (None instead when no key is shown: figures per group with nothing to tell them apart are never the
    answer to a one-figure question). None when ``sql`` is not such a query."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or not tree.args.get("group"):
        return None
    if any(tree.args.get(k) for k in ("order", "limit", "having", "qualify", "distinct")):
        return None
    kept = [e for e in tree.expressions if aggregates(e)]
    if not kept:
        return None
    plain = tree.copy()
    plain.set("expressions", kept)
    plain.set("group", None)
    if len(kept) == len(tree.expressions):
        return None, plain.sql(dialect="duckdb")
    probe = tree.copy()
    probe.set("expressions", [exp.Literal.number(1)])
    probe = probe.having("count(*) > 1", dialect="duckdb")
    return f"SELECT count(*) FROM ({probe.sql(dialect='duckdb')}) AS g", plain.sql(dialect="duckdb")


def _ungrouped(sql: str, decide: Decide) -> str | None:
    """``sql`` as one figure over all rows (``one_figure_of``) when its grouping shows no key, or every one
    of its groups is a single row (so each aggregate is just that row's value, and a count is 1 for each)."""
    found = one_figure_of(sql)
    if found is None:
        return None
    check, plain = found
    if check is not None:
        probed = decide(check)
        if probed.best is None or probed.best.result.rows != [(0,)]:
            return None
    return plain


def _ran(decide: Decide, sql: str, before: Decision) -> Decision | None:
    """The decision of ``sql`` with the vote's attempts and confidence kept; None when it did not run."""
    ran = decide(sql)
    if ran.best is None or ran.best.result is None:
        return None
    return Decision(ran.best, before.attempts, before.confidence)


def _rows(decide: Decide, sql: str) -> list[tuple]:
    """The rows of a probe query (none when it does not run)."""
    ran = decide(sql)
    return ran.best.result.rows if ran.best is not None and ran.best.result is not None else []


def _found(decision: Decision) -> bool:
    """Whether a filter or group kept something: rows, and not a lone row of zeros and NULLs (a count or an
    average over nothing: the filter is likelier wrong than the answer none)."""
    rows = decision.best.result.rows
    return bool(rows) and not (len(rows) == 1 and all(v is None or v == 0 for v in rows[0]))
