"""The example third-party plugin ``examples/finsql-vera``: pip-installed, discovered, its method works."""

from __future__ import annotations

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
    """``examples/finsql-vera`` pip-installed (editable, no deps) here; returns the interpreter to run it.

    Reusable by later tests that train with the ``vera`` method in a subprocess. The package stays installed.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-e", str(EXAMPLE)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
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


def test_load_plugins_by_distribution_name(vera_plugin):
    code = "import finsql.plugins as p; print(','.join(i['name'] for i in p.list_plugins()))"
    proc = subprocess.run(
        [vera_plugin, "-c", code], capture_output=True, text=True, env=_env(FINSQL_LOAD_PLUGINS="finsql-vera")
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "vera"
