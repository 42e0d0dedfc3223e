"""The example third-party plugin ``examples/finsql-vera``: pip-installed, discovered, its method works."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "finsql-vera"

WRAP_SAVE_LOAD = """
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

import finsql.plugins as plugins

model_dir, out = sys.argv[1], Path(sys.argv[2])
methods = plugins.peft_methods()
assert "vera" in methods, sorted(methods)
(info,) = [p for p in plugins.list_plugins() if p["name"] == "vera"]
assert (info["distribution"], info["version"]) == ("finsql-vera", "0.1.0")
assert info["hooks"] == ["register_peft_methods"]

vera = methods["vera"]
assert vera.lr == 4e-3 and vera.config_class.__name__ == "VeraConfig"
assert vera.settings(["r=64", "projection_prng_key=1"])["projection_prng_key"] == 1  # a VeraConfig field
torch.manual_seed(0)
model = vera.wrap(AutoModelForCausalLM.from_pretrained(model_dir), dict(vera.defaults))
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
assert 0 < trainable < sum(p.numel() for p in model.parameters())
with torch.no_grad():  # stand-in for training: VeRA's scaling vector b starts at zero
    for p in model.parameters():
        if p.requires_grad:
            p.add_(0.1 * torch.randn_like(p))
model.eval()
ids = torch.tensor([[5, 6, 7, 8]])
with torch.no_grad():
    expected = model(input_ids=ids).logits
vera.save(model, out)
loaded = vera.load(AutoModelForCausalLM.from_pretrained(model_dir), out)
with torch.no_grad():
    torch.testing.assert_close(loaded(input_ids=ids).logits, expected, atol=1e-5, rtol=0)
    assert loaded.generate(input_ids=ids, max_new_tokens=3, do_sample=False).shape == (1, 7)
print("vera ok", trainable)
"""


@pytest.fixture(scope="module")
def vera_plugin() -> str:
    """``examples/finsql-vera`` pip-installed (no deps) here; returns the interpreter to run it.

    A regular (not editable) install lands in site-packages, already on this process's path, so plugin
    loading later in the same test session imports it too. The package stays installed.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", str(EXAMPLE)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    importlib.invalidate_caches()
    return sys.executable


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "FINSQL_LOAD_PLUGINS"}
    return {**env, **extra}


def test_vera_plugin_wraps_saves_and_loads(vera_plugin, tiny_model_dir, tmp_path):
    proc = subprocess.run(
        [vera_plugin, "-c", WRAP_SAVE_LOAD, str(tiny_model_dir), str(tmp_path / "vera")],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vera ok" in proc.stdout
    assert (tmp_path / "vera" / "adapter_config.json").is_file()


@pytest.mark.parametrize(("selection", "vera"), [("finsql-vera", True), ("vera", True), ("", False)])
def test_load_plugins_by_distribution_name(vera_plugin, selection, vera):
    """``FINSQL_LOAD_PLUGINS`` picks third-party plugins; the built-ins load whatever it says."""
    code = "import finsql.plugins as p; print(','.join(i['name'] for i in p.list_plugins()))"
    proc = subprocess.run(
        [vera_plugin, "-c", code], capture_output=True, text=True, env=_env(FINSQL_LOAD_PLUGINS=selection)
    )
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.strip().split(",")
    assert {"lora", "prompt_tuning", "serializers"} <= set(names)
    assert ("vera" in names) is vera


TRAIN_AND_ASK = """
import sys
from pathlib import Path

from peft import PeftModel

import finsql.ask.session as pipeline
from finsql.errors import NoValidSQL
from finsql.ask.pairs import Pair
from finsql.experts.config import TrainConfig
from finsql.experts.train import train_expert

model_dir, db = sys.argv[1], Path(sys.argv[2])
pairs = [
    Pair("How many funds are there?", "SELECT count(*) FROM fund"),
    Pair("List the bond funds.", "SELECT fund_name FROM fund WHERE fund_type = 'bond'"),
    Pair("Which funds are equity funds?", "SELECT fund_name FROM fund WHERE fund_type = 'equity'"),
]
config = TrainConfig(method="vera", name="vera-demo", model_name=model_dir, layers=1, steps=2, batch_size=2,
                     val_split=0.34, progress=False)  # one pair held out: measured, so routing may use it
folder = train_expert(db, pairs, config)
assert (folder / "adapter_config.json").is_file() and (folder / "finsql-expert.json").is_file()

calls = []
real_generate = pipeline.generate
pipeline.generate = lambda lm, *args, **kwargs: calls.append(lm) or real_generate(lm, *args, **kwargs)
session = pipeline.Session(db, model_name=model_dir, merge=False)  # the adapter as loaded, to inspect
assert session.expert_name == "vera-demo", session.expert_name
try:
    outcome = "answer expert=" + str(session.ask("How many funds are there?").expert)
except NoValidSQL:
    outcome = "no valid SQL"
lm = calls[0]  # a refused first answer is decoded again (the retry), by the same model
assert all(call is lm for call in calls)
assert isinstance(lm.model, PeftModel) and lm.model.active_peft_config.peft_type.value == "VERA"
print("vera expert ok:", outcome)
"""


def test_train_a_vera_expert_and_answer_with_it(vera_plugin, tiny_model_dir, demo_db, tmp_path):
    proc = subprocess.run(
        [vera_plugin, "-c", TRAIN_AND_ASK, str(tiny_model_dir), str(demo_db)],
        capture_output=True,
        text=True,
        env=_env(FINSQL_CACHE_DIR=str(tmp_path / "cache"), FINSQL_THREADS="1"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vera expert ok:" in proc.stdout
