"""``finsql ask``, ``finsql sql`` and ``finsql eval``: answering questions and measuring the answers.

The session and the evaluation import transformers, the SQL checks sqlglot: each command imports them when
it runs, so the command line starts fast.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Literal

import typer
from rich.syntax import Syntax

from finsql.ask.pairs import read_pairs
from finsql.console import err, out
from finsql.db.database import resolve_database
from finsql.db.sandbox import connect, run_query
from finsql.db.schema import introspect
from finsql.db.worker import POOL, Limits, parse_size
from finsql.errors import InputError, NoValidSQL, UsageError
from finsql.inputs import SQL_CHARS, clean_question, clean_text
from finsql.options import (
    DbOption,
    ExampleTokensOption,
    FormatOption,
    LookupOption,
    MemoryLimitOption,
    ModelOption,
    Precision,
    PrecisionOption,
    PromptStyle,
    SynthPoolOption,
)
from finsql.output import Format, print_rows
from finsql.synth.synthesizer import is_synthetic

TimeoutOption = typer.Option(10.0, "--timeout", min=0.1, help="Seconds before a query is stopped.")
MaxRowsOption = typer.Option(1000, "--max-rows", min=1, help="Rows fetched at most.")
ExpertOption = typer.Option(
    None, "--expert", help="Use this trained expert (default: the one trained for this database and model)."
)
SeedOption = typer.Option(
    0, "--seed", help="Seed of the sampled candidates' draws (also the retry's when an answer fails)."
)
NoExpertOption = typer.Option(False, "--no-expert", help="Use the base model, no expert.")
NoRepairOption = typer.Option(False, "--no-repair", help="Do not run the SQL repairer plugins.")
NoConstrainOption = typer.Option(
    False,
    "--no-constrain",
    help="Decode freely instead of within the database's SQL grammar (to compare; more invalid SQL).",
)
NoGroundOption = typer.Option(
    False,
    "--no-ground",
    help="Let the grammar admit any value, number or date, not only the question's (to compare).",
)
NoReshapeOption = typer.Option(
    False,
    "--no-reshape",
    help="Keep the voted SQL as the model wrote it: no year bounds, named filters or one-figure answers "
    "(to compare; a how-many answered with a list is still counted).",
)
PromptOption = typer.Option(
    PromptStyle.full,
    "--prompt",
    help="Schema in the prompt: full, compact or names (no types); an expert uses its own.",
)


def add_commands(app: typer.Typer) -> None:
    """Register ``ask``, ``sql`` and ``eval`` on the ``finsql`` app."""
    app.command("ask")(ask)
    app.command("sql")(run_sql)
    app.command("eval")(evaluate_cmd)


def limit_queries(memory_limit: str | None) -> None:
    """Apply ``--memory-limit`` to the query workers of this process (``finsql.db.worker``)."""
    if memory_limit is not None:
        POOL.configure(Limits(parse_size(memory_limit)))


def _expert_choice(expert: str | None, no_expert: bool) -> str | None | Literal[False]:
    """Session's ``expert`` argument: None (automatic), a name, or False (base model)."""
    if expert and no_expert:
        raise UsageError("give --expert or --no-expert, not both")
    return False if no_expert else expert


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


def _reshaping(on: bool) -> dict[str, bool]:
    """The session's steps after the vote that ``--no-reshape`` turns off (``finsql.ask.reshape``)."""
    return {
        "year_bounds": on,
        "value_filters": on,
        "joins": on,
        "groups": on,
        "rankings": on,
        "listings": on,
        "one_figure": on,
    }


def _open_session(db: str | None, model: str | None = None, **kwargs: Any) -> Any:
    from finsql.ask.session import Session

    return Session(resolve_database(db), model_name=model, **kwargs)


