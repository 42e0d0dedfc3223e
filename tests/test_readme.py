"""The README's front door: its first command answers its own question right, on a fresh cache."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
GOLD = {  # the README's question -> the SQL whose result is the right answer
    "How many funds are there of each fund type?": "SELECT fund_type, count(*) FROM fund GROUP BY fund_type",
}


def first_question() -> str:
    """The question of the first ``finsql ask "..."`` in the README (its set-up command)."""
    found = re.search(r'finsql ask "([^"]+)"', README.read_text(encoding="utf-8"))
    assert found, "the README's set-up command asks a question"
    return found.group(1)


def test_the_readme_question_has_a_gold_answer_here():
    assert first_question() in GOLD, "a new README question needs its gold SQL in GOLD"


@pytest.mark.slow
def test_the_readme_first_command_prints_the_right_answer(demo_db):
    """Run as a user would (default routing, default model); the rows must equal the gold query's."""
    from finsql.db.results import results_match
    from finsql.db.sandbox import connect, run_query

    question = first_question()
    proc = subprocess.run(
        [sys.executable, "-m", "finsql", "ask", question, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    con = connect(demo_db)
    try:
        gold = run_query(con, GOLD[question], timeout_s=10.0).rows
    finally:
        con.close()
    assert results_match(gold, [tuple(row) for row in answer["rows"]], ordered=False), answer["sql"]
