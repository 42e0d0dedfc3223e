"""The expert hub: trained per-schema adapters ("domain experts") in ``<cache>/experts/<name>/``.

An expert folder holds what its PEFT method saved (for peft methods a standard adapter folder,
``adapter_config.json`` + ``adapter_model.safetensors``, loadable by ``peft.PeftModel.from_pretrained``) and
``finsql-expert.json``: the schema fingerprint and base-model weights hash it was trained for, the method and
hyperparameters, the training-data hash, the prompt's shot count and the training metrics.

Experts are written atomically: into a hidden temporary folder beside the final one, renamed into place once
complete, so a killed run never leaves a half expert under the expert's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from finsql.errors import FinsqlError, InputError, ModelError, UsageError
from finsql.lm.manifest import BUNDLED, MANIFEST_FORMAT, ExpertManifest
from finsql.lm.models import LoadedModel
from finsql.paths import cache_dir
from finsql.plugins import peft_methods
from finsql.storage import write_json_atomic

MANIFEST = "finsql-expert.json"
EXAMPLES_FILE = "finsql-examples.jsonl"
"""Training pairs kept with an expert trained with retrieved examples (shots > 0): its few-shot pool."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HASH_CACHE = "weights-hashes.json"
_STALE_PARTIAL_S = 3600
_DECLINED = ".removed-bundled.json"


class ExpertMismatch(UsageError):
    """An expert was trained for another base model or another database schema."""


def experts_dir() -> Path:
    """``<cache>/experts``, created on demand."""
    folder = cache_dir() / "experts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def validate_name(name: str) -> str:
    """``name`` if it is a usable expert name (letters, digits, ``.``, ``_``, ``-``), else UsageError."""
    if not isinstance(name, str) or not _NAME.match(name) or name in {".", ".."}:
        raise UsageError(
            f"bad expert name {name!r}: use letters, digits, '.', '_', '-' (starting with a letter or digit)"
        )
    return name


def expert_dir(name: str) -> Path:
    """The folder of the expert called ``name`` (which need not exist)."""
    return experts_dir() / validate_name(name)


# ---- base model weights hash ------------------------------------------------------------------------------


def _weight_files(model_path: str) -> list[Path]:
    """The weight files of a local model folder or a cached Hub model: safetensors, else PyTorch bins."""
    folder = Path(model_path)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model_path, local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached or not a Hub id: no files to hash
            return []
    for pattern in ("*.safetensors", "*.bin", "*.pt"):
        files = sorted(
            p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("training_args")
        )
        if files:
            return files
    return []


def weights_hash(model_path: str) -> str | None:
    """First 16 hex digits of the sha256 of a model's weight files (cached per path, size and mtime).

    None when no local weight file is found (a Hub id that is not downloaded yet).
    """
    files = _weight_files(str(model_path))
    if not files:
        return None
    resolved = [f.resolve() for f in files]
    stamp = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in resolved]
    key = str(Path(model_path).resolve()) if Path(model_path).is_dir() else str(model_path)
    cache_file = cache_dir() / _HASH_CACHE
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    entry = cached.get(key)
    if isinstance(entry, dict) and entry.get("files") == stamp:
        return entry["hash"]
    digest = hashlib.sha256()
    for path in resolved:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    value = digest.hexdigest()[:16]
    cached[key] = {"files": stamp, "hash": value}
    with contextlib.suppress(OSError):  # a read-only cache only costs re-hashing next time
        write_json_atomic(cache_file, cached)
    return value


# ---- reading the hub --------------------------------------------------------------------------------------


def load_manifest(name: str) -> ExpertManifest:
    """The manifest of expert ``name``, with its name and path; InputError when there is no such expert."""
    folder = expert_dir(name)
    path = folder / MANIFEST
    if not path.is_file():
        known = ", ".join(m.name for m in list_experts()) or "none"
        raise InputError(f"no expert named {name!r} (experts: {known})")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(payload, dict):
            raise ValueError(f"a JSON object expected, not {type(payload).__name__}")
        manifest = ExpertManifest.from_json(payload)
    except (ValueError, TypeError) as exc:
        raise InputError(f"expert {name!r} has an unreadable manifest {path}: {exc}") from exc
    return dataclasses.replace(manifest, name=name, path=str(folder))


