"""Training experts on the tiny model: prompts, batching, augmentation, resume, determinism, atomic saves."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from finsql.ask.pairs import Pair, demo_pairs, read_pairs
from finsql.errors import InputError, UsageError
from finsql.experts.training import (
    SKELETON_MARKER,
    Collator,
    Example,
    LengthGroupedSampler,
    _ExcludingRetriever,
    paraphrase_question,
    read_pairs_any,
    sql_skeleton,
    train_expert,
    wrap_for_training,
)

SMALL_PAIRS = [
    Pair(q, s)
    for q, s in [
        ("How many funds are there?", "SELECT count(*) FROM fund"),
        ("List the bond funds.", "SELECT fund_name FROM fund WHERE fund_type = 'bond'"),
        ("What is the total AUM?", "SELECT sum(aum_mn) FROM fund"),
        ("Which fund is the largest?", "SELECT fund_name FROM fund ORDER BY aum_mn DESC LIMIT 1"),
        (
            "Show me the top 2 funds by AUM.",
            "SELECT fund_name, aum_mn FROM fund ORDER BY aum_mn DESC LIMIT 2",
        ),
        (
            "What is the average AUM of equity funds?",
            "SELECT avg(aum_mn) FROM fund WHERE fund_type = 'equity'",
        ),
        ("How many bond funds are there?", "SELECT count(*) FROM fund WHERE fund_type = 'bond'"),
        (
            "List each fund type with its fund count.",
            "SELECT fund_type, count(*) FROM fund GROUP BY fund_type",
        ),
    ]
]


@pytest.fixture(scope="module")
def small_db(fund_dbs) -> Path:
    return fund_dbs[0]


def train(db, method, name, model_dir, pairs=SMALL_PAIRS, **kwargs) -> Path:
    options = dict(
        model_name=str(model_dir),
        layers=1,
        steps=6,
        batch_size=2,
        val_split=0.25,
        eval_steps=3,
        progress=False,
        val_ex_limit=1,
        force=True,
        precision="fp32",  # exact comparisons below; bf16 autocast has its own test
    )
    options.update(kwargs)
    return train_expert(db, list(pairs), method, name, **options)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    (file,) = [f for f in folder.iterdir() if f.suffix == ".safetensors"]
    return load_file(str(file))


def manifest(folder: Path) -> dict:
    return json.loads((folder / "finsql-expert.json").read_text())


# ---- augmentation and data --------------------------------------------------------------------------------


def test_sql_skeleton_replaces_every_literal():
    sql = "SELECT name FROM fund WHERE fund_type = 'bond' AND aum_mn > 12.5 ORDER BY aum_mn DESC LIMIT 3"
    skeleton = sql_skeleton(sql)
    assert skeleton == "SELECT name FROM fund WHERE fund_type = _ AND aum_mn > _ ORDER BY aum_mn DESC LIMIT _"
    assert sql_skeleton("SELECT FROM WHERE (") is None


def test_paraphrase_rules_and_determinism():
    assert {paraphrase_question("How many funds are there?", seed) for seed in range(5)} == {
        "What is the number of funds?"
    }
    rewrites = {paraphrase_question("List the top 5 stocks by market value", seed) for seed in range(20)}
    assert rewrites == {
        "Which are the top 5 stocks by market value",
        "List the 5 highest stocks by market value",
        "Which are the 5 highest stocks by market value",
    }  # the seed picks the rules
    assert paraphrase_question("Which funds had the largest return?", 0) in {
        "List the funds that had the largest return.",
        "List the funds that had the biggest return.",
        "Which funds had the biggest return?",
    }
    assert paraphrase_question("Which managers left in 2019?", 0) == "What managers left in 2019?"
    assert paraphrase_question("Show me each company", 3) == paraphrase_question("Show me each company", 3)
    assert paraphrase_question("Revenue of 'Show me Ltd'?", 0) is None  # quoted values are never rewritten
    assert paraphrase_question("Name the fund managers.", 0) is None
    text = paraphrase_question("What is the average price of 'Average Corp'?", 1)
    assert text is not None and "'Average Corp'" in text


def test_training_retrieval_never_shows_a_pair_its_own_sql():
    """A paraphrase's nearest pair is the one it rewrites: as a shot it would hand the model the gold SQL."""
    from finsql.ask.pairs import ExampleRetriever

    plain = ExampleRetriever(SMALL_PAIRS)
    excluding = _ExcludingRetriever(plain, seed=0)
    rewritten = 0
    for pair in SMALL_PAIRS:
        rewrite = paraphrase_question(pair.question, 0)
        if rewrite is not None:
            rewritten += 1
            assert plain.nearest(rewrite, 1) == [pair]  # the leak the exclusion exists for
        for question in filter(None, (pair.question, rewrite)):
            shots = excluding.nearest(question, 3)
            assert len(shots) == 3 and pair not in shots
            assert shots == [p for p in plain.nearest(question, 5) if p is not pair][-3:]  # still the closest
    assert rewritten >= 3


