"""What ``finsql ask`` reports beside the answer: who answered and how (``--explain``, the JSON fields), and
the notes under the table (confidence, warnings, how to keep the answer)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from finsql.console import err, out
from finsql.synth.synthesizer import is_synthetic

if TYPE_CHECKING:  # the session imports transformers: the command line imports it when it runs
    from finsql.ask.answer import Answer
    from finsql.ask.session import Session
    from finsql.ask.voting import Attempt

RESHAPED = (
    ("unbounded", "bounded", "to the period the question names; the model's SQL"),
    ("miscounted", "recounted", "the table the question counts; the model's SQL"),
    ("unfiltered", "filtered", "on the value the question names; the model's SQL"),
    (
        "unjoined",
        "join dropped",
        "to a table the question never names and the answer never uses; the SQL before",
    ),
    ("ungrouped", "grouped", "as the question states; the SQL before"),
    ("unranked", "ranked", "as the question's superlative asks; the SQL before"),
    ("unlisted", "listed", "showing and sorting what the question's list asks for; the SQL before"),
    ("grouped", "one figure", "asked, not one per group; the SQL before"),
    ("counted", "counted", "a how-many question answered with a list; its rows"),
)
"""The steps after the vote (``finsql.ask.reshape``) as ``--explain`` reports them, in their order."""


def route_info(session: Session, grammar: str) -> dict[str, Any]:
    """Who answered (model, expert, experts skipped and why) and the grammar: known even when no SQL ran."""
    return {
        "model": session.model_label,
        "expert": session.expert_name,
        "experts_skipped": [{"expert": s.expert, "reason": s.reason} for s in session.route.skipped],
        "constrained": grammar != "off",
        "grammar": grammar,
        "grounded": grammar != "off" and session.ground,
        "precision": session.prepared.precision if session.prepared else None,
        "merged": session.prepared.merged if session.prepared else False,
        "lookup": session.lookup,
        "sample_draft": session.sample_draft,
        "seed": session.seed,
        "synth_pool": session.synth_pool,
    }


def answer_info(session: Session, answer: Answer, reshape: bool) -> dict[str, Any]:
    """``route_info`` and what happened to this answer: the steps after the vote (the SQL before each),
    the retry, the linked tables and values, the examples shown and the seconds by stage."""
    return route_info(session, answer.grammar) | {
        "taught": answer.taught,
        "reshape": reshape,
        "counted": answer.counted_sql,
        "unfiltered": answer.unfiltered_sql,
        "unjoined": answer.unjoined_sql,
        "miscounted": answer.miscounted_sql,
        "grouped": answer.grouped_sql,
        "unbounded": answer.unbounded_sql,
        "ungrouped": answer.ungrouped_sql,
        "unranked": answer.unranked_sql,
        "unlisted": answer.unlisted_sql,
        "retry_tables": list(answer.retry_tables),
        "linked_tables": answer.linked.table_names() if answer.linked else [],
        "matched_values": answer.linked.matched_values if answer.linked else {},
        "examples": [
            {"question": e.question, "sql": e.sql, "synthesized": is_synthetic(e)} for e in answer.examples
        ],
        "seconds": {k: round(v, 3) for k, v in answer.seconds.items()},
    }


def candidates_json(attempts: list[Attempt]) -> list[dict[str, Any]]:
    """Every candidate as JSON: SQL, what happened to it, its vote group and log-likelihood."""
    return [
        {
            "sql": a.candidate.sql,
            "status": a.status,
            "group": a.group,
            "logprob": round(a.candidate.logprob, 4),
            "greedy": a.candidate.greedy,
            "reason": a.reason,
            "repaired_by": a.repaired_by,
        }
        for a in attempts
    ]


def print_notes(answer: Answer, candidates: int, db: str | None) -> None:
    """Under the table: rows, confidence and time; a warning when the answer is uncertain; how to keep
    the answer (or correct it) as a taught example."""
    assessment = answer.assessment
    note = f"{len(answer.rows)} row(s){' (truncated)' if answer.truncated else ''}"
    note += ", the taught answer" if answer.taught else f", confidence {assessment.confidence:.0%}"
    if candidates > 1:
        note += f" ({candidates} candidates)"
    err.print(f"[dim]{note} in {answer.seconds['total']:.1f}s[/dim]", highlight=False)
    if assessment.low:
        err.print(
            f"[yellow]uncertain: {'; '.join(assessment.warnings)}; check the SQL before trusting it[/yellow]",
            highlight=False,
        )
    if not answer.taught:
        where = f" --db {shlex.quote(db)}" if db else ""
        err.print(
            f"[dim]right? keep it: finsql examples add {shlex.quote(answer.question)} "
            f"{shlex.quote(answer.sql)}{where}  (or give the right SQL instead)[/dim]",
            highlight=False,
        )


def print_explain(info: dict, candidates: list[dict]) -> None:
    """Human-readable account of how the answer was produced."""
    out.print(
        f"[bold]model[/bold] {info['model']}  [bold]expert[/bold] {info['expert'] or 'none (base model)'}"
    )
    for skipped in info["experts_skipped"]:
        out.print(f"[bold]skipped expert[/bold] {skipped['expert']}: {skipped['reason']}", highlight=False)
    if info.get("taught"):
        out.print("[bold]taught[/bold] this question was taught (finsql examples): its SQL answered")
    grammar = {"schema": "on (whole schema)", "linked": "on (linked tables)", "off": "off"}[info["grammar"]]
    if info.get("grounded"):
        grammar += ", literals grounded in the question"
    out.print(f"[bold]grammar-constrained decoding[/bold] {grammar}")
    if info.get("precision"):
        merged = ", expert merged into the weights" if info["merged"] else ""
        lookup = f"{info['lookup']} tokens" if info["lookup"] else "off"
        drafts = f"{info['sample_draft']} tokens a row at first" if info["sample_draft"] else "off"
        out.print(
            f"[bold]weights[/bold] {info['precision']}{merged}; [bold]prompt lookup[/bold] {lookup}; "
            f"[bold]samples' drafts[/bold] {drafts}; [bold]seed[/bold] {info['seed']}"
        )
    for key, label, what in RESHAPED:
        if info.get(key):
            out.print(f"[bold]{label}[/bold] {what}: {info[key]}", highlight=False)
    if info.get("retry_tables"):
        tables = ", ".join(info["retry_tables"])
        out.print(
            f"[bold]retried[/bold] no candidate was valid; decoded again within the columns of {tables}"
        )
    if info.get("linked_tables"):
        out.print(f"[bold]linked tables[/bold] {', '.join(info['linked_tables'])}")
    for column, values in info.get("matched_values", {}).items():
        out.print(f"[bold]value[/bold] {column} = {', '.join(map(repr, values))}")
    for example in info.get("examples", []):
        made = " (synthesized)" if example.get("synthesized") else ""
        out.print(f"[bold]example{made}[/bold] {example['question']} -> {example['sql']}", highlight=False)
    for c in candidates:
        out.print(
            f"[bold]candidate[/bold] \\[{c['status']}] group={c['group']} lp={c['logprob']} {c['sql']}"
            f"{'  (' + c['reason'] + ')' if c['reason'] else ''}",
            highlight=False,
        )
    if "seconds" in info:
        out.print(f"[bold]seconds[/bold] {info['seconds']}")
