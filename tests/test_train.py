"""Training experts on the tiny model: resume, determinism, the activation cache, precision, atomic saves."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import finsql.experts.config
import finsql.experts.train
import finsql.experts.validation
import finsql.lm.activations
from finsql.ask.pairs import Pair, demo_pairs, read_pairs
from finsql.errors import InputError, UsageError
from finsql.experts.config import TrainConfig
from finsql.experts.train import train_expert
from finsql.lm.manifest import ExpertManifest
from finsql.lm.runtime import CPU_BF16_MIN_SPEEDUP, mixed_precision


@pytest.fixture(scope="session")
def train(small_pairs) -> Callable[..., Path]:
    """Train an expert on the small pairs with short, exact settings; keyword arguments change them."""

    def run(db, method: str, name: str, model_dir, pairs: list[Pair] = small_pairs, **kwargs) -> Path:
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
        return train_expert(db, list(pairs), TrainConfig(method=method, name=name, **options))

    return run


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    (file,) = [f for f in folder.iterdir() if f.suffix == ".safetensors"]
    return load_file(str(file))


def manifest(folder: Path) -> ExpertManifest:
    return ExpertManifest.from_json(json.loads((folder / "finsql-expert.json").read_text()))


def test_train_lora_on_demo_pairs(train, cache, demo_db, tiny_model_dir):
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
    assert info.schema_fingerprint == introspect(con).fingerprint()
    con.close()
    assert info.base_model_hash == weights_hash(str(tiny_model_dir))
    assert (info.method, info.layers, info.layers_applied, info.shots) == (
        "lora",
        1,
        "layers_to_transform",
        3,  # retrieved examples by default, as at inference
    )
    assert info.params["r"] == 8 and info.augment == ["skeleton", "paraphrase"]
    assert info.data["train_pairs"] == 8 and info.data["val_pairs"] == 2
    assert info.data["train_skeleton"] == 8 and info.data["train_paraphrase"] > 0
    assert info.data["train_tokens_median"] > 100  # system prompt, schema and three examples
    metrics = info.metrics
    assert metrics["steps"] == 2 and metrics["val_ex_n"] == 1 and metrics["val_ex"] == 0.0
    assert metrics["base_val_ex"] == 0.0 and metrics["val_source"] == "user"  # the base model, same pair
    for key in ("train_loss", "val_loss", "seconds", "seconds_per_step", "trainable_params", "adapter_bytes"):
        assert metrics[key] > 0, key
    assert len(info.data["hash"]) == 16 and info.created_at.endswith("+00:00")
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


@pytest.fixture(scope="module")
def lora_uninterrupted(train, cache, small_db, tiny_model_dir) -> Path:
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
    train, method, cache, small_db, tiny_model_dir, lora_uninterrupted
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
    a, b = manifest(full).metrics, manifest(resumed).metrics
    assert a["steps"] == b["steps"] == 6
    for key in ("train_loss", "train_loss_mean", "val_loss", "best_val_loss"):
        assert b[key] == pytest.approx(a[key], abs=1e-6), key


def test_resume_refuses_other_settings(train, cache, small_db, tiny_model_dir):
    with pytest.raises(KeyboardInterrupt):
        train(small_db, "lora", "lora-changed", tiny_model_dir, callbacks=[_crash_at(3)])
    with pytest.raises(UsageError, match="other settings .*lr"):
        train(small_db, "lora", "lora-changed", tiny_model_dir, resume=True, lr=1e-3)


def test_resume_from_a_damaged_checkpoint_is_one_line(train, cache, small_db, tiny_model_dir):
    with pytest.raises(KeyboardInterrupt):
        train(small_db, "lora", "lora-damaged", tiny_model_dir, callbacks=[_crash_at(3)])
    weights_file = cache / "runs" / "lora-damaged" / "checkpoint-3" / "finsql-trainable.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:20])  # truncated, as by a full disk
    with pytest.raises(InputError, match="finsql-trainable.safetensors is damaged .*without --resume"):
        train(small_db, "lora", "lora-damaged", tiny_model_dir, resume=True)


def test_same_seed_same_adapter(train, cache, small_db, tiny_model_dir, lora_uninterrupted):
    again = train(small_db, "lora", "lora-again", tiny_model_dir)
    expected, got = weights(lora_uninterrupted), weights(again)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_activation_cache_gives_the_same_adapter(train, cache, small_db, tiny_model_dir, monkeypatch):
    """From the second epoch on, batches start from the cached input of the first adapted layer."""
    options = dict(steps=None, epochs=3, eval_steps=4)
    plain = train(small_db, "lora", "no-cache", tiny_model_dir, activation_cache=False, **options)
    cached = train(small_db, "lora", "cache", tiny_model_dir, **options)
    assert manifest(plain).metrics["cached_batches"] == 0
    assert manifest(cached).metrics["cached_batches"] > 10
    assert manifest(cached).metrics["activation_cache"]
    one_pass = train(small_db, "lora", "one-pass", tiny_model_dir, steps=None, epochs=1, eval_steps=4)
    assert not manifest(one_pass).metrics["activation_cache"]  # nothing would ever be read back
    expected, got = weights(plain), weights(cached)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)
    for key in ("train_loss", "val_loss"):
        assert manifest(cached).metrics[key] == pytest.approx(manifest(plain).metrics[key], abs=1e-6)

    skip = finsql.lm.activations.skip_class()

    class WrongSkip(skip):  # a model the cache does not fit: the check must turn the cache off
        def forward(self, hidden_states, *args, **kwargs):
            return hidden_states * 2

    monkeypatch.setattr(finsql.lm.activations, "skip_class", lambda: WrongSkip)
    checked = train(small_db, "lora", "cache-off", tiny_model_dir, **options)
    assert manifest(checked).metrics["cached_batches"] == 0
    got = weights(checked)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)


def test_without_prompt_gradients_same_loss_and_the_cache_still_fits(train, cache, small_db, tiny_model_dir):
    """The prompt runs once without autograd: the same forward values (first step's loss), a different
    gradient (only through the target window), and from the second epoch on the cached batches train
    exactly as uncached ones do."""
    first = dict(steps=1, val_split=0.0, val_ex_limit=0)
    exact = train(small_db, "lora", "exact-1", tiny_model_dir, prompt_gradients=True, **first)
    detached = train(small_db, "lora", "detached-1", tiny_model_dir, prompt_gradients=False, **first)
    assert manifest(detached).metrics["prompt_gradients"] is False
    assert manifest(exact).metrics["prompt_gradients"] is True
    loss = manifest(exact).metrics["train_loss"]
    assert manifest(detached).metrics["train_loss"] == pytest.approx(loss, rel=1e-5)
    before, after = weights(exact), weights(detached)
    assert any(not torch.allclose(before[k], after[k]) for k in before)  # the prompt's share is missing

    options = dict(steps=None, epochs=3, eval_steps=4, prompt_gradients=False)
    plain = train(small_db, "lora", "detached-no-cache", tiny_model_dir, activation_cache=False, **options)
    cached = train(small_db, "lora", "detached-cache", tiny_model_dir, **options)
    assert manifest(cached).metrics["cached_batches"] > 10
    expected, got = weights(plain), weights(cached)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)


def test_cpu_precision_is_measured_and_bf16_autocast_trains(
    train, cache, small_db, tiny_model_dir, monkeypatch
):
    """``auto`` picks bf16 on a CPU exactly when its measured matmul speedup clears the bar; a bf16 run trains
    in fp32 master weights under autocast and keeps the activation cache (its check still passes)."""
    from finsql.lm.models import load_model

    lm = load_model(str(tiny_model_dir))
    autocast, speedup = mixed_precision(lm, "auto")
    assert speedup > 0 and (autocast == "bf16") == (speedup >= CPU_BF16_MIN_SPEEDUP)
    assert mixed_precision(lm, "fp32") == (None, None)
    assert mixed_precision(lm, "bf16")[0] == "bf16"
    with pytest.raises(UsageError, match="unknown precision 'fp8'"):
        train(small_db, "lora", "x", tiny_model_dir, precision="fp8")

    validated = []
    real_validation = finsql.experts.validation.validation_accuracy

    def validation_as_inference(session, pairs, progress=True):  # the real check, forward recorded
        model = session.lm.model
        validated.append(type(model).forward is getattr(model.forward, "__func__", None))
        return real_validation(session, pairs, progress=progress)

    monkeypatch.setattr(finsql.experts.validation, "validation_accuracy", validation_as_inference)
    options = dict(steps=None, epochs=3, eval_steps=4, val_split=0.25, val_ex_limit=1)
    full = train(small_db, "lora", "fp32-3", tiny_model_dir, **options)
    half = train(small_db, "lora", "bf16-3", tiny_model_dir, **{**options, "precision": "bf16"})
    # after bf16 training, validation runs the plain (inference) forward: the expert's, then the base model's
    assert validated == [True] * 4
    metrics = manifest(half).metrics
    assert metrics["precision"] == "bf16" and metrics["cpu_bf16_speedup"] > 0
    assert manifest(full).metrics["precision"] == "float32"
    assert metrics["cached_batches"] > 0
    assert metrics["train_loss"] == pytest.approx(manifest(full).metrics["train_loss"], rel=0.1)
    adapter = weights(half)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in adapter.values())
    assert any(not torch.equal(adapter[k], weights(full)[k]) for k in adapter)

    skip = finsql.lm.activations.skip_class()

    class WrongSkip(skip):  # bf16 rounding is tolerated, a cache that does not fit the model is not
        def forward(self, hidden_states, *args, **kwargs):
            return hidden_states * 2

    monkeypatch.setattr(finsql.lm.activations, "skip_class", lambda: WrongSkip)
    wrong = train(small_db, "lora", "bf16-wrong", tiny_model_dir, **{**options, "precision": "bf16"})
    assert manifest(wrong).metrics["cached_batches"] == 0


def test_crash_while_saving_leaves_no_expert(train, cache, small_db, tiny_model_dir, monkeypatch):
    methods = finsql.experts.config.peft_methods()

    def broken_save(model, folder):
        methods["lora"].save(model, folder)
        raise RuntimeError("disk full")

    patched = {**methods, "lora": dataclasses.replace(methods["lora"], save=broken_save)}
    monkeypatch.setattr(finsql.experts.config, "peft_methods", lambda manager=None: patched)
    with pytest.raises(RuntimeError, match="disk full"):
        train(small_db, "lora", "half", tiny_model_dir, steps=1, val_split=0)
    assert not [p.name for p in (cache / "experts").iterdir() if "half" in p.name]


def test_user_mistakes_are_one_line_errors(train, cache, small_db, tiny_model_dir, lora_uninterrupted):
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
