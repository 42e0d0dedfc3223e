"""The ``finsql`` command line (typer + rich). User mistakes end with one line on stderr and an exit code."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path

import click
import typer
from rich.syntax import Syntax
from rich.table import Table

from finsql import __version__
from finsql.bull.cli import bull_app
from finsql.console import err, out
from finsql.errors import FinsqlError, InputError, UsageError
from finsql.experts.hub_cli import hub_app
from finsql.tabular.cli import tab_app

app = typer.Typer(
    help="Ask financial databases questions in plain language (text-to-SQL on DuckDB).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Create or describe databases.", no_args_is_help=True)
app.add_typer(db_app, name="db")
experts_app = typer.Typer(help="List, show or remove trained domain experts.", no_args_is_help=True)
app.add_typer(experts_app, name="experts")
app.add_typer(bull_app, name="bull")
app.add_typer(tab_app, name="tab")
app.add_typer(hub_app, name="hub")


class Format(str, Enum):
    """Output formats of query results."""

    table = "table"
    json = "json"
    csv = "csv"


DbOption = typer.Option(
    None, "--db", help="DuckDB file or folder of CSV/Parquet files (default: the demo database)."
)
ModelOption = typer.Option(
    None, "--model", help="Hugging Face causal-LM id or local path (default: SmolLM2-135M-Instruct)."
)


class PromptStyle(str, Enum):
    """How the linked schema is written into the prompt."""

    full = "full"
    compact = "compact"
    names = "names"


class Precision(str, Enum):
    """The arithmetic training runs in."""

    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


FormatOption = typer.Option(Format.table, "--format", "-f", help="Output: table, json or csv.")
TimeoutOption = typer.Option(10.0, "--timeout", min=0.1, help="Seconds before a query is interrupted.")
MaxRowsOption = typer.Option(1000, "--max-rows", min=1, help="Rows fetched at most.")
ExpertOption = typer.Option(
    None, "--expert", help="Use this trained expert (default: the one trained for this database and model)."
)
NoExpertOption = typer.Option(False, "--no-expert", help="Use the base model, no expert.")
NoRepairOption = typer.Option(False, "--no-repair", help="Do not run the SQL repairer plugins.")


def _expert_choice(expert: str | None, no_expert: bool):
    """Session's ``expert`` argument: None (automatic), a name, or False (base model)."""
    if expert and no_expert:
        raise UsageError("give --expert or --no-expert, not both")
    return False if no_expert else expert


