"""Evaluation reports and test-suite execution accuracy, with a scripted stand-in for the model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from finsql.ask.evaluation import (
    GENERATED_ROWS_NOTE,
    Report,
    evaluate,
    evaluate_pair,
    evaluate_targets,
    resolve_targets,
    summary_lines,
    write_report,
)
from finsql.ask.pairs import Pair
from finsql.ask.voting import Assessment
from finsql.db.sandbox import connect, run_query
from finsql.errors import InputError, NoValidSQL


@dataclass
class _Answer:
    sql: str
    rows: list[tuple]
    truncated: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    retry_tables: tuple[str, ...] = ()
    assessment: Assessment = field(default_factory=lambda: Assessment(0.9, False))


class ScriptedSession:
    """Answers each question with the SQL the script gives it, like ``Session`` would after generation."""

    def __init__(self, path: Path, script: dict[str, str]) -> None:
        self.con = connect(path)
        self.timeout_s = 5.0
        self.expert_name = None
        self.script = script

    def ask(
        self, question: str, samples: int = 0, grammar: str | None = None, sample_draft: int | None = None
    ) -> _Answer:
        sql = self.script[question]
        if sql.startswith("!"):
            raise NoValidSQL("no valid SQL could be produced (refused)", sql[1:])
        return _Answer(sql, run_query(self.con, sql, timeout_s=self.timeout_s).rows)

    def close(self) -> None:
        self.con.close()


def _instance(path: Path, prices: list[float]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE quote (code VARCHAR, price DOUBLE)")
    con.executemany("INSERT INTO quote VALUES (?, ?)", [(f"c{i}", p) for i, p in enumerate(prices)])
    con.close()
    return path


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """An import-like folder: database ``stock`` with two instances (rows differ), one for ``fund``."""
    _instance(tmp_path / "stock" / "instance-0.duckdb", [1.0, 5.0, 9.0])
    _instance(tmp_path / "stock" / "instance-1.duckdb", [5.0, 6.0, 7.0, 20.0])
    _instance(tmp_path / "fund" / "instance-0.duckdb", [2.0])
    manifest = {"databases": {"stock": {}, "fund": {}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return tmp_path


GOLD = "SELECT code FROM quote WHERE price > 4 ORDER BY price DESC"
PAIRS = [
    Pair("above four", GOLD, ("filter", "order_limit"), "stock"),
    Pair("max price", "SELECT max(price) FROM quote", ("aggregate",), "stock"),
    Pair("refused", "SELECT count(*) FROM quote", ("aggregate",), "stock"),
    Pair("fund count", "SELECT count(*) FROM quote", ("aggregate",), "fund"),
]
SCRIPT = {
    "above four": "SELECT code FROM quote WHERE price >= 5 ORDER BY price DESC",  # right on both instances
    "max price": "SELECT 9.0",  # right on instance 0 only
    "refused": "!SELECT nonsense",
    "fund count": "SELECT 1",
}


def test_test_suite_needs_gold_result_on_every_instance(suite: Path) -> None:
    session = ScriptedSession(suite / "stock" / "instance-0.duckdb", SCRIPT)
    other = [connect(suite / "stock" / "instance-1.duckdb")]
    right = evaluate_pair(session, PAIRS[0], instances=other)
    lucky = evaluate_pair(session, PAIRS[1], instances=other)
    alone = evaluate_pair(session, PAIRS[1])
    assert (right.status, right.instances) == ("correct", 2)
    assert lucky.status == "wrong" and lucky.detail == "differs from gold on instance 1"
    assert alone.status == "correct"


def test_invalid_and_gold_errors_keep_their_sql(suite: Path) -> None:
    session = ScriptedSession(suite / "stock" / "instance-0.duckdb", SCRIPT)
    invalid = evaluate_pair(session, PAIRS[2])
    broken = evaluate_pair(session, Pair("x", "SELECT nope FROM quote", (), "stock"))
    assert invalid.status == "invalid" and invalid.predicted_sql == "SELECT nonsense"
    assert broken.status == "gold_error" and "nope" in broken.detail
    report = Report([invalid, broken])
    assert report.summary()["scored"] == 1 and report.summary()["gold_errors"] == 1


def test_order_matters_only_when_gold_orders(suite: Path) -> None:
    script = {"q": "SELECT code FROM quote WHERE price > 4 ORDER BY price ASC"}
    session = ScriptedSession(suite / "stock" / "instance-0.duckdb", script)
    assert evaluate_pair(session, Pair("q", GOLD)).status == "wrong"
    unordered = Pair("q", "SELECT code FROM quote WHERE price > 4")
    assert evaluate_pair(session, unordered).status == "correct"


def test_resolve_targets(suite: Path) -> None:
    targets = resolve_targets(suite, PAIRS)
    assert list(targets) == ["fund", "stock"] and len(targets["stock"]) == 2
    assert resolve_targets(suite / "stock", PAIRS) == {"": targets["stock"]}
    single = suite / "fund" / "instance-0.duckdb"
    assert resolve_targets(single, PAIRS) == {"": [single]}
    with pytest.raises(InputError, match="macro"):
        resolve_targets(suite, [Pair("q", "SELECT 1", (), "macro")])


def test_evaluate_targets_breaks_down_by_database_and_category(suite: Path, tmp_path: Path) -> None:
    report = evaluate_targets(
        PAIRS, resolve_targets(suite, PAIRS), lambda path: ScriptedSession(path, SCRIPT), progress=False
    )
    summary = report.summary()
    assert summary["by_database"]["stock"] == {
        "n": 3,
        "correct": 1,
        "accuracy": 0.3333,
        "wrong": 1,
        "invalid": 1,
    }
    assert summary["by_database"]["fund"]["correct"] == 1
    assert summary["by_category"]["aggregate"]["n"] == 3
    assert GENERATED_ROWS_NOTE in report.notes and any("every instance" in n for n in report.notes)
    markdown = write_report(report, tmp_path / "out" / "report.json")
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(saved["items"]) == 4 and {i["status"] for i in saved["items"]} == {
        "correct",
        "wrong",
        "invalid",
    }
    text = markdown.read_text()
    assert "| stock | 3 | 1 | 33.3% | 1 | 1 |" in text and "differs from gold on instance 1" in text
    assert any(line.startswith("  db stock") for line in summary_lines(report))
    calibration = summary["calibration"]  # answered items only: the invalid one has no confidence
    assert calibration["[0.75, 1.00]"] == {"n": 3, "correct": 2, "accuracy": 0.6667, "wrong": 1, "invalid": 0}
    assert calibration["not flagged"]["n"] == 3 and calibration["flagged uncertain"]["n"] == 0
    assert "| [0.75, 1.00] | 3 | 2 | 66.7% | 1 | 0 |" in text


def test_evaluate_single_session_keeps_old_behaviour(suite: Path) -> None:
    session = ScriptedSession(suite / "stock" / "instance-0.duckdb", SCRIPT)
    report = evaluate(session, PAIRS[:2], progress=False)
    assert report.accuracy == 1.0 and report.notes == []
    assert summary_lines(report)[0].startswith("execution accuracy 100.0% (2/2)")


def test_paired_comparison_of_two_reports(tmp_path):
    """benchmarks/paired_ex.py: agreement counts and the exact McNemar p-value of two eval reports."""
    import importlib.util

    script = Path(__file__).parents[1] / "benchmarks" / "paired_ex.py"
    spec = importlib.util.spec_from_file_location("paired_ex", script)
    paired = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(paired)
    statuses_a = ["correct"] * 12 + ["wrong"] * 8
    statuses_b = ["correct"] * 2 + ["wrong"] * 10 + ["correct"] * 1 + ["invalid"] * 7
    for name, statuses in (("a", statuses_a), ("b", statuses_b)):
        items = [{"db": "d", "question": f"q{i}", "status": s} for i, s in enumerate(statuses)]
        (tmp_path / f"{name}.json").write_text(json.dumps({"items": items}))
    a, b = (paired.correct_by_question(tmp_path / f"{n}.json") for n in "ab")
    result = paired.compare(a, b)
    assert (result["both"], result["only_a"], result["only_b"]) == (2, 10, 1)
    assert result["mcnemar_p"] == pytest.approx(0.0117, abs=1e-4)  # 2 * P(X <= 1), X ~ Bin(11, 1/2)
    assert paired.compare(a, a)["mcnemar_p"] == 1.0
