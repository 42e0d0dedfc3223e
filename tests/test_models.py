import pytest

from finsql.errors import ModelError
from finsql.lm.models import DEFAULT_MODEL, load_model, pick_device, resolve_model_path


def test_cpu_gets_float32_here():
    import torch

    device, dtype = pick_device()
    if not torch.cuda.is_available():
        assert (device, dtype) in {("cpu", torch.float32), ("mps", torch.float16)}


def test_unreachable_model_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        load_model("no-such-org/no-such-model-xyz")
    assert "no-such-org/no-such-model-xyz" in str(info.value)
    with pytest.raises(ModelError):
        load_model(str(tmp_path / "missing-folder"))


def test_local_path_passes_through(tiny_model_dir):
    assert resolve_model_path(str(tiny_model_dir)) == str(tiny_model_dir)
    lm = load_model(str(tiny_model_dir))
    assert lm.tokenizer.padding_side == "left" and lm.tokenizer.pad_token is not None


@pytest.mark.slow
def test_default_model_is_provisioned_and_cached(finsql_cache):
    import time

    path = resolve_model_path(DEFAULT_MODEL)
    assert (finsql_cache / "models" / "SmolLM2-135M-Instruct" / "model.safetensors").is_file()
    start = time.perf_counter()
    lm = load_model(None)
    assert time.perf_counter() - start < 20
    assert lm.path == path and lm.tokenizer.chat_template
    assert not getattr(lm.model.config, "quantization_config", None)