def test_read_pairs_any_jsonl_spider_bull(tmp_path):
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"question": "q1", "sql": "SELECT 1"}\n\n{"question": "q2", "query": "SELECT 2"}\n')
    assert [(p.question, p.sql) for p in read_pairs_any(jsonl)] == [("q1", "SELECT 1"), ("q2", "SELECT 2")]
    spider = tmp_path / "spider.json"
    spider.write_text(
        json.dumps(
            [
                {"db_id": "bank", "question": "a", "query": "SELECT 1"},
                {"db_id": "shop", "question": "b", "query": "SELECT 2"},
            ]
        )
    )
    assert [p.db for p in read_pairs_any(spider)] == ["bank", "shop"]
    assert [p.question for p in read_pairs_any(spider, db="shop")] == ["b"]
    with pytest.raises(InputError, match="bank, shop"):
        read_pairs_any(spider, db="nope")
    bull = tmp_path / "bull.json"
    bull.write_text(json.dumps([{"question": "c", "sql_query": "SELECT 3", "db_name": "ccks_fund"}]))
    assert read_pairs_any(bull, db="ccks_fund") == [Pair("c", "SELECT 3", (), "ccks_fund")]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"question": "no sql"}]))
    with pytest.raises(InputError, match="no SQL"):
        read_pairs_any(broken)


def test_length_grouped_sampler_is_seeded_and_groups_lengths():
    lengths = [(i * 37) % 101 + 1 for i in range(203)]
    sampler = LengthGroupedSampler(lengths, batch_size=8, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(203)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    batches = [first[i : i + 8] for i in range(0, 200, 8)]
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert sum(spread) / len(spread) < 15  # random batches would spread ~70
    assert list(LengthGroupedSampler(lengths, 8, seed=3)) == first
    shuffled = list(LengthGroupedSampler(lengths, 8, seed=3, mega=1))  # --no-group-by-length
    assert sorted(shuffled) == list(range(203)) and shuffled != first
    plain = [shuffled[i : i + 8] for i in range(0, 200, 8)]
    assert sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plain) / len(plain) > 40