def list_experts() -> list[ExpertManifest]:
    """Every complete expert's manifest (with ``name`` and ``path``), sorted by name."""
    manifests = []
    for folder in sorted(experts_dir().iterdir()):
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file() or not _NAME.match(folder.name):
            continue
        try:
            manifests.append(load_manifest(folder.name))
        except FinsqlError:
            continue  # an unreadable manifest is skipped here, reported by `experts show`
    return manifests


def remove_expert(name: str) -> None:
    """Delete expert ``name`` (moved aside first, so a reader never sees half of it).

    A removed bundled expert stays removed: it is not installed again on the next question.
    """
    folder = expert_dir(name)
    if not (folder / MANIFEST).is_file():
        load_manifest(name)  # raises the "no expert named" error
    if name in _bundled():
        declined = _declined_bundled() | {name}
        write_json_atomic(experts_dir() / _DECLINED, sorted(declined))
    trash = Path(tempfile.mkdtemp(prefix=f".{name}.removed-", dir=experts_dir()))
    os.replace(folder, trash / name)
    shutil.rmtree(trash, ignore_errors=True)


def experts_for(fingerprint: str, base_model_hash: str | None) -> list[ExpertManifest]:
    """The experts trained here for this schema fingerprint and base model hash, newest first (the shipped
    ones are ``shipped_for``'s)."""
    if base_model_hash is None:
        return []
    matching = [
        m
        for m in list_experts()
        if fingerprint in m.fingerprints() and m.base_model_hash == base_model_hash and not m.bundled
    ]
    return sorted(matching, key=lambda m: (str(m.created_at), m.name), reverse=True)


def check_expert(
    manifest: ExpertManifest, fingerprint: str, base_model_hash: str | None, force: bool = False
) -> None:
    """ExpertMismatch (one line) when the expert was trained for another base model or schema."""
    if force:
        return
    name = manifest.name or "?"
    if manifest.base_model_hash != base_model_hash:
        raise ExpertMismatch(
            f"expert {name!r} was trained on base model {manifest.base_model!r} "
            f"(weights {manifest.base_model_hash}), not on the loaded model "
            f"(weights {base_model_hash}); use its base model with --model, or --no-expert"
        )
    if fingerprint not in manifest.fingerprints():
        trained_for = ", ".join(sorted(manifest.fingerprints())) or "?"
        raise ExpertMismatch(
            f"expert {name!r} was trained for schema {trained_for}, but this database "
            f"has schema {fingerprint}; pick another expert or --no-expert"
        )


def load_expert(lm, name: str, schema, force: bool = False):
    """``lm`` with expert ``name`` applied (a new LoadedModel), after checking base model and schema.

    The method's ``load`` puts the adapter onto ``lm.model`` (peft injects its layers in place), so the base
    LoadedModel should not be used on its own afterwards.
    """
    manifest = load_manifest(name)
    check_expert(manifest, schema.fingerprint(), weights_hash(lm.path), force=force)
    methods = peft_methods()
    method = methods.get(manifest.method)
    if method is None:
        raise ModelError(
            f"expert {name!r} needs the PEFT method {manifest.method!r}, which no loaded plugin "
            f"provides (methods: {', '.join(methods) or 'none'})"
        )
    try:
        with warnings.catch_warnings():  # peft asks transformers 5 a deprecated question; not ours to answer
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
            model = method.load(lm.model, Path(manifest.path))
    except FinsqlError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken adapter folder is one user-facing line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"could not load expert {name!r}: {first}") from exc
    model.to(lm.device)
    model.eval()
    return LoadedModel(model, lm.tokenizer, lm.name, lm.path, lm.device)


# ---- writing ----------------------------------------------------------------------------------------------


