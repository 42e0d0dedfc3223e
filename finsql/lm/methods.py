"""Parameter-efficient fine-tuning methods: the interface method plugins provide, and helpers for them."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finsql.errors import UsageError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

LLAMA_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
"""The attention and MLP projections of Llama-family models (Llama, SmolLM2, Qwen2, Mistral)."""


@dataclass
class PeftMethod:
    """A fine-tuning method, registered by a plugin through the ``register_peft_methods`` hook.

    ``wrap`` returns the model to train (base parameters frozen); ``save`` writes the trained state into a
    folder; ``load`` puts a saved state onto a fresh base model, ready for generation.
    ``on_step(model, step)`` runs after each optimizer step, before the gradients are zeroed, ``step``
    counted from 1. When ``needs_total_steps`` is true, the trainer adds ``total_step`` (the optimizer steps
    it will take) to ``wrap``'s params.
    """

    name: str
    description: str
    defaults: dict[str, Any]
    wrap: Callable[[PreTrainedModel, dict], PreTrainedModel]
    save: Callable[[PreTrainedModel, Path], None]
    load: Callable[[PreTrainedModel, Path], PreTrainedModel]
    on_step: Callable[[PreTrainedModel, int], None] | None = None
    needs_total_steps: bool = False


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _cast(key: str, text: str, default: Any) -> Any:
    """``text`` as the type of ``default``: bool, int, float, list (comma-separated) or string."""
    if isinstance(default, bool):
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise UsageError(f"setting {key!r} takes true or false, not {text!r}")
    if isinstance(default, list | tuple):
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(default, int | float):
        try:
            return type(default)(text)
        except ValueError:
            kind = "an integer" if isinstance(default, int) else "a number"
            raise UsageError(f"setting {key!r} takes {kind}, not {text!r}") from None
    return text


def parse_overrides(items: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """The defaults updated by ``key=value`` items (from ``--set``), each value cast to its default's type."""
    params = copy.deepcopy(defaults)
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"expected key=value, got {item!r}")
        if key not in defaults:
            raise UsageError(
                f"unknown setting {key!r}; valid settings: {', '.join(sorted(defaults)) or 'none'}"
            )
        params[key] = _cast(key, text.strip(), defaults[key])
    return params


def is_prompt_learning(model: Any) -> bool:
    """Whether ``model`` is a peft prompt- or prefix-tuning model (it feeds its own virtual tokens)."""
    return bool(getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False))


def _fix_prompt_learning_generation(model: Any) -> Any:
    """Make prompt tuning and prefix tuning generate correctly with transformers 5.

    peft 0.21 reads and writes the KV cache as ``past_key_values`` in ``prepare_inputs_for_generation``, but
    transformers 5 renamed that input ``cache``: peft then misses the cache (re-inserting the virtual tokens
    at every step) and the model ignores the ``past_key_values`` peft adds (dropping the prefix). This renames
    the cache to ``past_key_values`` for peft and back to ``cache`` for the model; a no-op when names agree.
    """
    base_prepare = model.base_model_prepare_inputs_for_generation
    if (
        not model.active_peft_config.is_prompt_learning
        or "cache" not in inspect.signature(base_prepare).parameters
    ):
        return model
    peft_prepare = model.prepare_inputs_for_generation

    def renamed_base_prepare(*args, **kwargs):
        inputs = base_prepare(*args, **kwargs)
        if "cache" in inputs:
            inputs["past_key_values"] = inputs.pop("cache")
        return inputs

    def prepare_inputs_for_generation(*args, **kwargs):
        model.base_model_prepare_inputs_for_generation = renamed_base_prepare
        try:
            inputs = peft_prepare(*args, **kwargs)
        finally:
            model.base_model_prepare_inputs_for_generation = base_prepare
        if "past_key_values" in inputs:
            inputs["cache"] = inputs.pop("past_key_values")
        return inputs

    model.prepare_inputs_for_generation = prepare_inputs_for_generation
    return model


def peft_method_from_config(
    name: str, description: str, config_cls: Callable[..., Any], defaults: dict[str, Any], **kw: Any
) -> PeftMethod:
    """A method backed by HF peft: ``config_cls(task_type=CAUSAL_LM, **params)``, saved in peft's format."""

    def wrap(model: PreTrainedModel, params: dict) -> PreTrainedModel:
        from peft import TaskType, get_peft_model

        return _fix_prompt_learning_generation(
            get_peft_model(model, config_cls(task_type=TaskType.CAUSAL_LM, **params))
        )

    def save(model: PreTrainedModel, folder: Path) -> None:
        model.save_pretrained(str(folder))

    def load(model: PreTrainedModel, folder: Path) -> PreTrainedModel:
        from peft import PeftModel

        return _fix_prompt_learning_generation(PeftModel.from_pretrained(model, str(folder)))

    return PeftMethod(name, description, defaults, wrap, save, load, **kw)