def test_fast_collator_loss_equals_full_loss(tiny_model_dir):
    """Left padding + logits_to_keep computes exactly the loss of plain right padding."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    features = [Example(list(range(5, 25)), 15, "sql"), Example(list(range(30, 42)), 4, "sql")]
    with torch.no_grad():
        fast = model(**Collator(0, fast=True)(features)).loss
        plain = model(**Collator(0, fast=False)(features)).loss
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)


def test_layers_limit_per_method(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from finsql.plugins import peft_methods

    methods = peft_methods()
    expected = {"lora": "layers_to_transform", "ia3": "frozen-below", "bitfit": "frozen-below"}
    for name, how in expected.items():
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        model, applied = wrap_for_training(methods[name], base, dict(methods[name].defaults), 1, 10)
        assert applied == how
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert trainable and all(".layers.1." in n for n in trainable), (name, trainable)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompt = methods["prompt-tuning"]
    assert wrap_for_training(prompt, base, dict(prompt.defaults), 1, 10)[1] == "not-layered"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert wrap_for_training(methods["lora"], base, dict(methods["lora"].defaults), 0, 10)[1] == "all"


# ---- training ---------------------------------------------------------------------------------------------


def test_train_lora_on_demo_pairs(cache, demo_db, tiny_model_dir):
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect
    from finsql.lm.hub import weights_hash

    pairs = read_pairs(demo_pairs("train"))[:10]
    folder = train(demo_db, "lora", "demo-lora", tiny_model_dir, pairs=pairs, steps=2, val_split=0.2)
    assert folder == cache / "experts" / "demo-lora"
    assert {"adapter_config.json", "adapter_model.safetensors", "finsql-expert.json"} <= {
        p.name for p in folder.iterdir()
    }
    info = manifest(folder)
    con = connect(demo_db)
    assert info["schema_fingerprint"] == introspect(con).fingerprint()
    con.close()
    assert info["base_model_hash"] == weights_hash(str(tiny_model_dir))
    assert (info["method"], info["layers"], info["layers_applied"], info["shots"]) == (
        "lora",
        1,
        "layers_to_transform",
        3,  # retrieved examples by default, as at inference
    )
    assert info["params"]["r"] == 8 and info["augment"] == ["skeleton", "paraphrase"]
    assert info["data"]["train_pairs"] == 8 and info["data"]["val_pairs"] == 2
    assert info["data"]["train_skeleton"] == 8 and info["data"]["train_paraphrase"] > 0
    assert info["data"]["train_tokens_median"] > 100  # system prompt, schema and three examples
    metrics = info["metrics"]
    assert metrics["steps"] == 2 and metrics["val_ex_n"] == 1 and metrics["val_ex"] == 0.0
    for key in ("train_loss", "val_loss", "seconds", "seconds_per_step", "trainable_params", "adapter_bytes"):
        assert metrics[key] > 0, key
    assert len(info["data"]["hash"]) == 16 and info["created_at"].endswith("+00:00")
    assert json.loads((folder / "adapter_config.json").read_text())["layers_to_transform"] == [1]
    assert not (cache / "runs" / "demo-lora").exists()  # checkpoints are dropped once the expert is saved

    code = (
        "import sys; from transformers import AutoModelForCausalLM; from peft import PeftModel\n"
        "model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(sys.argv[1]), sys.argv[2])\n"
        "print(type(model).__name__, sum(p.numel() for n, p in model.named_parameters() if 'lora_' in n))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSQL")}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tiny_model_dir), str(folder)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["PeftModelForCausalLM", str(metrics["trainable_params"])]


def test_training_prompt_is_the_inference_prompt(cache, small_db, tiny_model_dir):
    from finsql.ask.session import Session
    from finsql.experts.training import build_examples, end_of_turn_id

    session = Session(small_db, model_name=str(tiny_model_dir), shots=0, expert=False)
    tok = session.lm.tokenizer
    examples, stats = build_examples(session, SMALL_PAIRS[:2], ("skeleton",))
    assert stats["sql"] == 2 and stats["skeleton"] == 2
    prompt = session.prompt_for(SMALL_PAIRS[1].question)[0]
    plain, skeleton = examples[2], examples[3]
    assert plain.input_ids[: plain.prompt_len] == tok(prompt, add_special_tokens=False)["input_ids"]
    assert (
        tok.decode(plain.input_ids[plain.prompt_len :])
        == " fund_name FROM fund WHERE fund_type = 'bond'<|im_end|>"
    )
    assert plain.input_ids[-1] == end_of_turn_id(tok) == tok.convert_tokens_to_ids("<|im_end|>")
    skeleton_prompt = tok.decode(skeleton.input_ids[: skeleton.prompt_len])
    assert f"{SKELETON_MARKER} List the bond funds." in skeleton_prompt and skeleton_prompt.endswith("SELECT")
    assert tok.decode(skeleton.input_ids[skeleton.prompt_len :]).startswith(
        " fund_name FROM fund WHERE fund_type = _"
    )
    session.close()


@pytest.fixture(scope="module")
def lora_uninterrupted(cache, small_db, tiny_model_dir) -> Path:
    return train(small_db, "lora", "lora-full", tiny_model_dir)


def _crash_at(step: int):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise KeyboardInterrupt(f"killed after the checkpoint of step {step}")

    return Crash()


@pytest.mark.parametrize("method", ["lora", "bitfit"])
def test_resume_after_a_crash_matches_the_uninterrupted_run(
    method, cache, small_db, tiny_model_dir, lora_uninterrupted
):
    full = (
        lora_uninterrupted if method == "lora" else train(small_db, method, f"{method}-full", tiny_model_dir)
    )
    name = f"{method}-resumed"
    with pytest.raises(KeyboardInterrupt):
        train(small_db, method, name, tiny_model_dir, callbacks=[_crash_at(3)])
    assert not (cache / "experts" / name).exists()
    assert (cache / "runs" / name / "checkpoint-3").is_dir()
    resumed = train(small_db, method, name, tiny_model_dir, resume=True)
    expected, got = weights(full), weights(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)
    a, b = manifest(full)["metrics"], manifest(resumed)["metrics"]
    assert a["steps"] == b["steps"] == 6
    for key in ("train_loss", "train_loss_mean", "val_loss", "best_val_loss"):
        assert b[key] == pytest.approx(a[key], abs=1e-6), key


def test_resume_refuses_other_settings(cache, small_db, tiny_model_dir):
    with pytest.raises(KeyboardInterrupt):
        train(small_db, "lora", "lora-changed", tiny_model_dir, callbacks=[_crash_at(3)])
    with pytest.raises(UsageError, match="other settings .*lr"):
        train(small_db, "lora", "lora-changed", tiny_model_dir, resume=True, lr=1e-3)


def test_same_seed_same_adapter(cache, small_db, tiny_model_dir, lora_uninterrupted):
    again = train(small_db, "lora", "lora-again", tiny_model_dir)
    expected, got = weights(lora_uninterrupted), weights(again)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_activation_cache_gives_the_same_adapter(cache, small_db, tiny_model_dir, monkeypatch):
    """From the second epoch on, batches start from the cached input of the first adapted layer."""
    import finsql.experts.training

    options = dict(steps=None, epochs=3, eval_steps=4)
    plain = train(small_db, "lora", "no-cache", tiny_model_dir, activation_cache=False, **options)
    cached = train(small_db, "lora", "cache", tiny_model_dir, **options)
    assert manifest(plain)["metrics"]["cached_batches"] == 0
    assert manifest(cached)["metrics"]["cached_batches"] > 10
    assert manifest(cached)["metrics"]["activation_cache"]
    one_pass = train(small_db, "lora", "one-pass", tiny_model_dir, steps=None, epochs=1, eval_steps=4)
    assert not manifest(one_pass)["metrics"]["activation_cache"]  # nothing would ever be read back
    expected, got = weights(plain), weights(cached)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)
    for key in ("train_loss", "val_loss"):
        assert manifest(cached)["metrics"][key] == pytest.approx(manifest(plain)["metrics"][key], abs=1e-6)

    skip = finsql.experts.training._skip_class()

    class WrongSkip(skip):  # a model the cache does not fit: the check must turn the cache off
        def forward(self, hidden_states, *args, **kwargs):
            return hidden_states * 2

    monkeypatch.setattr(finsql.experts.training, "_skip_class", lambda: WrongSkip)
    checked = train(small_db, "lora", "cache-off", tiny_model_dir, **options)
    assert manifest(checked)["metrics"]["cached_batches"] == 0
    got = weights(checked)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)


def test_without_prompt_gradients_same_loss_and_the_cache_still_fits(cache, small_db, tiny_model_dir):
    """The prompt runs once without autograd: the same forward values (first step's loss), a different
    gradient (only through the target window), and from the second epoch on the cached batches train
    exactly as uncached ones do."""
    first = dict(steps=1, val_split=0.0, val_ex_limit=0)
    exact = train(small_db, "lora", "exact-1", tiny_model_dir, prompt_gradients=True, **first)
    detached = train(small_db, "lora", "detached-1", tiny_model_dir, prompt_gradients=False, **first)
    assert manifest(detached)["metrics"]["prompt_gradients"] is False
    assert manifest(exact)["metrics"]["prompt_gradients"] is True
    loss = manifest(exact)["metrics"]["train_loss"]
    assert manifest(detached)["metrics"]["train_loss"] == pytest.approx(loss, rel=1e-5)
    before, after = weights(exact), weights(detached)
    assert any(not torch.allclose(before[k], after[k]) for k in before)  # the prompt's share is missing

    options = dict(steps=None, epochs=3, eval_steps=4, prompt_gradients=False)
    plain = train(small_db, "lora", "detached-no-cache", tiny_model_dir, activation_cache=False, **options)
    cached = train(small_db, "lora", "detached-cache", tiny_model_dir, **options)
    assert manifest(cached)["metrics"]["cached_batches"] > 10
    expected, got = weights(plain), weights(cached)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)


def test_cpu_precision_is_measured_and_bf16_autocast_trains(cache, small_db, tiny_model_dir, monkeypatch):
    """``auto`` picks bf16 on a CPU exactly when its measured matmul speedup clears the bar; a bf16 run trains
    in fp32 master weights under autocast and keeps the activation cache (its check still passes)."""
    import finsql.experts.training
    from finsql.experts.training import CPU_BF16_MIN_SPEEDUP, mixed_precision
    from finsql.lm.models import load_model

    lm = load_model(str(tiny_model_dir))
    autocast, speedup = mixed_precision(lm, "auto")
    assert speedup > 0 and (autocast == "bf16") == (speedup >= CPU_BF16_MIN_SPEEDUP)
    assert mixed_precision(lm, "fp32") == (None, None)
    assert mixed_precision(lm, "bf16")[0] == "bf16"
    with pytest.raises(UsageError, match="unknown precision 'fp8'"):
        train(small_db, "lora", "x", tiny_model_dir, precision="fp8")

    validated = []
    real_validation = finsql.experts.training.validation_accuracy

    def validation_as_inference(session, lm, pairs, progress=True):  # the real check, forward recorded
        validated.append(type(lm.model).forward is getattr(lm.model.forward, "__func__", None))
        return real_validation(session, lm, pairs, progress=progress)

    monkeypatch.setattr(finsql.experts.training, "validation_accuracy", validation_as_inference)
    options = dict(steps=None, epochs=3, eval_steps=4, val_split=0.25, val_ex_limit=1)
    full = train(small_db, "lora", "fp32-3", tiny_model_dir, **options)
    half = train(small_db, "lora", "bf16-3", tiny_model_dir, **{**options, "precision": "bf16"})
    assert validated == [True, True]  # after bf16 training, validation runs the plain (inference) forward
    metrics = manifest(half)["metrics"]
    assert metrics["precision"] == "bf16" and metrics["cpu_bf16_speedup"] > 0
    assert manifest(full)["metrics"]["precision"] == "float32"
    assert metrics["cached_batches"] > 0
    assert metrics["train_loss"] == pytest.approx(manifest(full)["metrics"]["train_loss"], rel=0.1)
    adapter = weights(half)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in adapter.values())
    assert any(not torch.equal(adapter[k], weights(full)[k]) for k in adapter)

    skip = finsql.experts.training._skip_class()

    class WrongSkip(skip):  # bf16 rounding is tolerated, a cache that does not fit the model is not
        def forward(self, hidden_states, *args, **kwargs):
            return hidden_states * 2

    monkeypatch.setattr(finsql.experts.training, "_skip_class", lambda: WrongSkip)
    wrong = train(small_db, "lora", "bf16-wrong", tiny_model_dir, **{**options, "precision": "bf16"})
    assert manifest(wrong)["metrics"]["cached_batches"] == 0


def test_crash_while_saving_leaves_no_expert(cache, small_db, tiny_model_dir, monkeypatch):
    import finsql.plugins

    methods = finsql.plugins.peft_methods()

    def broken_save(model, folder):
        methods["lora"].save(model, folder)
        raise RuntimeError("disk full")

    patched = {**methods, "lora": dataclasses.replace(methods["lora"], save=broken_save)}
    monkeypatch.setattr(finsql.plugins, "peft_methods", lambda manager=None: patched)
    with pytest.raises(RuntimeError, match="disk full"):
        train(small_db, "lora", "half", tiny_model_dir, steps=1, val_split=0)
    assert not [p.name for p in (cache / "experts").iterdir() if "half" in p.name]


def test_user_mistakes_are_one_line_errors(cache, small_db, tiny_model_dir, lora_uninterrupted):
    with pytest.raises(UsageError, match="unknown PEFT method 'nope'; methods: .*lora"):
        train(small_db, "nope", "x", tiny_model_dir)
    with pytest.raises(UsageError, match="already exists; use --force"):
        train(small_db, "lora", "lora-full", tiny_model_dir, force=False)
    with pytest.raises(UsageError, match="unknown setting 'rank'"):
        train(small_db, "lora", "x", tiny_model_dir, overrides={"rank": 4})
    with pytest.raises(UsageError, match="not both"):
        train(small_db, "lora", "x", tiny_model_dir, epochs=1)
    with pytest.raises(UsageError, match="bad expert name"):
        train(small_db, "lora", "../x", tiny_model_dir)
