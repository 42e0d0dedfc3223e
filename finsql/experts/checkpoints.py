"""A training run's folder: its settings, and checkpoints that hold only the trainable tensors.

Checkpoints go to ``<cache>/runs/<expert name>``, written by ``Trainer`` every evaluation interval. A run is
resumed only with the settings it was started with (``RUN_FILE``), from the newest checkpoint whose files
are all there. Only the trainable tensors are saved (any method, peft or not): a checkpoint of an 8-layer LoRA
is a few MB, not the model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from finsql.console import status
from finsql.errors import InputError, UsageError, first_line
from finsql.lm.wrapping import extra_state, load_trainable_state, trainable_state
from finsql.paths import cache_dir
from finsql.storage import write_json_atomic

TRAINABLE_FILE = "finsql-trainable.safetensors"
EXTRA_STATE_FILE = "finsql-extra-state.pt"
RUN_FILE = "finsql-run.json"


def runs_dir() -> Path:
    """``<cache>/runs``: one folder of Trainer checkpoints per expert being trained."""
    return cache_dir() / "runs"


def save_trainable(model: Any, folder: str | os.PathLike) -> None:
    """Write the model's trainable tensors (and AdaLoRA's extra state) into a checkpoint folder."""
    import torch
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    save_file(trainable_state(model), os.path.join(folder, TRAINABLE_FILE))
    extra = extra_state(model)
    if extra is not None:
        torch.save(extra, os.path.join(folder, EXTRA_STATE_FILE))


def load_trainable(model: Any, folder: str | os.PathLike) -> None:
    """Put the trainable state saved in a checkpoint folder back into ``model`` (same wrapping)."""
    import torch
    from safetensors.torch import load_file

    path = Path(folder) / TRAINABLE_FILE
    if not path.is_file():
        raise InputError(f"checkpoint {folder} has no {TRAINABLE_FILE}")
    extra_path = Path(folder) / EXTRA_STATE_FILE
    extra = torch.load(extra_path, map_location="cpu", weights_only=False) if extra_path.is_file() else None
    try:
        load_trainable_state(model, load_file(str(path)), extra)
    except ValueError as exc:
        raise InputError(f"checkpoint {folder} does not fit this model ({exc})") from exc


def last_complete_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint whose trainer state (written last) and weights are both there."""
    found = []
    for folder in run_dir.glob("checkpoint-*"):
        step = folder.name.rsplit("-", 1)[-1]
        if (
            step.isdigit()
            and (folder / "trainer_state.json").is_file()
            and (folder / TRAINABLE_FILE).is_file()
        ):
            found.append((int(step), folder))
    return max(found)[1] if found else None


def check_checkpoint(folder: Path) -> None:
    """InputError (one line, naming the file and how to start over) when a file of the checkpoint does not
    load: a run killed while writing it, a full disk, a damaged copy."""
    import torch
    from safetensors.torch import load_file

    for path in sorted(folder.iterdir()):
        try:
            if path.suffix == ".safetensors":
                load_file(str(path))
            elif path.suffix in (".pt", ".pth", ".bin"):
                torch.load(path, map_location="cpu", weights_only=False)
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - safetensors, pickle and zip errors all mean a damaged file
            raise InputError(
                f"checkpoint file {path} is damaged ({first_line(exc)}); run again without --resume to "
                "start over"
            ) from None


def prepare_run_dir(run_dir: Path, config: dict, resume: bool, main: bool) -> Path | None:
    """The checkpoint to resume from (None: start fresh, after clearing an earlier run's folder).

    ``config`` is the run's settings: resuming a run started with others is refused, naming them. Only the
    ``main`` process clears and writes the folder.
    """
    run_file = run_dir / RUN_FILE
    if resume and run_file.is_file():
        try:
            earlier = json.loads(run_file.read_text(encoding="utf-8"))
        except ValueError:
            earlier = {}
        differ = sorted(k for k in set(config) | set(earlier) if config.get(k) != earlier.get(k))
        if differ:
            raise UsageError(
                f"cannot resume {run_dir.name}: it was started with other settings ({', '.join(differ)}); "
                "run again without --resume to start over"
            )
        checkpoint = last_complete_checkpoint(run_dir)
        if checkpoint is not None:
            check_checkpoint(checkpoint)
            return checkpoint
    if resume:
        status(f"no checkpoint to resume in {run_dir}: starting from the beginning")
    elif main and run_dir.exists() and any(run_dir.glob("checkpoint-*")):
        status(f"discarding the checkpoints of an earlier run in {run_dir} (use --resume to continue one)")
    if main:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_file, config)
    return None