def folder_bytes(folder: Path) -> int:
    """Total size of the files in ``folder`` (recursively)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _remove_stale_partials(name: str) -> None:
    """Temporary folders of ``name`` left by killed runs (older than an hour)."""
    now = time.time()
    for stale in experts_dir().glob(f".{name}.partial-*"):
        try:
            if now - stale.stat().st_mtime > _STALE_PARTIAL_S:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def save_expert(
    name: str, write_state: Callable[[Path], None], manifest: ExpertManifest, force: bool = False
) -> Path:
    """Write expert ``name`` atomically: ``write_state(folder)`` then the manifest, then rename into place.

    The manifest written is a copy of ``manifest`` (which is left as it is) with ``name``, ``format``,
    ``created_at`` (when empty) and ``metrics.adapter_bytes`` filled in. An existing expert is replaced only
    with ``force``; if anything fails, nothing appears under the expert's name.
    """
    final = expert_dir(name)
    if final.exists() and not force:
        raise UsageError(f"expert {name!r} already exists; use --force to replace it")
    _remove_stale_partials(name)
    partial = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=experts_dir()))
    old: Path | None = None
    try:
        write_state(partial)
        written = dataclasses.replace(
            manifest,
            format=MANIFEST_FORMAT,
            name=name,
            created_at=manifest.created_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            metrics={**manifest.metrics, "adapter_bytes": folder_bytes(partial)},
        )
        write_json_atomic(partial / MANIFEST, written.to_json())
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=experts_dir()))
            os.replace(final, old / name)
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if old is not None and (old / name).exists() and not final.exists():
            os.replace(old / name, final)  # put the previous expert back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return final


# ---- bundled experts --------------------------------------------------------------------------------------


def bundled_dir() -> Path:
    """Experts shipped with finsql (``data/experts``), installed into the hub on first use."""
    import finsql.data

    return Path(finsql.data.__file__).parent / "experts"


def _bundled() -> dict[str, Path]:
    """Name -> folder of each shipped expert."""
    folder = bundled_dir()
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if (p / MANIFEST).is_file() and _NAME.match(p.name)}


def _declined_bundled() -> set[str]:
    """Bundled experts the user removed with ``finsql experts rm``."""
    try:
        return set(json.loads((experts_dir() / _DECLINED).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return set()


def shipped() -> list[ExpertManifest]:
    """The manifests of the shipped experts the user has not removed, as shipped (installed or not)."""
    declined = _declined_bundled()
    return [
        dataclasses.replace(
            ExpertManifest.from_json(json.loads((source / MANIFEST).read_text(encoding="utf-8"))),
            name=name,
            source=BUNDLED,
        )
        for name, source in _bundled().items()
        if name not in declined
    ]


def shipped_for(fingerprint: str, base_model_hash: str | None) -> list[ExpertManifest]:
    """The shipped experts (``shipped``) for this schema fingerprint and base model hash, by name."""
    if base_model_hash is None:
        return []
    return [m for m in shipped() if fingerprint in m.fingerprints() and m.base_model_hash == base_model_hash]


def install_bundled(name: str | None = None) -> list[str]:
    """Copy shipped experts into the hub (atomically) unless present or removed by the user; their names.

    ``name`` limits it to one expert (installed even if it was removed before: the user asked for it by
    name). Installed, a shipped expert is listed and can be asked for; routing uses it by itself only as
    ``shipped_for`` finds it, when it passes the gate.
    """
    installed = []
    declined = _declined_bundled() if name is None else set()
    for bundled_name, source in _bundled().items():
        if (name is not None and bundled_name != name) or bundled_name in declined:
            continue
        if expert_dir(bundled_name).exists():
            continue
        shipped = ExpertManifest.from_json(json.loads((source / MANIFEST).read_text(encoding="utf-8")))

        def copy(target: Path, source: Path = source) -> None:
            for item in source.iterdir():
                if item.is_file() and item.name != MANIFEST:
                    shutil.copy2(item, target / item.name)

        with contextlib.suppress(UsageError):  # another process installed it meanwhile
            save_expert(bundled_name, copy, dataclasses.replace(shipped, source=BUNDLED))
            installed.append(bundled_name)
    return installed