def ask(
    question: str = typer.Argument(..., help="The question, in plain language."),
    db: str | None = DbOption,
    model: str | None = ModelOption,
    samples: int = typer.Option(
        0, "--samples", "-n", min=0, max=64, help="Sampled candidates voted with the greedy one."
    ),
    temperature: float = typer.Option(0.7, "--temperature", min=0.01, help="Sampling temperature."),
    top_p: float = typer.Option(0.95, "--top-p", min=0.01, max=1.0, help="Nucleus sampling mass."),
    seed: int = SeedOption,
    shots: int = typer.Option(3, "--shots", min=0, max=16, help="Retrieved example pairs in the prompt."),
    prompt: PromptStyle = PromptOption,
    example_tokens: int | None = ExampleTokensOption,
    examples: Path | None = typer.Option(
        None, "--examples", help="JSONL question/SQL pairs to draw examples from."
    ),
    fmt: Format = FormatOption,
    sql_only: bool = typer.Option(False, "--sql-only", help="Print only the chosen SQL."),
    explain: bool = typer.Option(
        False, "--explain", help="Show linked schema, examples, candidates and timings."
    ),
    timeout: float = TimeoutOption,
    max_rows: int = MaxRowsOption,
    memory_limit: str | None = MemoryLimitOption,
    expert: str | None = ExpertOption,
    no_expert: bool = NoExpertOption,
    no_repair: bool = NoRepairOption,
    no_constrain: bool = NoConstrainOption,
    no_ground: bool = NoGroundOption,
    no_reshape: bool = NoReshapeOption,
    precision: Precision = PrecisionOption,
    lookup: int = LookupOption,
    synth_pool: int = SynthPoolOption,
) -> None:
    """Answer QUESTION with SQL generated by the model, checked by sqlglot and run read-only on DuckDB."""
    question = clean_question(question)
    limit_queries(memory_limit)
    choice = _expert_choice(expert, no_expert)
    session = _open_session(
        db,
        model,
        examples_path=examples,
        shots=shots,
        prompt_style=prompt.value,
        example_tokens=example_tokens,
        timeout_s=timeout,
        max_rows=max_rows,
        expert=choice,
        repair=not no_repair,
        grammar="off" if no_constrain else "schema",
        ground=not no_ground,
        **_reshaping(not no_reshape),
        precision=precision.value,
        lookup=lookup,
        synth_pool=synth_pool,
        seed=seed,
    )
    try:
        answer = session.ask(question, samples=samples, temperature=temperature, top_p=top_p)
    except NoValidSQL as failed:
        if explain:  # what was tried, and why each candidate was refused, before the one error line
            _print_explain(
                _route_info(session, "off" if no_constrain else "schema"), _candidates(failed.attempts)
            )
        raise
    info = _route_info(session, answer.grammar) | {
        "taught": answer.taught,
        "reshape": not no_reshape,
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
    candidates = _candidates(answer.decision.attempts)
    if sql_only:
        sys.stdout.write(answer.sql + "\n")
        return
    if fmt is Format.json:
        extra = {
            "question": answer.question,
            "sql": answer.sql,
            "row_count": len(answer.rows),
            "truncated": answer.truncated,
            "confidence": round(answer.assessment.confidence, 4),
            "low_confidence": answer.assessment.low,
            "warnings": list(answer.assessment.warnings),
            "candidates": candidates,
            **info,
        }
        print_rows(answer.columns, answer.rows, fmt, extra)
        return
    if fmt is Format.table:
        if out.is_terminal:
            out.print(Syntax(answer.sql, "sql", word_wrap=True))
        else:
            sys.stdout.write(answer.sql + "\n")
            sys.stdout.flush()
    print_rows(answer.columns, answer.rows, fmt)
    if fmt is Format.table:
        _print_notes(answer, len(candidates), db)
    if explain:
        _print_explain(info, candidates)


def _route_info(session: Any, grammar: str) -> dict[str, Any]:
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


def _candidates(attempts: list) -> list[dict[str, Any]]:
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


def _print_notes(answer: Any, candidates: int, db: str | None) -> None:
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


def _print_explain(info: dict, candidates: list[dict]) -> None:
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


def run_sql(
    statement: str = typer.Argument(..., help="A single read-only SQL query."),
    db: str | None = DbOption,
    fmt: Format = FormatOption,
    timeout: float = TimeoutOption,
    max_rows: int = MaxRowsOption,
    memory_limit: str | None = MemoryLimitOption,
) -> None:
    """Run your own SQL through the same validation and read-only sandbox as generated SQL."""
    from finsql.ask.sqlcheck import check_sql

    statement = clean_text(statement, "SQL", SQL_CHARS)
    limit_queries(memory_limit)
    con = connect(resolve_database(db))
    checked = check_sql(statement, introspect(con))
    result = run_query(con, checked.sql, timeout_s=timeout, max_rows=max_rows)
    print_rows(result.columns, result.rows, fmt, {"sql": checked.sql, "truncated": result.truncated})


def evaluate_cmd(
    data: Path = typer.Option(..., "--data", help="JSONL question/SQL pairs to evaluate on."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="DuckDB file, folder of CSV/Parquet files, folder of instance-<k>.duckdb files (test-suite EX) "
        "or a `finsql bull import` folder (default: the demo database).",
    ),
    model: str | None = ModelOption,
    samples: int = typer.Option(0, "--samples", "-n", min=0, max=64, help="Sampled candidates per question."),
    seed: int = SeedOption,
    shots: int = typer.Option(3, "--shots", min=0, max=16, help="Retrieved example pairs in the prompt."),
    prompt: PromptStyle = PromptOption,
    example_tokens: int | None = ExampleTokensOption,
    examples: Path | None = typer.Option(
        None, "--examples", help="JSONL pairs to draw few-shot examples from."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate only the first N pairs."),
    report_path: Path | None = typer.Option(
        None, "--out", help="Write the full report (every prediction) as JSON, a markdown one beside it."
    ),
    expert: str | None = ExpertOption,
    no_expert: bool = NoExpertOption,
    no_repair: bool = NoRepairOption,
    no_constrain: bool = NoConstrainOption,
    no_ground: bool = NoGroundOption,
    no_reshape: bool = NoReshapeOption,
    memory_limit: str | None = MemoryLimitOption,
    precision: Precision = PrecisionOption,
    lookup: int = LookupOption,
    synth_pool: int = SynthPoolOption,
) -> None:
    """Execution accuracy on DATA: results compared as multisets (ordered when the gold SQL has ORDER BY)."""
    from finsql.ask.evaluation import evaluate_targets, resolve_targets, summary_lines, write_report

    limit_queries(memory_limit)
    pairs = read_pairs(data)[:limit]
    if not pairs:
        raise InputError(f"{data} holds no pairs")
    choice = _expert_choice(expert, no_expert)

    def open_session(path: Path) -> Any:
        return _open_session(
            str(path),
            model,
            examples_path=examples,
            shots=shots,
            prompt_style=prompt.value,
            example_tokens=example_tokens,
            expert=choice,
            repair=not no_repair,
            grammar="off" if no_constrain else "schema",
            ground=not no_ground,
            **_reshaping(not no_reshape),
            precision=precision.value,
            lookup=lookup,
            synth_pool=synth_pool,
            seed=seed,
        )

    report = evaluate_targets(pairs, resolve_targets(db, pairs), open_session, samples=samples)
    report.notes.append(
        "decoding "
        + ("free (--no-constrain)" if no_constrain else "within the schema grammar")
        + ("" if no_constrain or no_ground else ", literals grounded in the question")
        + ("; the voted SQL kept as written (--no-reshape)" if no_reshape else "")
    )
    if report_path:
        markdown = write_report(report, report_path)
        err.print(f"[dim]report {report_path}, {markdown}[/dim]", highlight=False)
    for line in summary_lines(report):
        out.print(line, highlight=False)