def _jsonable(value: object) -> object:
    """JSON-safe cell values: numbers stay numbers, dates and the rest become strings."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "__float__") and not hasattr(value, "isoformat"):
        return float(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _print_rows(columns: list[str], rows: list[tuple], fmt: Format, extra: dict | None = None) -> None:
    """Print a result as a rich table, JSON object or CSV."""
    if fmt is Format.json:
        payload = {"columns": columns, "rows": [[_jsonable(v) for v in row] for row in rows], **(extra or {})}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([[_jsonable(v) for v in row] for row in rows])
    else:
        table = Table(*columns, show_lines=False)
        for row in rows:
            table.add_row(*["NULL" if v is None else str(v) for v in row])
        out.print(table)


def _open_session(db: str | None, model: str | None = None, **kwargs):
    from finsql.db.database import resolve_database

    path = resolve_database(db)
    from finsql.ask.session import Session

    return Session(path, model_name=model, **kwargs)


ExampleTokensOption = typer.Option(
    None, "--example-tokens", min=1, help="Token budget of the retrieved examples (questions + SQL)."
)
PromptOption = typer.Option(
    PromptStyle.full,
    "--prompt",
    help="Schema in the prompt: full, compact or names (no types); an expert uses its own.",
)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question, in plain language."),
    db: str | None = DbOption,
    model: str | None = ModelOption,
    samples: int = typer.Option(
        0, "--samples", "-n", min=0, max=64, help="Sampled candidates voted with the greedy one."
    ),
    temperature: float = typer.Option(0.7, "--temperature", min=0.01, help="Sampling temperature."),
    top_p: float = typer.Option(0.95, "--top-p", min=0.01, max=1.0, help="Nucleus sampling mass."),
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
    expert: str | None = ExpertOption,
    no_expert: bool = NoExpertOption,
    no_repair: bool = NoRepairOption,
) -> None:
    """Answer QUESTION with SQL generated by the model, checked by sqlglot and run read-only on DuckDB."""
    if not question.strip():
        raise InputError("the question is empty")
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
    )
    answer = session.ask(question, samples=samples, temperature=temperature, top_p=top_p)
    info = {
        "model": session.lm.name,
        "expert": session.expert_name,
        "linked_tables": answer.linked.table_names(),
        "matched_values": answer.linked.matched_values,
        "examples": [{"question": e.question, "sql": e.sql} for e in answer.examples],
        "seconds": {k: round(v, 3) for k, v in answer.seconds.items()},
    }
    candidates = [
        {
            "sql": a.candidate.sql,
            "status": a.status,
            "group": a.group,
            "logprob": round(a.candidate.logprob, 4),
            "greedy": a.candidate.greedy,
            "reason": a.reason,
            "repaired_by": a.repaired_by,
        }
        for a in answer.decision.attempts
    ]
    if sql_only:
        sys.stdout.write(answer.sql + "\n")
        return
    if fmt is Format.json:
        extra = {
            "question": answer.question,
            "sql": answer.sql,
            "row_count": len(answer.rows),
            "truncated": answer.truncated,
            "confidence": round(answer.confidence, 4),
            "candidates": candidates,
            **info,
        }
        _print_rows(answer.columns, answer.rows, fmt, extra)
        return
    if fmt is Format.table:
        if out.is_terminal:
            out.print(Syntax(answer.sql, "sql", word_wrap=True))
        else:
            sys.stdout.write(answer.sql + "\n")
            sys.stdout.flush()
    _print_rows(answer.columns, answer.rows, fmt)
    if fmt is Format.table:
        note = f"{len(answer.rows)} row(s){' (truncated)' if answer.truncated else ''}"
        if samples:
            note += f", confidence {answer.confidence:.0%} of {len(candidates)} candidates"
        err.print(f"[dim]{note} in {answer.seconds['total']:.1f}s[/dim]")
    if explain:
        _print_explain(info, candidates)


def _print_explain(info: dict, candidates: list[dict]) -> None:
    """Human-readable account of how the answer was produced."""
    out.print(
        f"[bold]model[/bold] {info['model']}  [bold]expert[/bold] {info['expert'] or 'none (base model)'}"
    )
    out.print(f"[bold]linked tables[/bold] {', '.join(info['linked_tables'])}")
    for column, values in info["matched_values"].items():
        out.print(f"[bold]value[/bold] {column} = {', '.join(map(repr, values))}")
    for example in info["examples"]:
        out.print(f"[bold]example[/bold] {example['question']} -> {example['sql']}", highlight=False)
    for c in candidates:
        out.print(
            f"[bold]candidate[/bold] [{c['status']}] group={c['group']} lp={c['logprob']} {c['sql']}"
            f"{'  (' + c['reason'] + ')' if c['reason'] else ''}",
            highlight=False,
        )
    out.print(f"[bold]seconds[/bold] {info['seconds']}")


@app.command("sql")
def run_sql(
    statement: str = typer.Argument(..., help="A single read-only SQL query."),
    db: str | None = DbOption,
    fmt: Format = FormatOption,
    timeout: float = TimeoutOption,
    max_rows: int = MaxRowsOption,
) -> None:
    """Run your own SQL through the same validation and read-only sandbox as generated SQL."""
    from finsql.ask.sqlcheck import check_sql
    from finsql.db.database import resolve_database
    from finsql.db.sandbox import connect, run_query
    from finsql.db.schema import introspect

    con = connect(resolve_database(db))
    checked = check_sql(statement, introspect(con))
    result = run_query(con, checked.sql, timeout_s=timeout, max_rows=max_rows)
    _print_rows(result.columns, result.rows, fmt, {"sql": checked.sql, "truncated": result.truncated})


@app.command("eval")
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
) -> None:
    """Execution accuracy on DATA: results compared as multisets (ordered when the gold SQL has ORDER BY)."""
    from finsql.ask.evaluation import evaluate_targets, resolve_targets, summary_lines, write_report
    from finsql.ask.pairs import read_pairs

    pairs = read_pairs(data)[:limit]
    if not pairs:
        raise InputError(f"{data} holds no pairs")
    choice = _expert_choice(expert, no_expert)

    def open_session(path: Path):
        return _open_session(
            str(path),
            model,
            examples_path=examples,
            shots=shots,
            prompt_style=prompt.value,
            example_tokens=example_tokens,
            expert=choice,
            repair=not no_repair,
        )

    report = evaluate_targets(pairs, resolve_targets(db, pairs), open_session, samples=samples)
    if report_path:
        markdown = write_report(report, report_path)
        err.print(f"[dim]report {report_path}, {markdown}[/dim]", highlight=False)
    for line in summary_lines(report):
        out.print(line, highlight=False)


@db_app.command("init")
def db_init(force: bool = typer.Option(False, "--force", help="Rebuild even if it exists.")) -> None:
    """Build the demo financial database (done automatically on first use)."""
    from finsql.db.database import ensure_demo_db

    out.print(str(ensure_demo_db(rebuild=force)))


@db_app.command("info")
def db_info(db: str | None = DbOption, fmt: Format = FormatOption) -> None:
    """List the tables of a database with row counts, column counts and descriptions."""
    from finsql.db.database import resolve_database
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect

    path = resolve_database(db)
    con = connect(path)
    schema = introspect(con)
    rows = [
        (t.name, con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0], len(t.columns), t.comment)
        for t in schema.tables
    ]
    if fmt is Format.table:
        out.print(f"{path}  schema fingerprint {schema.fingerprint()}", highlight=False)
    _print_rows(
        ["table", "rows", "columns", "description"],
        rows,
        fmt,
        {"path": str(path), "fingerprint": schema.fingerprint()},
    )


@app.command("train")
def train_cmd(
    data: Path = typer.Option(..., "--data", help="Question/SQL pairs: JSONL or a Spider/BULL JSON array."),
    method: str = typer.Option("lora", "--method", help="PEFT method (see `finsql plugins`)."),
    name: str = typer.Option(..., "--name", help="Name of the expert to write."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="DuckDB file, folder of CSV/Parquet files, or a `finsql bull import` folder: one joint expert "
        "for every database the pairs name (default: the demo database).",
    ),
    model: str | None = ModelOption,
    data_db: str | None = typer.Option(None, "--data-db", help="Keep only the pairs of this db_id/db_name."),
    epochs: float | None = typer.Option(None, "--epochs", help="Passes over the training data (default 3)."),
    steps: int | None = typer.Option(None, "--steps", help="Optimizer steps (instead of --epochs)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Examples per step (per device)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default: per method, 2e-4 for LoRA)."),
    layers: int = typer.Option(8, "--layers", min=0, help="Adapt only the top N model layers (0 = all)."),
    settings: list[str] = typer.Option([], "--set", help="Method setting key=value (repeatable)."),
    val_split: float = typer.Option(0.1, "--val-split", min=0.0, max=0.9, help="Share of pairs held out."),
    seed: int = typer.Option(0, "--seed", help="Random seed (split, shuffling, initialisation)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint of this run."),
    no_skeleton: bool = typer.Option(False, "--no-augment-skeleton", help="No SQL-skeleton examples."),
    no_paraphrase: bool = typer.Option(False, "--no-augment-paraphrase", help="No paraphrased questions."),
    patience: int = typer.Option(3, "--patience", min=0, help="Stop after N evals without gain (0: never)."),
    eval_steps: int | None = typer.Option(None, "--eval-steps", min=1, help="Steps between evaluations."),
    val_ex: int = typer.Option(
        50, "--val-ex", min=0, help="Validation pairs answered and executed at the end (0: none)."
    ),
    shots: int = typer.Option(
        3, "--shots", min=0, max=16, help="Retrieved training pairs in each prompt, as at inference."
    ),
    prompt: PromptStyle = typer.Option(
        PromptStyle.names,
        "--prompt",
        help="Schema in the prompt: names (no column types, fastest), compact (with types) or full.",
    ),
    example_tokens: int | None = ExampleTokensOption,
    prompt_gradients: bool = typer.Option(
        False,
        "--prompt-gradients/--no-prompt-gradients",
        help="Back-propagate through the prompt positions too (the exact gradient; slower, twice the "
        "memory). Default: the prompt runs once without gradients; back-propagation covers the SQL only.",
    ),
    group_by_length: bool = typer.Option(
        True,
        "--group-by-length/--no-group-by-length",
        help="Batch examples of similar length, so batches carry little padding (off: a plain shuffle).",
    ),
    precision: Precision = typer.Option(
        Precision.auto,
        "--precision",
        help="auto: bf16 autocast on a GPU, and on a CPU where a bf16 matmul is measured 1.5x faster than "
        "fp32 (AMX, AVX512-BF16); fp32 elsewhere. bf16 or fp32 force it.",
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing expert of this name."),
) -> None:
    """Train a domain expert (a PEFT adapter) for one database schema on question/SQL pairs.

    With --db naming a `finsql bull import` folder, one joint expert is trained for every database the pairs
    name, each pair prompted with its own database's schema."""
    from finsql.experts.training import read_pairs_any, train_expert
    from finsql.lm.methods import parse_overrides
    from finsql.plugins import peft_methods

    methods = peft_methods()
    if method not in methods:
        raise UsageError(f"unknown PEFT method {method!r}; methods: {', '.join(methods) or 'none installed'}")
    if epochs is not None and steps is not None:
        raise UsageError("give --epochs or --steps, not both")
    overrides = parse_overrides(settings, methods[method].defaults)
    pairs = read_pairs_any(data, data_db)
    if not pairs:
        raise InputError(f"{data} holds no pairs")
    augment = tuple(a for a, off in (("skeleton", no_skeleton), ("paraphrase", no_paraphrase)) if not off)
    folder = train_expert(
        db,
        pairs,
        method,
        name,
        model_name=model,
        overrides=overrides,
        layers=layers,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        val_split=val_split,
        seed=seed,
        resume=resume,
        augment=augment,
        shots=shots,
        prompt_style=prompt.value,
        example_tokens=example_tokens,
        prompt_gradients=prompt_gradients,
        group_by_length=group_by_length,
        precision=precision.value,
        force=force,
        patience=patience,
        eval_steps=eval_steps,
        val_ex_limit=val_ex,
        threads=threads,
    )
    _print_expert_summary(folder)


