"""A PEFT method's trainable model, adapted in the top layers only, and its trainable state.

Adapting only the top N layers lets back-propagation stop at the first adapted layer, and lets what enters
that layer be cached (``finsql.lm.activations``). Where a method's peft config takes
``layers_to_transform`` it is given; otherwise the adapter parameters of lower layers stay frozen at their
identity initialisation, which has the same effect.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from finsql.errors import FinsqlError
from finsql.lm.methods import PeftMethod

LAYER_INDEX = re.compile(r"\.(?:layers|h|layer|blocks)\.(\d+)\.")
"""The transformer layer a parameter name belongs to (Llama, GPT-2, BERT and ViT-style names)."""
LIMITED = ("layers_to_transform", "frozen-below")
"""How ``wrap_for_training`` reports a layer limit that took effect."""


def layer_count(model: Any) -> int | None:
    """Number of transformer layers (``config.num_hidden_layers``), None when unknown."""
    config = getattr(model, "config", None)
    return getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)


def first_adapted_layer(model: Any, how: str, layers: int | None) -> int:
    """The lowest adapted layer after ``wrap_for_training`` reported ``how``; 0 when every layer is."""
    n_layers = layer_count(model) or 0
    limited = how in LIMITED and layers and layers < n_layers
    return n_layers - layers if limited else 0


def wrap_for_training(
    method: PeftMethod, model: Any, params: dict, layers: int | None, total_steps: int
) -> tuple[Any, str]:
    """The method's trainable model, adapted in the top ``layers`` layers only where that makes sense.

    Returns ``(model, how)``; ``how`` says how the layer limit was applied: ``layers_to_transform`` (the peft
    config takes it), ``frozen-below`` (adapter parameters of lower layers frozen at their identity init),
    ``all`` (no limit asked, or not fewer than the model's layers) or ``not-layered`` (e.g. prompt tuning).
    """
    with warnings.catch_warnings():  # peft asks transformers 5 a deprecated question; not ours to answer
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        return _wrap_top_layers(method, model, params, layers, total_steps)


def _wrap_top_layers(
    method: PeftMethod, model: Any, params: dict, layers: int | None, total_steps: int
) -> tuple[Any, str]:
    params = dict(params)
    if method.needs_total_steps:
        params["total_step"] = total_steps
    n_layers = layer_count(model)
    if not layers or n_layers is None or layers >= n_layers:
        return method.wrap(model, params), "all"
    top = list(range(n_layers - layers, n_layers))
    try:
        wrapped, how = method.wrap(model, {**params, "layers_to_transform": top}), "layers_to_transform"
    except (TypeError, ValueError, FinsqlError) as exc:  # the config does not take it: nothing was changed
        if "layers_to_transform" not in str(exc):
            raise
        wrapped, how = method.wrap(model, params), "frozen-below"
    lowest = n_layers - layers
    layered = False
    for name, param in wrapped.named_parameters():
        found = LAYER_INDEX.search(name)
        if param.requires_grad and found:
            layered = True
            if int(found.group(1)) < lowest:
                param.requires_grad_(False)
                how = "frozen-below"  # also when the method ignored layers_to_transform (e.g. bitfit)
    if how == "frozen-below" and not layered:
        how = "not-layered"
    return wrapped, how


def trainable_state(model: Any) -> dict:
    """The trainable parameters by name, detached on CPU."""
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _rank_allocator(model: Any) -> Any:
    return getattr(getattr(model, "base_model", None), "rankallocator", None)


def extra_state(model: Any) -> dict | None:
    """Training state outside the parameters: AdaLoRA's importance scores and rank pattern (None: none)."""
    allocator = _rank_allocator(model)
    if allocator is None:
        return None
    config = model.base_model.peft_config[model.base_model.trainable_adapter_name]
    return {
        "ipt": allocator.ipt,
        "exp_avg_ipt": allocator.exp_avg_ipt,
        "exp_avg_unc": allocator.exp_avg_unc,
        "rank_pattern": config.rank_pattern,
    }


def load_trainable_state(model: Any, state: dict, extra: dict | None = None) -> None:
    """Put a ``trainable_state`` (and ``extra_state``) back into ``model``, wrapped the same way.

    ValueError names the first tensor that differs when the state was saved from another wrapping.
    """
    import torch

    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != set(params):
        differ = sorted(set(state) ^ set(params))
        raise ValueError(f"{len(differ)} tensors differ: {differ[0]}")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name].to(param.device, param.dtype))
    allocator = _rank_allocator(model)
    if extra is not None and allocator is not None:
        device = next(iter(params.values())).device
        for key in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
            setattr(allocator, key, {n: t.to(device) for n, t in extra[key].items()})
        config = model.base_model.peft_config[model.base_model.trainable_adapter_name]
        config.rank_pattern = extra["rank_pattern"]
