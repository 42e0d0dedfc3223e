"""``finsql ask``, ``finsql sql`` and ``finsql eval``: answering questions and measuring the answers.

The session and the evaluation import transformers, the SQL checks sqlglot: each command imports them when
it runs, so the command line starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import typer
from rich.syntax import Syntax

from finsql.ask.explain import answer_info, candidates_json, print_explain, print_notes, route_info
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
            print_explain(
                route_info(session, "off" if no_constrain else "schema"), candidates_json(failed.attempts)
            )
        raise
    info = answer_info(session, answer, reshape=not no_reshape)
    candidates = candidates_json(answer.decision.attempts)
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
        print_notes(answer, len(candidates), db)
    if explain:
        print_explain(info, candidates)


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
