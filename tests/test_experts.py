"""The expert hub: manifests, atomic writes, compatibility checks, routing in Session, the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from finsql.ask.pairs import Pair
from finsql.errors import FinsqlError, InputError, NoValidSQL, UsageError
from finsql.lm import hub
from finsql.lm.manifest import ExpertManifest

PAIRS = [
    Pair("How many funds are there?", "SELECT count(*) FROM fund"),
    Pair("List the bond funds.", "SELECT fund_name FROM fund WHERE fund_type = 'bond'"),
    Pair("What is the total AUM?", "SELECT sum(aum_mn) FROM fund"),
    Pair("Which fund is the largest?", "SELECT fund_name FROM fund ORDER BY aum_mn DESC LIMIT 1"),
]


@pytest.fixture(scope="module")
def dbs(fund_dbs) -> tuple[Path, Path]:
    return fund_dbs


@pytest.fixture(scope="module")
def other_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with one weight changed: another base model."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.lm_head.weight[0, 0] += 1.0
    folder = tmp_path_factory.mktemp("other-model")
    model.save_pretrained(folder)
    for file in tiny_model_dir.iterdir():  # the tokenizer files
        if not (folder / file.name).exists():
            shutil.copy(file, folder / file.name)
    return folder


@pytest.fixture(scope="module")
def trained(cache, dbs, tiny_model_dir) -> str:
    from finsql.experts.config import TrainConfig
    from finsql.experts.train import train_expert

    config = TrainConfig(
        method="lora",
        name="funds-lora",
        model_name=str(tiny_model_dir),
        layers=1,
        steps=2,
        batch_size=2,
        val_split=0.25,  # one held-out pair: measured against the base model, so routing may use it
        progress=False,
    )
    train_expert(dbs[0], PAIRS, config)
    return "funds-lora"


def fake_expert(name: str, created_at: str, fingerprint="fp1", base="h1", force=False) -> Path:
    manifest = ExpertManifest(
        method="lora", schema_fingerprint=fingerprint, base_model_hash=base, shots=0, created_at=created_at
    )
    return hub.save_expert(
        name, lambda folder: (folder / "state.bin").write_bytes(b"x" * 10), manifest, force
    )


def test_weights_hash_is_sha256_prefix_and_cached(cache, tiny_model_dir, monkeypatch):
    files = sorted(tiny_model_dir.glob("*.safetensors"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    assert hub.weights_hash(str(tiny_model_dir)) == digest
    monkeypatch.setattr(hashlib, "sha256", None)  # a second call must come from the cache
    assert hub.weights_hash(str(tiny_model_dir)) == digest
    assert hub.weights_hash(str(cache / "no-such-model")) is None


def test_hub_listing_lookup_and_removal(cache):
    fake_expert("old", "2024-01-01T00:00:00+00:00")
    fake_expert("new", "2025-01-01T00:00:00+00:00")
    fake_expert("elsewhere", "2026-01-01T00:00:00+00:00", fingerprint="fp2")
    names = [m.name for m in hub.list_experts()]
    assert {"old", "new", "elsewhere"} <= set(names)
    assert [m.name for m in hub.experts_for("fp1", "h1")] == ["new", "old"]  # newest first
    assert hub.experts_for("fp1", "other") == []
    info = hub.load_manifest("new")
    assert info.format == 1 and info.metrics["adapter_bytes"] == 10 and Path(info.path).is_dir()
    for name in ("old", "new", "elsewhere"):
        hub.remove_expert(name)
    assert hub.experts_for("fp1", "h1") == []
    with pytest.raises(InputError, match="no expert named 'new'"):
        hub.load_manifest("new")
    with pytest.raises(InputError):
        hub.remove_expert("new")
    assert not [p for p in (cache / "experts").iterdir() if p.name.startswith(".")]


def test_save_is_atomic(cache):
    def crash(folder: Path) -> None:
        (folder / "adapter_model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        hub.save_expert("atomic", crash, ExpertManifest(method="lora"))
    assert not (cache / "experts" / "atomic").exists()
    assert not [p for p in (cache / "experts").iterdir() if "atomic" in p.name]

    fake_expert("atomic", "2024-01-01T00:00:00+00:00")
    with pytest.raises(UsageError, match="already exists; use --force"):
        fake_expert("atomic", "2025-01-01T00:00:00+00:00")
    with pytest.raises(RuntimeError):  # a failed forced overwrite keeps the previous expert
        hub.save_expert("atomic", crash, ExpertManifest(method="lora"), force=True)
    assert hub.load_manifest("atomic").created_at.startswith("2024")
    fake_expert("atomic", "2025-01-01T00:00:00+00:00", force=True)
    assert hub.load_manifest("atomic").created_at.startswith("2025")
    hub.remove_expert("atomic")
    assert not [p for p in (cache / "experts").iterdir() if "atomic" in p.name]


def test_routing_picks_the_matching_expert(cache, dbs, tiny_model_dir, trained, monkeypatch):
    from peft import PeftModel

    import finsql.ask.session as pipeline
    from finsql.ask.session import Session

    merged = Session(dbs[0], model_name=str(tiny_model_dir))
    assert merged.expert_name == trained and merged.lm is not None and merged.prepared.merged  # asked merged
    merged.close()
    session = Session(dbs[0], model_name=str(tiny_model_dir), merge=False)  # the adapter itself, to inspect
    assert session.expert_name == trained and session.settings.shots == 3  # the default it was trained with
    assert session.settings.style == hub.load_manifest(trained).prompt_style == "names"
    assert (
        "CREATE TABLE fund (fund_code PRIMARY KEY, "
        in session.prompts.build("How many funds are there?").text
    )
    calls = []
    real_generate = pipeline.generate
    monkeypatch.setattr(
        pipeline, "generate", lambda lm, *a, **k: calls.append(lm) or real_generate(lm, *a, **k)
    )
    try:
        answer = session.ask("How many funds are there?")
        assert answer.expert == trained
    except NoValidSQL:
        pass  # a random model rarely writes valid SQL: the expert must still have generated
    # one generation, or two when the first answer is refused and decoded again, both by the expert
    assert (
        1 <= len(calls) <= 2 and all(c is calls[0] for c in calls) and isinstance(calls[0].model, PeftModel)
    )
    session.close()

    base = Session(dbs[0], model_name=str(tiny_model_dir), expert=False, shots=2)
    assert base.expert_name is None and base.settings.shots == 2 and base.settings.style == "full"
    assert not isinstance(base.lm.model, PeftModel)
    base.close()

    named = Session(dbs[0], model_name=str(tiny_model_dir), expert=trained, shots=1)
    assert named.expert_name == trained and named.settings.shots == 3
    named.close()

    without_model = Session(dbs[0], expert=trained)  # the expert's own base model
    assert without_model.model_name == str(tiny_model_dir)
    without_model.close()


def test_no_routing_for_another_schema_or_base_model(cache, dbs, tiny_model_dir, other_model_dir, trained):
    from finsql.ask.session import Session

    other_schema = Session(dbs[1], model_name=str(tiny_model_dir))
    assert other_schema.expert_name is None
    other_schema.close()
    other_base = Session(dbs[0], model_name=str(other_model_dir))
    assert other_base.expert_name is None
    other_base.close()


def test_loading_for_another_schema_or_base_model_fails(cache, dbs, tiny_model_dir, other_model_dir, trained):
    from finsql.ask.session import Session
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect
    from finsql.lm.models import load_model

    with pytest.raises(hub.ExpertMismatch) as info:
        Session(dbs[1], model_name=str(tiny_model_dir), expert=trained)
    assert "schema" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(hub.ExpertMismatch) as info:
        Session(dbs[0], model_name=str(other_model_dir), expert=trained)
    assert "base model" in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, FinsqlError) and info.value.exit_code == 2

    con = connect(dbs[0])
    schema = introspect(con)
    con.close()
    with pytest.raises(hub.ExpertMismatch, match="base model"):
        hub.load_expert(load_model(str(other_model_dir)), trained, schema)
    forced = hub.load_expert(load_model(str(other_model_dir)), trained, schema, force=True)
    assert type(forced.model).__name__ == "PeftModelForCausalLM"


def _finsql(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if k != "FINSQL_LOAD_PLUGINS"},
        "FINSQL_CACHE_DIR": str(cache),
    }
    return subprocess.run(
        [sys.executable, "-m", "finsql", *args], capture_output=True, text=True, env=env, timeout=600
    )


def _one_line_error(proc: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr


def test_cli_train_list_show_remove(cache, dbs, tiny_model_dir, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"question": p.question, "sql": p.sql}) + "\n" for p in PAIRS))
    common = ["--db", str(dbs[0]), "--data", str(data), "--model", str(tiny_model_dir)]
    train = [
        "train",
        *common,
        "--name",
        "cli-lora",
        "--steps",
        "1",
        "--layers",
        "1",
        "--batch-size",
        "2",
        "--val-split",
        "0",
        "--threads",
        "1",
        "--set",
        "r=4",
        "--no-augment-paraphrase",
        "--prompt-gradients",
        "--no-group-by-length",
        "--synth",
        "0",  # only the given pairs (fewer than 200 would get synthesized ones mixed in)
    ]
    proc = _finsql(*train, cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert "expert cli-lora" in proc.stdout and "s/step" in proc.stdout
    assert "Traceback" not in proc.stderr

    listed = json.loads(_finsql("experts", "list", "--json", cache=cache).stdout)
    (entry,) = [m for m in listed if m["name"] == "cli-lora"]
    assert entry["metrics"]["prompt_gradients"] is True and entry["metrics"]["group_by_length"] is False
    assert entry["params"]["r"] == 4 and entry["augment"] == ["skeleton"] and entry["layers"] == 1
    shown = json.loads(_finsql("experts", "show", "cli-lora", cache=cache).stdout)
    assert shown["base_model"] == str(tiny_model_dir)

    _one_line_error(_finsql(*train, cache=cache), 2, "already exists; use --force")
    _one_line_error(_finsql("train", *common, "--name", "x", "--method", "nope", cache=cache), 2, "methods: ")
    _one_line_error(
        _finsql("ask", "How many funds?", "--expert", "cli-lora", "--no-expert", cache=cache), 2, "not both"
    )
    _one_line_error(
        _finsql("ask", "How many funds?", "--expert", "nope", "--db", str(dbs[0]), cache=cache),
        3,
        "no expert named 'nope'",
    )
    assert _finsql("experts", "rm", "cli-lora", cache=cache).returncode == 0
    _one_line_error(_finsql("experts", "show", "cli-lora", cache=cache), 3, "no expert named")


def test_an_expert_trained_with_shots_answers_with_its_own_examples(cache, dbs, tiny_model_dir, trained):
    from finsql.ask.session import Session
    from finsql.experts.config import TrainConfig
    from finsql.experts.train import train_expert

    config = TrainConfig(
        method="lora", name="funds-shots", model_name=str(tiny_model_dir), layers=1, steps=1, batch_size=2,
        val_split=0, progress=False, shots=1,
    )  # fmt: skip
    train_expert(dbs[0], PAIRS, config)
    session = Session(dbs[0], model_name=str(tiny_model_dir), expert="funds-shots", shots=3)
    assert session.settings.shots == 1 and session.retriever.pairs == PAIRS
    prompt = session.prompts.build("How many bond funds are there?")
    assert len(prompt.examples) == 1 and prompt.examples[0].question in prompt.text
    session.close()
    hub.remove_expert("funds-shots")


def test_an_example_token_budget_keeps_the_closest_examples_that_fit(
    cache, dbs, tiny_model_dir, trained, tmp_path
):
    """A budget admits the closest examples whose questions and SQL fit in it together, closest next to the
    question; an expert trained with a budget answers with the same one."""
    from finsql.ask.session import Session
    from finsql.experts.config import TrainConfig
    from finsql.experts.train import train_expert

    long_sql = "SELECT count(*) FROM fund WHERE fund_type = 'bond' AND aum_mn > 0 AND fund_name IS NOT NULL"
    pool = [
        *PAIRS,
        Pair("How many bond funds are there, counting every bond fund with assets and a name?", long_sql),
    ]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"question": p.question, "sql": p.sql}) + "\n" for p in pool))
    question = "How many bond funds are there?"
    given = dict(examples_path=path, synth_pool=0)  # this pool alone: the budget is what is measured
    plain = Session(dbs[0], model_name=str(tiny_model_dir), expert=False, shots=3, **given)
    tok = plain.lm.tokenizer
    size = {
        p.question: len(tok(f"{p.question}\n{p.sql}", add_special_tokens=False)["input_ids"]) for p in pool
    }
    ranked = plain.retriever.nearest(question, len(pool))[::-1]  # closest first
    shortest = min(range(1, len(ranked)), key=lambda i: size[ranked[i].question])
    assert shortest > 1  # a closer example is longer: the budget must skip it, not stop at it
    budget = size[ranked[0].question] + size[ranked[shortest].question]
    capped = Session(
        dbs[0],
        model_name=str(tiny_model_dir),
        expert=False,
        shots=2,
        example_tokens=budget,
        lm=plain.lm,
        **given,
    )
    assert capped.prompts.examples_for(question) == [ranked[shortest], ranked[0]]
    assert plain.prompts.examples_for(question) == plain.retriever.nearest(
        question, 3
    )  # no budget: the closest 3
    with pytest.raises(UsageError, match="at least 1"):
        Session(dbs[0], model_name=str(tiny_model_dir), expert=False, example_tokens=0)

    config = TrainConfig(
        method="lora", name="funds-budget", model_name=str(tiny_model_dir), layers=1, steps=1,
        batch_size=2, val_split=0, progress=False, shots=2, example_tokens=budget, prompt_style="names",
    )  # fmt: skip
    train_expert(dbs[0], PAIRS, config)
    assert hub.load_manifest("funds-budget").example_tokens == budget
    session = Session(dbs[0], model_name=str(tiny_model_dir), expert="funds-budget")
    assert (session.settings.shots, session.settings.example_tokens, session.settings.style) == (
        2,
        budget,
        "names",
    )
    for s in (plain, capped, session):
        s.close()
    hub.remove_expert("funds-budget")


def test_a_joint_expert_learns_every_database_of_an_import(cache, dbs, tiny_model_dir, tmp_path, monkeypatch):
    """Given an import folder, `finsql train` fits one expert for all the databases its pairs name, each pair
    prompted with its own schema; it routes to and answers on each of them, with that database's examples."""
    from finsql.ask.session import Session

    root = tmp_path / "import"
    names = ("funds_a", "funds_b")
    for name, db in zip(names, dbs, strict=True):
        (root / name).mkdir(parents=True)
        shutil.copy(db, root / name / "instance-0.duckdb")
    pairs = [dataclasses.replace(p, db=name) for name in names for p in PAIRS]
    rows = [{"question": p.question, "sql": p.sql, "db": p.db} for p in pairs]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (root / "manifest.json").write_text(
        json.dumps({"databases": dict.fromkeys(names, {}), "pair_files": {"train": "train.jsonl"}})
    )
    proc = _finsql(
        "train", "--db", str(root), "--data", str(root / "train.jsonl"), "--model", str(tiny_model_dir),
        "--name", "funds-joint", "--steps", "1", "--layers", "1", "--batch-size", "2", "--val-split", "0.25",
        "--val-ex", "2", "--shots", "1", "--threads", "1", cache=cache,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    monkeypatch.setenv("COLUMNS", "250")  # a table wide enough not to truncate cells
    listed = _finsql("experts", "list", cache=cache).stdout
    assert "funds_a" in listed and "funds_b" in listed  # the schema column names the databases
    manifest = hub.load_manifest("funds-joint")
    assert manifest.data["train_pairs"] == 6 and manifest.data["val_pairs"] == 2  # one per database
    assert manifest.database == str(root) and manifest.metrics["val_ex_n"] == 2
    fingerprints = manifest.schema_fingerprints
    assert set(fingerprints) == set(names) and len(set(fingerprints.values())) == 2
    for name in names:
        session = Session(root / name / "instance-0.duckdb", model_name=str(tiny_model_dir), expert=None)
        try:
            assert session.schema.fingerprint() == fingerprints[name]
            assert session.expert_name == "funds-joint" and session.settings.shots == 1
            assert {p.db for p in session.retriever.pairs} == {name}  # the pool holds this database's pairs
            assert session.lm is not None  # the schema check passes on each database
        finally:
            session.close()
    with pytest.raises(FinsqlError, match="trained for schema"):
        hub.check_expert(manifest, "another-schema", manifest.base_model_hash)
    hub.remove_expert("funds-joint")


def test_bundled_experts_install_once_and_stay_removed(cache, tmp_path, monkeypatch):
    shipped = tmp_path / "bundled"
    source = fake_expert("shipped", "2024-06-01T00:00:00+00:00", fingerprint="fp-demo")
    shutil.copytree(source, shipped / "shipped")
    hub.remove_expert("shipped")
    monkeypatch.setattr(hub, "bundled_dir", lambda: shipped)

    assert hub.install_bundled(name="another") == []
    assert hub.install_bundled() == ["shipped"]
    installed = hub.load_manifest("shipped")
    assert installed.source == "bundled" and installed.bundled and installed.created_at.startswith("2024-06")
    assert (Path(installed.path) / "state.bin").read_bytes() == b"x" * 10
    assert hub.install_bundled() == []  # already there

    hub.remove_expert("shipped")  # the user declines it: no automatic reinstall
    assert hub.install_bundled() == []
    assert hub.install_bundled(name="shipped") == ["shipped"]  # asked for by name
    hub.remove_expert("shipped")


def test_a_shipped_expert_that_passes_the_gate_answers_after_those_trained_here(
    cache, dbs, tiny_model_dir, trained, monkeypatch
):
    """Routing prefers an expert trained here; on a schema with none it uses a shipped expert whose own
    validation passes the gate, skips one that fails it (saying why), and never one the user removed."""
    from finsql.ask.session import Session
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect

    shipped = cache / "bundled-routing"
    other = introspect(connect(dbs[1])).fingerprint()
    for name, ex, base_ex, fingerprint in [
        ("shipped-funds", 0.5, 0.25, None),  # the schema of the expert trained here
        ("shipped-a-weak", 0.1, 0.25, other),  # routing reads shipped experts by name
        ("shipped-other", 0.5, 0.25, other),
    ]:
        shutil.copytree(hub.expert_dir(trained), shipped / name)
        manifest = json.loads((shipped / name / hub.MANIFEST).read_text())
        manifest["created_at"] = "2999-01-01T00:00:00+00:00"  # newer than every expert trained here
        manifest["metrics"] = {**manifest.get("metrics", {}), "val_ex": ex, "base_val_ex": base_ex}
        manifest["schema_fingerprint"] = fingerprint or manifest["schema_fingerprint"]
        (shipped / name / hub.MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.setattr(hub, "bundled_dir", lambda: shipped)
    base_hash = hub.load_manifest(trained).base_model_hash
    assert [m.name for m in hub.shipped_for(other, base_hash)] == ["shipped-a-weak", "shipped-other"]
    sessions = [
        Session(dbs[0], model_name=str(tiny_model_dir)),
        Session(dbs[1], model_name=str(tiny_model_dir)),
        Session(dbs[0], model_name=str(tiny_model_dir), expert="shipped-funds"),
    ]
    try:
        assert [s.expert_name for s in sessions] == [trained, "shipped-other", "shipped-funds"]
        skipped = sessions[1].route.skipped
        assert [s.expert for s in skipped] == ["shipped-a-weak"] and "below the base model" in skipped[
            0
        ].reason
        assert hub.load_manifest("shipped-other").bundled  # installed when first routed to
        hub.remove_expert("shipped-other")  # the user declines it
        declined = Session(dbs[1], model_name=str(tiny_model_dir))
        assert declined.expert_name is None
        declined.close()
    finally:
        for session in sessions:
            session.close()
        hub.remove_expert("shipped-funds")


def test_the_shipped_demo_expert_matches_the_demo_schema(demo_db):
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect

    con = connect(demo_db)
    fingerprint = introspect(con).fingerprint()
    con.close()

    shipped = hub.bundled_dir()
    manifests = [
        ExpertManifest.from_json(json.loads((p / hub.MANIFEST).read_text())) for p in shipped.iterdir()
    ]
    assert manifests, "finsql ships at least one demo expert"
    for manifest in manifests:
        assert manifest.schema_fingerprint == fingerprint
        assert manifest.base_model == "smollm2-135m-instruct"