def _print_expert_summary(folder: Path) -> None:
    from finsql.lm.hub import load_manifest

    manifest = load_manifest(folder.name)
    m = manifest.get("metrics", {})

    def fmt(value, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    val_ex = "n/a" if m.get("val_ex") is None else f"{m['val_ex']:.1%} of {m.get('val_ex_n')}"
    out.print(
        f"expert {manifest['name']} -> {folder}\n"
        f"  {manifest['method']} on {manifest['base_model']}, {m.get('steps')} steps, "
        f"{fmt(m.get('seconds_per_step'), '.2f')} s/step, {fmt(m.get('seconds'), '.0f')} s in all\n"
        f"  train loss {fmt(m.get('train_loss'), '.4f')}, val loss {fmt(m.get('val_loss'), '.4f')}, "
        f"val EX {val_ex}\n"
        f"  {m.get('trainable_params', 0):,} trainable parameters, "
        f"adapter {m.get('adapter_bytes', 0) / 1e6:.2f} MB",
        highlight=False,
    )


@experts_app.command("list")
def experts_list(as_json: bool = typer.Option(False, "--json", help="Print JSON, not a table.")) -> None:
    """List the experts (trained and bundled): schema, base model, method and validation figures."""
    from finsql.lm.hub import install_bundled, list_experts

    install_bundled()
    manifests = list_experts()
    if as_json:
        sys.stdout.write(json.dumps(manifests, indent=2, default=str) + "\n")
        return
    table = Table("expert", "method", "base model", "schema", "shots", "val loss", "val EX", "created")
    for m in manifests:
        metrics = m.get("metrics", {})
        val_loss, val_ex = metrics.get("val_loss"), metrics.get("val_ex")
        table.add_row(
            m["name"],
            str(m.get("method")),
            str(m.get("base_model")),
            _schema_cell(m),
            str(m.get("shots", 0)),
            "" if val_loss is None else f"{val_loss:.4f}",
            "" if val_ex is None else f"{val_ex:.1%}",
            str(m.get("created_at", "")),
        )
    out.print(table)


def _schema_cell(manifest: dict) -> str:
    """The schema fingerprint, or the databases of a joint expert."""
    joint = manifest.get("schema_fingerprints") or {}
    return ", ".join(joint) if joint else str(manifest.get("schema_fingerprint"))


@experts_app.command("show")
def experts_show(name: str = typer.Argument(..., help="Expert name.")) -> None:
    """Print an expert's manifest (JSON)."""
    from finsql.lm.hub import install_bundled, load_manifest

    install_bundled(name=name)
    sys.stdout.write(json.dumps(load_manifest(name), indent=2, default=str) + "\n")


@experts_app.command("rm")
def experts_rm(name: str = typer.Argument(..., help="Expert name.")) -> None:
    """Delete an expert."""
    from finsql.lm.hub import remove_expert

    remove_expert(name)
    err.print(f"removed expert {name}", highlight=False)


@app.command("plugins")
def plugins_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the loaded plugins with their versions, hooks and the PEFT methods they register."""
    from finsql.plugins import list_plugins, peft_methods

    plugins = list_plugins()
    methods = peft_methods()
    if as_json:
        payload = {
            "plugins": plugins,
            "peft_methods": [
                {"name": m.name, "description": m.description, "defaults": m.defaults}
                for m in methods.values()
            ],
        }
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    table = Table("plugin", "version", "hooks")
    for plugin in plugins:
        table.add_row(plugin["name"], str(plugin.get("version") or ""), ", ".join(plugin["hooks"]))
    out.print(table)
    methods_table = Table("PEFT method", "description")
    for method in methods.values():
        methods_table.add_row(method.name, method.description)
    out.print(methods_table)


@app.command()
def version() -> None:
    """Print the finsql version."""
    out.print(__version__)


def _add_plugin_commands() -> None:
    from finsql.plugins import add_plugin_commands

    add_plugin_commands(app)


_add_plugin_commands()

# typer >= 0.20 vendors click; older releases raise click's own exceptions
_CLI_ERRORS = (click.ClickException, getattr(typer, "TyperException", click.ClickException))
_ABORTS = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; map every user-facing failure to one stderr line and its exit code."""
    try:
        code = app(args=argv, prog_name="finsql", standalone_mode=False)
    except _ABORTS:
        err.print("aborted")
        code = 130
    except FinsqlError as exc:
        _fail(exc)
    except _CLI_ERRORS as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            err.print(exc.ctx.get_help(), highlight=False)
            code = 0
        else:
            _fail(UsageError(exc.format_message()))
    sys.exit(code if isinstance(code, int) else 0)


def _fail(exc: FinsqlError) -> None:
    message = " ".join(str(exc).split()) or type(exc).__name__
    sys.stderr.write(f"error: {message}\n")
    sys.exit(exc.exit_code)
