"""Self-consistency: check and run every candidate, group them by result, and let the largest group win."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb

from finsql.ask.generation import Candidate
from finsql.ask.sqlcheck import check_sql
from finsql.db.results import result_key
from finsql.db.sandbox import QueryResult, run_query
from finsql.db.schema import Schema
from finsql.errors import FinsqlError


@dataclass
class Attempt:
    """What happened to one candidate: ``ok``, ``refused`` (validation) or ``error`` (execution)."""

    candidate: Candidate
    status: str
    reason: str = ""
    result: QueryResult | None = None
    group: int | None = None
    ordered: bool = False
    repaired_by: list[str] = field(default_factory=list)


@dataclass
class Decision:
    """The winning attempt (None when no candidate ran), every attempt, and the winner's vote share."""

    best: Attempt | None
    attempts: list[Attempt] = field(default_factory=list)
    confidence: float = 0.0


Repairer = Callable[[str, Schema], str]
REPAIRABLE_ERRORS = ("Binder Error", "Conversion Error")
"""DuckDB's name, grouping and type errors: a query that fails with one is worth repairing (a timeout is
not)."""


def _repaired(sql: str, schema: Schema, repairers: Sequence[tuple[str, Repairer]]) -> tuple[str, list[str]]:
    """``sql`` through every repairer in turn, and the names of those that changed it."""
    used: list[str] = []
    for name, repair in repairers:
        fixed = repair(sql, schema)
        if fixed != sql:
            sql, used = fixed, [*used, name]
    return sql, used


def run_candidate(
    candidate: Candidate,
    schema: Schema,
    con: duckdb.DuckDBPyConnection,
    timeout_s: float,
    max_rows: int,
    repairers: Sequence[tuple[str, Repairer]] = (),
) -> Attempt:
    """Validate one candidate with sqlglot (repairing it if refused), then run it in the sandbox; a query
    DuckDB's binder or a conversion refuses (a column missing from the GROUP BY, a date compared with a
    year) is repaired and run once more. A candidate that decoding revised counts as repaired by it."""
    attempt = _run_candidate(candidate, schema, con, timeout_s, max_rows, repairers)
    if candidate.revision:
        attempt.repaired_by = [candidate.revision, *attempt.repaired_by]
    return attempt


def _run_candidate(
    candidate: Candidate,
    schema: Schema,
    con: duckdb.DuckDBPyConnection,
    timeout_s: float,
    max_rows: int,
    repairers: Sequence[tuple[str, Repairer]],
) -> Attempt:
    try:
        checked = check_sql(candidate.sql, schema)
        used: list[str] = []
    except FinsqlError as exc:
        sql, used = _repaired(candidate.sql, schema, repairers)
        try:
            checked = check_sql(sql, schema) if used else None
        except FinsqlError:
            checked = None
        if checked is None:
            return Attempt(candidate, "refused", str(exc))
        candidate.sql = checked.sql
    try:
        result = run_query(con, checked.sql, timeout_s=timeout_s, max_rows=max_rows)
    except FinsqlError as exc:
        sql, more = (
            _repaired(checked.sql, schema, repairers)
            if any(e in str(exc) for e in REPAIRABLE_ERRORS)
            else ("", [])
        )
        if not more:
            return Attempt(candidate, "error", str(exc), repaired_by=used)
        try:
            rechecked = check_sql(sql, schema)
            result = run_query(con, rechecked.sql, timeout_s=timeout_s, max_rows=max_rows)
        except FinsqlError:  # the repair did not help: the first error says what was wrong
            return Attempt(candidate, "error", str(exc), repaired_by=used)
        candidate.sql, checked, used = rechecked.sql, rechecked, [*used, *more]
    return Attempt(candidate, "ok", result=result, ordered=checked.ordered, repaired_by=used)


def decide(
    candidates: list[Candidate],
    schema: Schema,
    con: duckdb.DuckDBPyConnection,
    *,
    timeout_s: float = 10.0,
    max_rows: int = 1000,
    repairers: Sequence[tuple[str, Repairer]] = (),
) -> Decision:
    """Run every candidate (identical SQL once) and vote on results; ties go to higher log-likelihood."""
    by_sql: dict[str, Attempt] = {}
    attempts = []
    for candidate in candidates:
        raw = candidate.sql
        if raw in by_sql:
            done = by_sql[raw]
            candidate.sql = done.candidate.sql
            attempts.append(
                Attempt(
                    candidate, done.status, done.reason, done.result, None, done.ordered, done.repaired_by
                )
            )
        else:
            by_sql[raw] = run_candidate(candidate, schema, con, timeout_s, max_rows, repairers)
            attempts.append(by_sql[raw])
    groups: dict[object, list[Attempt]] = {}
    for attempt in attempts:
        if attempt.status == "ok":
            groups.setdefault(result_key(attempt.result.rows, attempt.ordered), []).append(attempt)
    if not groups:
        return Decision(None, attempts, 0.0)
    for number, members in enumerate(groups.values()):
        for attempt in members:
            attempt.group = number

    def strength(members: list[Attempt]) -> tuple[int, float]:
        return len(members), sum(a.candidate.logprob for a in members) / len(members)

    winners = max(groups.values(), key=strength)
    best = max(winners, key=lambda a: (a.candidate.greedy, a.candidate.logprob))
    return Decision(best, attempts, len(winners) / len(attempts))


LOW_CONFIDENCE = 0.5
"""Below this confidence ``ask`` says the answer is uncertain (see ``assess``; chosen from the calibration
table in ``benchmarks/results/calibration-demo.json``)."""


@dataclass(frozen=True)
class Assessment:
    """How far to trust an answer: ``confidence`` in [0, 1], whether it is ``low``, and why (one phrase
    each) for the user."""

    confidence: float
    low: bool
    warnings: tuple[str, ...] = ()


def assess(decision: Decision) -> Assessment:
    """The winner's vote share times its per-token likelihood (the geometric mean of its tokens'
    probabilities), so a lone greedy answer is scored too. Low when under ``LOW_CONFIDENCE``, when the vote
    was split, when the result is empty (an instruction or a question about something the database does
    not hold often ends in a valid query with no rows), or when every candidate with the winning result
    was repaired: the likelihood is that of what the model wrote, and a run-on the repair cut away (a
    select list repeated to the token limit) scores high."""
    best = decision.best
    if best is None or best.result is None:
        return Assessment(0.0, True, ("no candidate ran",))
    confidence = decision.confidence * math.exp(min(best.candidate.logprob, 0.0))
    warnings = []
    if len(decision.attempts) > 1 and decision.confidence <= 0.5:
        agree = round(decision.confidence * len(decision.attempts))
        warnings.append(f"the candidates disagree ({agree} of {len(decision.attempts)} agree)")
    if not best.result.rows:
        warnings.append("the result is empty")
    winners = [a for a in decision.attempts if a.group == best.group]
    if all(a.repaired_by for a in winners):  # the winner may be a step's rewrite of them, repaired by none
        names = dict.fromkeys(name for a in winners for name in a.repaired_by)
        warnings.append(f"the model's SQL was repaired ({', '.join(names)})")
    if confidence < LOW_CONFIDENCE:
        warnings.append(f"the model is unsure ({confidence:.0%})")
    return Assessment(confidence, bool(warnings), tuple(warnings))
