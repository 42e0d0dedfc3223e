"""Execution accuracy: run gold and predicted SQL, compare results, keep every prediction.

Test-suite execution accuracy: when a database comes as several instances (same schema, different rows,
e.g. from ``finsql bull import``), the question is asked on the first instance and the chosen SQL must
give the gold result on every instance to count as correct.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from finsql.ask.linking import embed
from finsql.ask.pairs import Pair
from finsql.ask.session import Session
from finsql.ask.sqlcheck import is_ordered
from finsql.bull.suite import instances_in, is_import, suites_in
from finsql.console import err
from finsql.db.database import resolve_database
from finsql.db.results import results_match
from finsql.db.sandbox import connect, run_query
from finsql.errors import FinsqlError, InputError
from finsql.storage import write_json_atomic, write_text_atomic

MAX_ROWS = 100_000
CONFIDENCE_BUCKETS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))
GENERATED_ROWS_NOTE = (
    "Measured on generated rows (finsql bull import), not on BULL's real rows: the published BULL figures "
    "are comparable only in spirit."
)


@dataclass
class ItemResult:
    """One evaluated question: ``correct``, ``wrong``, ``invalid`` (no valid SQL) or ``gold_error``."""

    question: str
    gold_sql: str
    predicted_sql: str
    status: str
    seconds: float
    category: list[str] = field(default_factory=list)
    detail: str = ""
    db: str = ""
    instances: int = 1
    stages: dict[str, float] = field(default_factory=dict)
    """The answer's seconds per stage (``Answer.seconds``)."""
    steps: int = 0
    """Decoding steps of the answer's generation."""
    retried: bool = False
    """No candidate validated, so the answer was decoded again within the tables it named."""
    confidence: float | None = None
    """The answer's confidence (``finsql.ask.voting.assess``); None when no SQL ran."""
    low_confidence: bool = True


def _figures(items: list[ItemResult]) -> dict:
    """Count, correct, accuracy and failures of scored items."""
    correct = sum(i.status == "correct" for i in items)
    return {
        "n": len(items),
        "correct": correct,
        "accuracy": round(correct / len(items), 4) if items else 0.0,
        "wrong": sum(i.status == "wrong" for i in items),
        "invalid": sum(i.status == "invalid" for i in items),
    }


