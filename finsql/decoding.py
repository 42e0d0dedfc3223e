"""Self-consistency: check and run every candidate, group them by result, and let the largest group win."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from finsql.errors import FinsqlError
from finsql.generation import Candidate
from finsql.results import result_key
from finsql.sandbox import QueryResult, run_query
from finsql.schema import Schema
from finsql.sqlcheck import check_sql


@dataclass
class Attempt:
    """What happened to one candidate: ``ok``, ``refused`` (validation) or ``error`` (execution)."""

    candidate: Candidate
    status: str
    reason: str = ""
    result: QueryResult | None = None
    group: int | None = None
    ordered: bool = False


@dataclass
class Decision:
    """The winning attempt (None when no candidate ran), every attempt, and the winner's vote share."""

    best: Attempt | None
    attempts: list[Attempt] = field(default_factory=list)
    confidence: float = 0.0


def run_candidate(
    candidate: Candidate, schema: Schema, con: duckdb.DuckDBPyConnection, timeout_s: float, max_rows: int
) -> Attempt:
    """Validate one candidate with sqlglot, then run it in the sandbox."""
    try:
        checked = check_sql(candidate.sql, schema)
    except FinsqlError as exc:
        return Attempt(candidate, "refused", str(exc))
    try:
        result = run_query(con, checked.sql, timeout_s=timeout_s, max_rows=max_rows)
    except FinsqlError as exc:
        return Attempt(candidate, "error", str(exc))
    return Attempt(candidate, "ok", result=result, ordered=checked.ordered)


def decide(
    candidates: list[Candidate],
    schema: Schema,
    con: duckdb.DuckDBPyConnection,
    *,
    timeout_s: float = 10.0,
    max_rows: int = 1000,
) -> Decision:
    """Run every candidate (identical SQL once) and vote on results; ties go to higher log-likelihood."""
    by_sql: dict[str, Attempt] = {}
    attempts = []
    for candidate in candidates:
        if candidate.sql in by_sql:
            done = by_sql[candidate.sql]
            attempts.append(Attempt(candidate, done.status, done.reason, done.result, ordered=done.ordered))
        else:
            by_sql[candidate.sql] = run_candidate(candidate, schema, con, timeout_s, max_rows)
            attempts.append(by_sql[candidate.sql])
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
