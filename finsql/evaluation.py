"""Execution accuracy: run gold and predicted SQL, compare results, keep every prediction."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from finsql.console import err
from finsql.errors import FinsqlError
from finsql.pairs import Pair
from finsql.pipeline import Session
from finsql.results import results_match
from finsql.sandbox import run_query
from finsql.sqlcheck import is_ordered


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


@dataclass
class Report:
    """Execution accuracy over the usable items, with per-category figures and latency."""

    items: list[ItemResult]

    @property
    def scored(self) -> list[ItemResult]:
        """Items whose gold SQL ran (the denominator)."""
        return [i for i in self.items if i.status != "gold_error"]

    @property
    def accuracy(self) -> float:
        """Share of scored items answered correctly."""
        scored = self.scored
        return sum(i.status == "correct" for i in scored) / len(scored) if scored else 0.0

    def by_category(self) -> dict[str, dict[str, float]]:
        """Accuracy and count per category label."""
        out: dict[str, list[ItemResult]] = {}
        for item in self.scored:
            for label in item.category:
                out.setdefault(label, []).append(item)
        return {
            k: {"n": len(v), "accuracy": sum(i.status == "correct" for i in v) / len(v)}
            for k, v in sorted(out.items())
        }

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
            "seconds_p50": round(statistics.median(times), 3) if times else None,
            "seconds_mean": round(statistics.fmean(times), 3) if times else None,
            "by_category": self.by_category(),
        }

    def to_json(self) -> dict:
        """Summary plus every prediction with its status."""
        return {"summary": self.summary(), "items": [asdict(i) for i in self.items]}


def evaluate_pair(session: Session, pair: Pair, samples: int = 0) -> ItemResult:
    """Answer one pair's question and compare its result with the gold SQL's."""
    labels = list(pair.category)
    try:
        gold = run_query(session.con, pair.sql, timeout_s=session.timeout_s, max_rows=100_000)
    except FinsqlError as exc:
        return ItemResult(pair.question, pair.sql, "", "gold_error", 0.0, labels, str(exc))
    start = time.perf_counter()
    try:
        answer = session.ask(pair.question, samples=samples)
    except FinsqlError as exc:
        seconds = time.perf_counter() - start
        sql = getattr(exc, "sql", "")
        return ItemResult(pair.question, pair.sql, sql, "invalid", seconds, labels, str(exc))
    seconds = time.perf_counter() - start
    if answer.truncated:
        full = run_query(session.con, answer.sql, timeout_s=session.timeout_s, max_rows=100_000)
        rows = full.rows
    else:
        rows = answer.rows
    ok = results_match(gold.rows, rows, is_ordered(pair.sql))
    return ItemResult(pair.question, pair.sql, answer.sql, "correct" if ok else "wrong", seconds, labels)


def evaluate(session: Session, pairs: list[Pair], samples: int = 0, progress: bool = True) -> Report:
    """Evaluate every pair, with a progress bar showing the running accuracy."""
    items: list[ItemResult] = []
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("EX {task.fields[ex]:.1%}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=not progress, transient=False) as bar:
        task = bar.add_task("evaluating", total=len(pairs), ex=0.0)
        for pair in pairs:
            items.append(evaluate_pair(session, pair, samples))
            bar.update(task, advance=1, ex=Report(items).accuracy)
    return Report(items)
