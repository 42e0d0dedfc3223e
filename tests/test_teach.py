"""The teach loop (``finsql examples``) and gating (an expert answers by itself only when it validated at
least as well as the base model)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from finsql.ask.pairs import Pair
from finsql.ask.routing import gate_reason, route_expert
from finsql.ask.taught import TaughtStore, check_taught, question_key
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.errors import InputError, QueryFailed, SQLRefused
from finsql.lm import hub
from finsql.lm.manifest import ExpertManifest


def finsql(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "finsql", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def demo(demo_db, tmp_path, monkeypatch):
    """The demo database's connection and schema, with a cache of this test's own (taught pairs)."""
    monkeypatch.setenv("FINSQL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / demo_db.name).symlink_to(demo_db)
    con = connect(demo_db)
    yield con, introspect(con)
    con.close()


def test_a_taught_pair_is_checked_and_run_first(demo):
    con, schema = demo
    pair = check_taught("  How many   funds are there? ", "select count(*) from fund", schema, con)
    assert pair.question == "How many funds are there?" and pair.category == ("taught",)
    with pytest.raises(SQLRefused, match="unknown column"):
        check_taught("q", "SELECT nope FROM fund", schema, con)
    with pytest.raises(SQLRefused):
        check_taught("q", "DELETE FROM fund", schema, con)
    with pytest.raises(QueryFailed):
        check_taught("q", "SELECT CAST(fund_name AS INTEGER) FROM fund", schema, con)
    with pytest.raises(InputError, match="empty"):
        check_taught("  ", "SELECT 1", schema, con)


def test_store_adds_corrects_removes_and_survives_reopening(demo):
    _, schema = demo
    store = TaughtStore(schema.fingerprint())
    assert store.pairs() == []
    first = Pair("How many funds are there?", "SELECT count(*) FROM fund", ("taught",))
    other = Pair("List the bond funds", "SELECT fund_name FROM fund WHERE fund_type = 'bond'", ("taught",))
    assert store.add([first, other]) == 0
    fixed = Pair("how many funds are there", "SELECT count(fund_code) FROM fund", ("taught",))
    assert store.add([fixed]) == 1  # the same question (case and punctuation aside) is corrected
    again = TaughtStore(schema.fingerprint())
    assert [p.sql for p in again.pairs()] == [other.sql, fixed.sql]
    assert again.answer_for("HOW MANY FUNDS ARE THERE?!").sql == fixed.sql
    assert again.answer_for("How many bonds are there?") is None
    assert again.remove("1") == other and again.remove("How many funds are there?") == fixed
    with pytest.raises(InputError, match="no taught example"):
        again.remove("7")
    assert question_key(" A  b? ") == "a b"
    assert not list(again.path.parent.glob(".*"))  # atomic writes leave no temporary files


@pytest.mark.slow
def test_examples_commands_and_ask_uses_what_was_taught(demo, tmp_path):
    added = finsql("examples", "add", "How many funds are there?", "SELECT count(*) FROM fund")
    assert added.returncode == 0, added.stderr
    refused = finsql("examples", "add", "How many bonds?", "SELECT nothing FROM bond")
    assert refused.returncode == 6 and len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.stderr and "unknown column" in refused.stderr
    listed = json.loads(finsql("examples", "list", "--format", "json").stdout)
    assert listed["rows"] == [[1, "How many funds are there?", "SELECT count(*) FROM fund"]]
    source = tmp_path / "pairs.jsonl"
    source.write_text(
        json.dumps({"question": "How many bonds are there?", "sql": "SELECT count(*) FROM bond"})
        + "\n"
        + json.dumps({"question": "Broken", "sql": "SELECT x FROM nowhere"})
        + "\n"
    )
    imported = finsql("examples", "import", str(source))
    assert imported.returncode == 0 and "taught 1 pairs" in imported.stderr and "pair 2" in imported.stderr
    exported = finsql("examples", "export").stdout.splitlines()
    assert [json.loads(line)["question"] for line in exported] == [
        "How many funds are there?",
        "How many bonds are there?",
    ]
    # the taught question is answered with its SQL, no model involved, and said so
    asked = finsql("ask", "how many funds are there", "--format", "json")
    assert asked.returncode == 0, asked.stderr
    payload = json.loads(asked.stdout)
    assert payload["taught"] is True and payload["rows"] == [[38]] and payload["confidence"] == 1.0
    assert finsql("examples", "rm", "2").returncode == 0
    assert finsql("examples", "rm", "2").returncode == 3  # gone: one line, input error


def fake_expert(name: str, created: str, fingerprint: str, base_hash: str, **metrics) -> None:
    manifest = ExpertManifest(
        method="lora",
        schema_fingerprint=fingerprint,
        base_model_hash=base_hash,
        created_at=created,
        metrics=metrics,
    )
    hub.save_expert(name, lambda folder: (folder / "state.bin").write_bytes(b"x"), manifest)


def test_gate_needs_the_base_models_figure_and_at_least_its_accuracy():
    def manifest(**metrics):
        return ExpertManifest(method="lora", metrics=metrics)

    assert gate_reason(manifest(val_ex=0.5, base_val_ex=0.5, val_ex_n=10)) is None
    assert gate_reason(manifest(val_ex=0.6, base_val_ex=0.2, val_ex_n=10)) is None
    worse = gate_reason(manifest(val_ex=0.1, base_val_ex=0.3, val_ex_n=10))
    assert worse == "validation EX 10% is below the base model's 30% on 10 held-out pairs"
    assert gate_reason(manifest(val_ex=0.9)) == "not validated against the base model"


def test_routing_skips_worse_and_unmeasured_experts_and_says_why(demo, tiny_model_dir):
    _, schema = demo
    fingerprint, base = schema.fingerprint(), hub.weights_hash(str(tiny_model_dir))
    measured = dict(base_val_ex=0.3, val_ex_n=9)
    fake_expert("good", "2025-01-01T00:00:00+00:00", fingerprint, base, val_ex=0.4, **measured)
    fake_expert("weak", "2026-01-01T00:00:00+00:00", fingerprint, base, val_ex=0.1, **measured)
    fake_expert("unmeasured", "2027-01-01T00:00:00+00:00", fingerprint, base, val_ex=0.9)
    route = route_expert(schema, str(tiny_model_dir), None)
    assert route.expert == "good" and route.pool == "good"
    assert [(s.expert, s.reason.split(" ")[0]) for s in route.skipped] == [
        ("unmeasured", "not"),
        ("weak", "validation"),
    ]
    hub.remove_expert("good")
    route = route_expert(schema, str(tiny_model_dir), None)
    assert route.expert is None and len(route.skipped) == 2
    assert route.pool == "weak"  # the base model was measured with the weak expert's pool: it keeps it
    assert route_expert(schema, str(tiny_model_dir), "weak").expert == "weak"  # named, it answers
    assert route_expert(schema, str(tiny_model_dir), False).expert is None