@dataclass
class Report:
    """Execution accuracy over the usable items, per database and per category, with latency."""

    items: list[ItemResult]
    notes: list[str] = field(default_factory=list)

    @property
    def scored(self) -> list[ItemResult]:
        """Items whose gold SQL ran (the denominator)."""
        return [i for i in self.items if i.status != "gold_error"]

    @property
    def accuracy(self) -> float:
        """Share of scored items answered correctly."""
        scored = self.scored
        return sum(i.status == "correct" for i in scored) / len(scored) if scored else 0.0

    def by_category(self) -> dict[str, dict]:
        """Figures per category label (an item counts under each of its labels)."""
        out: dict[str, list[ItemResult]] = {}
        for item in self.scored:
            for label in item.category:
                out.setdefault(label, []).append(item)
        return {k: _figures(v) for k, v in sorted(out.items())}

    def by_database(self) -> dict[str, dict]:
        """Figures per database (items without one are under ``""``)."""
        out: dict[str, list[ItemResult]] = {}
        for item in self.scored:
            out.setdefault(item.db, []).append(item)
        return {k: _figures(v) for k, v in sorted(out.items())}

    def calibration(self) -> dict[str, dict]:
        """EX per confidence bucket and for answers flagged uncertain or not: whether a confident answer is
        more often right (items with no valid SQL are left out: they have no confidence)."""
        answered = [i for i in self.scored if i.confidence is not None]
        buckets: dict[str, list[ItemResult]] = {}
        for low, high in CONFIDENCE_BUCKETS:
            label = f"[{low:.2f}, {high:.2f}{']' if high == 1 else ')'}"
            buckets[label] = [i for i in answered if low <= i.confidence < high or i.confidence == high == 1]
        buckets["flagged uncertain"] = [i for i in answered if i.low_confidence]
        buckets["not flagged"] = [i for i in answered if not i.low_confidence]
        return {label: _figures(items) for label, items in buckets.items()}

    def summary(self) -> dict:
        """Headline figures as a JSON-ready dict."""
        times = [i.seconds for i in self.scored]
        return {
            "n": len(self.items),
            "scored": len(self.scored),
            "correct": sum(i.status == "correct" for i in self.scored),
            "execution_accuracy": round(self.accuracy, 4),
            "invalid": sum(i.status == "invalid" for i in self.items),
            "gold_errors": sum(i.status == "gold_error" for i in self.items),
            "instances": max((i.instances for i in self.items), default=1),
            "seconds_p50": round(statistics.median(times), 3) if times else None,
            "seconds_mean": round(statistics.fmean(times), 3) if times else None,
            "by_database": self.by_database(),
            "by_category": self.by_category(),
            "calibration": self.calibration(),
            "notes": self.notes,
        }

    def to_json(self) -> dict:
        """Summary plus every prediction with its status."""
        return {"summary": self.summary(), "items": [asdict(i) for i in self.items]}

    def to_markdown(self) -> str:
        """The summary tables and every item that was not answered correctly."""
        s = self.summary()
        lines = ["# Execution accuracy", ""]
        lines += [f"> {note}" for note in self.notes] + ([""] if self.notes else [])
        lines += [
            f"**{s['execution_accuracy']:.1%}** ({s['correct']}/{s['scored']}) over {s['instances']} "
            f"instance(s) per database; invalid {s['invalid']}, gold errors {s['gold_errors']}, "
            f"p50 {s['seconds_p50']} s/question.",
            "",
        ]
        tables = (
            ("Database", s["by_database"]),
            ("Category", s["by_category"]),
            ("Confidence", s["calibration"]),
        )
        for title, table in tables:
            lines += [f"| {title} | n | correct | EX | wrong | invalid |", "|---|---:|---:|---:|---:|---:|"]
            lines += [
                f"| {name or '-'} | {f['n']} | {f['correct']} | {f['accuracy']:.1%} | {f['wrong']} "
                f"| {f['invalid']} |"
                for name, f in table.items()
            ]
            lines.append("")
        failures = [i for i in self.items if i.status != "correct"]
        if failures:
            lines += ["## Not correct", "", "| db | status | question | gold | predicted | detail |"]
            lines.append("|---|---|---|---|---|---|")
            lines += [
                f"| {i.db} | {i.status} | {_cell(i.question)} | `{_cell(i.gold_sql)}` | "
                f"`{_cell(i.predicted_sql)}` | {_cell(i.detail)} |"
                for i in failures
            ]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|").replace("`", "'")


def summary_lines(report: Report) -> list[str]:
    """The console summary: headline, then one line per database and per category."""
    s = report.summary()
    lines = [
        f"execution accuracy {s['execution_accuracy']:.1%} ({s['correct']}/{s['scored']}), "
        f"invalid {s['invalid']}, gold errors {s['gold_errors']}, p50 {s['seconds_p50']}s/question"
        + (f", {s['instances']} instances per database" if s["instances"] > 1 else "")
    ]
    databases = s["by_database"]
    if len(databases) > 1 or "" not in databases:
        lines += [f"  db {name:<14} {f['accuracy']:.1%} of {f['n']}" for name, f in databases.items()]
    lines += [f"  {label:<17} {f['accuracy']:.1%} of {f['n']}" for label, f in s["by_category"].items()]
    lines += [f"note: {note}" for note in report.notes]
    return lines


def write_report(report: Report, path: str | os.PathLike) -> Path:
    """Write the JSON report at ``path`` and the markdown report beside it (``.md``); the markdown path."""
    path = Path(path)
    write_json_atomic(path, report.to_json())
    markdown = path.with_suffix(".md") if path.suffix != ".md" else path.with_suffix(".md.md")
    write_text_atomic(markdown, report.to_markdown())
    return markdown


def _rows_on(con: duckdb.DuckDBPyConnection, sql: str, timeout_s: float) -> list[tuple]:
    return run_query(con, sql, timeout_s=timeout_s, max_rows=MAX_ROWS).rows


def evaluate_pair(
    session: Session,
    pair: Pair,
    samples: int = 0,
    instances: Sequence[duckdb.DuckDBPyConnection] = (),
    grammar: str | None = None,
    sample_draft: int | None = None,
) -> ItemResult:
    """Answer one pair's question and compare its result with the gold SQL's, on the session's database
    and then on each further ``instances`` connection (test-suite execution accuracy); ``grammar`` and
    ``sample_draft`` override the session's (``Session.ask``)."""
    labels, count = list(pair.category), 1 + len(instances)

    def result(
        predicted: str, status: str, seconds: float, detail: str = "", spent: dict | None = None
    ) -> ItemResult:
        stages, steps = (answer.seconds, answer.steps) if answer is not None else (spent or {}, 0)
        retried = answer is not None and bool(answer.retry_tables)
        assessment = answer.assessment if answer is not None else None
        return ItemResult(
            pair.question,
            pair.sql,
            predicted,
            status,
            seconds,
            labels,
            detail,
            pair.db,
            count,
            stages,
            steps,
            retried,
            round(assessment.confidence, 4) if assessment else None,
            assessment.low if assessment else True,
        )

    answer = None
    try:
        gold = _rows_on(session.con, pair.sql, session.timeout_s)
    except FinsqlError as exc:
        return result("", "gold_error", 0.0, str(exc))
    start = time.perf_counter()
    try:
        answer = session.ask(pair.question, samples=samples, grammar=grammar, sample_draft=sample_draft)
    except FinsqlError as exc:
        spent = getattr(exc, "seconds", None)  # NoValidSQL: where the time went before it gave up
        return result(getattr(exc, "sql", ""), "invalid", time.perf_counter() - start, str(exc), spent)
    seconds = time.perf_counter() - start
    ordered = is_ordered(pair.sql)
    try:
        rows = _rows_on(session.con, answer.sql, session.timeout_s) if answer.truncated else answer.rows
    except FinsqlError as exc:
        return result(answer.sql, "wrong", seconds, f"fails on instance 0: {exc}")
    if not results_match(gold, rows, ordered):
        return result(answer.sql, "wrong", seconds, "differs from gold on instance 0")
    for k, con in enumerate(instances, 1):
        try:
            gold = _rows_on(con, pair.sql, session.timeout_s)
        except FinsqlError as exc:
            return result(answer.sql, "gold_error", seconds, f"gold fails on instance {k}: {exc}")
        try:
            rows = _rows_on(con, answer.sql, session.timeout_s)
        except FinsqlError as exc:
            return result(answer.sql, "wrong", seconds, f"fails on instance {k}: {exc}")
        if not results_match(gold, rows, ordered):
            return result(answer.sql, "wrong", seconds, f"differs from gold on instance {k}")
    return result(answer.sql, "correct", seconds)


def _progress(total: int, enabled: bool) -> Progress:
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("EX {task.fields[ex]:.1%}"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=err, disable=not enabled, transient=False)


def _advance(bar: Progress, task: int, items: list[ItemResult], total: int) -> None:
    """Move the bar; without a terminal (a log file) the bar is off, so print a line per 10% instead."""
    accuracy = Report(items).accuracy
    bar.update(task, advance=1, ex=accuracy)
    done, every = len(items), max(1, total // 10)
    if not bar.disable and not err.is_terminal and (done % every == 0 or done == total):
        err.print(f"evaluated {done}/{total}  EX {accuracy:.1%}", highlight=False)


def _embed_questions(pairs: Sequence[Pair]) -> None:
    """One batched embedding pass over the questions; each later lookup (linking, examples) is a memo hit."""
    embed([pair.question for pair in pairs])


def evaluate(
    session: Session,
    pairs: list[Pair],
    samples: int = 0,
    progress: bool = True,
    instances: Sequence[duckdb.DuckDBPyConnection] = (),
) -> Report:
    """Evaluate every pair, with a progress bar showing the running accuracy."""
    items: list[ItemResult] = []
    _embed_questions(pairs)
    with _progress(len(pairs), progress) as bar:
        task = bar.add_task("evaluating", total=len(pairs), ex=0.0)
        for pair in pairs:
            items.append(evaluate_pair(session, pair, samples, instances))
            _advance(bar, task, items, len(pairs))
    return Report(items)


def resolve_targets(db: str | os.PathLike | None, pairs: Sequence[Pair]) -> dict[str, list[Path]]:
    """Where to evaluate: ``{database: instance paths}``, asked on the first path.

    ``db`` may be a DuckDB file, a folder of CSV/Parquet files or None (the demo database): one target,
    key ``""``, for every pair; a folder of ``instance-<k>.duckdb`` files: the same with several
    instances; or a ``finsql bull import`` folder: one target per database, pairs go by their ``db``.
    """
    path = Path(db).expanduser() if db not in (None, "") else None
    if path is not None and path.is_dir():
        if is_import(path):
            suites = suites_in(path)
            missing = sorted({p.db or "(none)" for p in pairs} - set(suites))
            if missing:
                raise InputError(
                    f"{path} holds no instances of database(s) {', '.join(missing)} named by pairs"
                )
            return {name: suites[name] for name in sorted({p.db for p in pairs})}
        found = instances_in(path)
        if found:
            return {"": found}
    return {"": [resolve_database(db)]}


def evaluate_targets(
    pairs: list[Pair],
    targets: dict[str, list[Path]],
    open_session: Callable[[Path], Session],
    samples: int = 0,
    progress: bool = True,
    notes: Sequence[str] = (),
) -> Report:
    """Evaluate ``pairs`` on ``targets`` (see ``resolve_targets``): one session per database, opened on
    its first instance by ``open_session``, predictions checked on all its instances."""

    items: list[ItemResult] = []
    _embed_questions(pairs)
    with _progress(len(pairs), progress) as bar:
        task = bar.add_task("evaluating", total=len(pairs), ex=0.0)
        for name, paths in targets.items():
            chosen = [p for p in pairs if not name or p.db == name]
            if not chosen:
                continue
            session = open_session(paths[0])
            extra = [connect(p) for p in paths[1:]]
            try:
                if session.expert_name:
                    err.print(f"[dim]{name or paths[0]}: expert {session.expert_name}[/dim]", highlight=False)
                for pair in chosen:
                    items.append(evaluate_pair(session, pair, samples, extra))
                    _advance(bar, task, items, len(pairs))
            finally:
                for con in extra:
                    con.close()
                session.close()
    all_notes = list(notes)
    if any(len(paths) > 1 for paths in targets.values()):
        all_notes.append("Test-suite EX: a prediction is correct only if it matches gold on every instance.")
    if any(is_import(paths[0].parent.parent) for paths in targets.values()):
        all_notes.append(GENERATED_ROWS_NOTE)
    return Report(items, all_notes)
