"""The command line as users run it: separate processes, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest


def finsql(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "finsql", *args], capture_output=True, text=True, timeout=600
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert fragment.lower() in lines[0].lower()
    assert "Traceback" not in proc.stderr


def test_missing_database(tmp_path):
    assert_one_line_error(
        finsql("ask", "how many funds?", "--db", str(tmp_path / "nope.duckdb")), 4, "not found"
    )


def test_not_a_database(tmp_path):
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("hello")
    assert_one_line_error(finsql("sql", "SELECT 1", "--db", str(bogus)), 4, "bogus.duckdb")


def test_empty_question():
    assert_one_line_error(finsql("ask", "   "), 3, "empty")


def test_unknown_option():
    assert_one_line_error(finsql("ask", "how many funds?", "--frobnicate"), 2, "--frobnicate")


def test_bad_option_value():
    assert_one_line_error(finsql("ask", "x", "--format", "xml"), 2, "format")


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE fund",
        "DELETE FROM fund",
        "COPY fund TO 'leak.csv'",
        "ATTACH 'x.duckdb' AS x",
        "SET threads=1",
    ],
)
def test_sql_refused_and_database_unchanged(demo_db, statement, tmp_path):
    digest = hashlib.sha256(demo_db.read_bytes()).hexdigest()
    before = finsql("db", "info", "--format", "json")
    proc = finsql("sql", statement)
    assert_one_line_error(proc, 6, "")
    assert finsql("db", "info", "--format", "json").stdout == before.stdout
    assert hashlib.sha256(demo_db.read_bytes()).hexdigest() == digest
    assert not (tmp_path / "leak.csv").exists() and not os.path.exists("leak.csv")


def test_sql_runs_reads_as_json_and_csv(demo_db):
    proc = finsql("sql", "SELECT count(*) AS n FROM fund", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["columns"] == ["n"] and payload["rows"][0][0] > 0
    proc = finsql("sql", "SELECT 1 AS a, 'x' AS b", "--format", "csv")
    assert proc.stdout.splitlines() == ["a,b", "1,x"]


def test_row_cap_reported(demo_db):
    proc = finsql("sql", "SELECT * FROM fund_nav", "--max-rows", "5", "--format", "json")
    payload = json.loads(proc.stdout)
    assert len(payload["rows"]) == 5 and payload["truncated"] is True


def test_db_info_lists_tables(demo_db):
    payload = json.loads(finsql("db", "info", "--format", "json").stdout)
    names = [row[0] for row in payload["rows"]]
    assert {"fund", "stock", "macro_indicator"} <= set(names)
    assert all(row[3] for row in payload["rows"])  # every table has a description


@pytest.mark.parametrize("repair", [[], ["--no-repair"]])
def test_no_valid_sql_exit_code(demo_db, tiny_model_dir, repair):
    """A random tiny model cannot write valid SQL, repaired or not: exit code 6, one line."""
    args = [
        "How many funds are there?",
        "--model",
        str(tiny_model_dir),
        "--samples",
        "2",
        "--no-constrain",
        *repair,
    ]
    assert_one_line_error(finsql("ask", *args), 6, "no valid SQL")


@pytest.mark.slow
def test_ask_end_to_end_default_model(demo_db):
    proc = finsql("ask", "How many funds are there?", "--format", "json", "--samples", "2")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["sql"].lower().startswith(("select", "with"))
    assert payload["columns"] and payload["rows"]
    assert {"confidence", "candidates", "expert", "linked_tables"} <= payload.keys()
    assert payload["expert"] == "demo-lora"  # the shipped demo expert passes the gate on its schema
    assert payload["constrained"] is True and payload["grammar"] == "schema"  # on by default
    assert payload["grounded"] is True
    assert len(payload["candidates"]) == 3
    assert all({"sql", "status", "group", "repaired_by"} <= c.keys() for c in payload["candidates"])
    base = finsql("ask", "How many funds are there?", "--format", "json", "--no-expert")
    assert base.returncode in (0, 6), base.stderr  # 6: the base model wrote no valid SQL (one line)
    if base.returncode == 0:
        assert json.loads(base.stdout)["expert"] is None
    else:
        assert "Traceback" not in base.stderr and len(base.stderr.strip().splitlines()) == 1
    free = finsql("ask", "How many funds are there?", "--format", "json", "--no-constrain")
    assert free.returncode in (0, 6), free.stderr
    if free.returncode == 0:
        assert json.loads(free.stdout)["constrained"] is False
    loose = finsql("ask", "How many funds are there?", "--format", "json", "--no-ground")
    assert loose.returncode in (0, 6), loose.stderr
    if loose.returncode == 0:
        assert json.loads(loose.stdout)["grounded"] is False
    kept = finsql("ask", "How many currencies are quoted?", "--format", "json", "--no-reshape")
    assert kept.returncode in (0, 6), kept.stderr
    if kept.returncode == 0:
        payload = json.loads(kept.stdout)
        assert payload["reshape"] is False
        assert payload["unbounded"] is payload["unfiltered"] is payload["grouped"] is None
        assert payload["unjoined"] is None
    explained = finsql("ask", "How many funds are there?", "--explain")
    assert explained.returncode in (0, 6), explained.stderr  # with no valid SQL, it still explains
    assert "grammar-constrained decoding on (whole schema), literals grounded" in explained.stdout
    assert "candidate [" in explained.stdout


def test_unknown_prompt_style():
    assert_one_line_error(finsql("ask", "how many funds?", "--prompt", "tiny"), 2, "prompt")
    train = finsql("train", "--data", "x.jsonl", "--name", "x", "--prompt", "tiny")
    assert_one_line_error(train, 2, "prompt")


def test_first_line_keeps_one_line_of_any_error():
    from finsql.errors import first_line

    assert first_line(ValueError("  bad value\n  Traceback detail\n")) == "bad value"
    assert first_line(KeyError()) == "KeyError"
    assert first_line("") == ""
