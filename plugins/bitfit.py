"""BitFit: train only the bias terms of the targeted linear layers, everything else frozen.

Llama-family models have no biases, so BitFit as published would train nothing: a targeted layer without a
bias gets a zero-initialised one (which leaves the model's output unchanged) and trains it. The trained biases
are saved alone in ``bitfit.safetensors``, next to a small ``bitfit_config.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from finsql.errors import ModelError
from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, PeftMethod, option

CONFIG_FILE = "bitfit_config.json"
WEIGHTS_FILE = "bitfit.safetensors"


@dataclass
class BitFitOptions:
    """BitFit's settings (not a peft method: these are all ``--set`` takes)."""

    target_modules: list[str] = option(LLAMA_PROJECTIONS, "names of the linear layers whose biases train")


def _add_biases(model, target_modules: list[str]) -> dict:
    """The targeted linear layers by name, each given a zero bias where it had none."""
    import torch

    layers = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in target_modules
    }
    if not layers:
        raise ModelError(f"bitfit: the model has no linear layer named {', '.join(target_modules)}")
    for module in layers.values():
        if module.bias is None:
            weight = module.weight
            module.bias = torch.nn.Parameter(
                torch.zeros(module.out_features, dtype=weight.dtype, device=weight.device)
            )
    model.bitfit_target_modules = list(target_modules)
    return layers


def wrap(model, params: dict):
    model.requires_grad_(False)
    for module in _add_biases(model, params["target_modules"]).values():
        module.bias.requires_grad_(True)
    return model


def save(model, folder: Path) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    targets = model.bitfit_target_modules
    biases = {
        f"{name}.bias": m.bias.detach().cpu().contiguous() for name, m in _add_biases(model, targets).items()
    }
    save_file(biases, str(folder / WEIGHTS_FILE))
    config = {"method": "bitfit", "target_modules": targets, "base_model": model.config.name_or_path}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def load(model, folder: Path):
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    layers = _add_biases(model, config["target_modules"])
    biases = load_file(str(folder / WEIGHTS_FILE))
    mismatched = sorted({f"{name}.bias" for name in layers} ^ set(biases))
    if mismatched:
        example = mismatched[0]
        raise ModelError(
            f"{folder / WEIGHTS_FILE} does not fit this model ({len(mismatched)} biases differ: {example})"
        )
    with torch.no_grad():
        for name, module in layers.items():
            module.bias.copy_(biases[f"{name}.bias"])
    return model.requires_grad_(False).eval()


@hookimpl
def register_peft_methods(register):
    description = "BitFit: train only biases (zero biases added where layers have none)"
    register(PeftMethod("bitfit", description, BitFitOptions, wrap, save, load, lr=1e-3, few_shot_lr=3e-3))
