"""After the vote: the winning SQL reshaped to what the question asks for, each step checked by running it.

Four steps, in order, each kept only when its SQL validates and runs (and, for a filter, returns rows):
a year the question bounds ("after 2015") is bounded so (``periods``); a value the question names is
filtered on (``filters``); a figure asked for once is not given per group when the groups are single rows
or show no key (``one_figure``); a how-many question answered with a list is answered with its number of
rows (``shape``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from finsql.ask.filters import grouped_filter, named_filter
from finsql.ask.periods import year_bounded
from finsql.ask.shape import asks_for_count, count_answer
from finsql.ask.sqlcheck import aggregates, parse_query
from finsql.ask.voting import Decision

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
    unbounded: str | None = None
    unfiltered: str | None = None
    grouped: str | None = None
    counted: str | None = None


Decide = Callable[[str], Decision]
"""Validates and runs one SQL (repairers included) as the session does for a candidate."""


def reshape(
    question: str,
    decision: Decision,
    matched: dict[str, list[str]],
    decide: Decide,
    *,
    bounds: bool = True,
    filters: bool = True,
    one_figure: bool = True,
    counts: bool = True,
) -> Reshaped:
    """The decision with its winner reshaped by each step that is on and applies (see the module)."""
    out = Reshaped(decision)
    if decision.best is None:
        return out
    sql = year_bounded(question, _sql(out)) if bounds else None
    if sql is not None and (ran := _ran(decide, sql, out.decision)) is not None:
        out.unbounded, out.decision = _sql(out), ran
    for refilter in (named_filter, grouped_filter) if filters else ():
        if refilter is grouped_filter and PER_GROUP.search(question):
            continue
        sql = refilter(_sql(out), matched)
        if sql is not None and (ran := _ran(decide, sql, out.decision)) is not None and ran.best.result.rows:
            out.unfiltered, out.decision = out.unfiltered or _sql(out), ran
    sql = _ungrouped(_sql(out), decide) if one_figure and asks_one_figure(question) else None
    if sql is not None and (ran := _ran(decide, sql, out.decision)) is not None:
        out.grouped, out.decision = _sql(out), ran
    rows = out.decision.best.result.rows
    sql = count_answer(question, _sql(out), rows) if counts else None
    if sql is not None and (ran := _ran(decide, sql, out.decision)) is not None:
        out.counted, out.decision = _sql(out), ran
    return out


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


def _sql(reshaped: Reshaped) -> str:
    return reshaped.decision.best.candidate.sql
