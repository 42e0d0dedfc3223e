"""Parameter-efficient fine-tuning methods: the interface method plugins provide, and helpers for them."""

from __future__ import annotations

import copy
import dataclasses
import enum
import inspect
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finsql.errors import UsageError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

LLAMA_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
"""The attention and MLP projections of Llama-family models (Llama, SmolLM2, Qwen2, Mistral)."""
DEFAULT_LR = 2e-4
"""The learning rate of a method that declares none: LoRA's (methods training fewer parameters want more)."""
DEFAULT_FEW_SHOT_LR = 1e-3
"""The learning rate for a few dozen steps (TabLLM's few-shot fine-tuning) of a method that declares none."""


def option(default: Any, help: str) -> Any:
    """A field of a method's options dataclass: its default (copied for each use, lists included) and help."""
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass
class PeftMethod:
    """A fine-tuning method, registered by a plugin through the ``register_peft_methods`` hook.

    ``options`` is a dataclass of the method's own settings, each with a default and ``metadata["help"]``
    (see ``option``); ``--set key=value`` accepts those and every field of ``config_class`` (the peft config
    class, None for a method outside peft), cast by the field's type. ``lr`` is the learning rate the trainer
    uses unless told otherwise; ``few_shot_lr`` the one TabLLM's few-shot fine-tuning (a few dozen steps)
    uses. ``wrap(model, params)`` returns the model to train (base parameters frozen);
    ``save`` writes the trained state into a folder; ``load`` puts a saved state onto a fresh base model,
    ready for generation. ``on_step(model, step)`` runs after each optimizer step, before the gradients are
    zeroed, ``step`` counted from 1. When ``needs_total_steps`` is true, the trainer adds ``total_step`` (the
    optimizer steps it will take) to ``wrap``'s params.
    """

    name: str
    description: str
    options: type
    wrap: Callable[[PreTrainedModel, dict], PreTrainedModel]
    save: Callable[[PreTrainedModel, Path], None]
    load: Callable[[PreTrainedModel, Path], PreTrainedModel]
    lr: float = DEFAULT_LR
    few_shot_lr: float = DEFAULT_FEW_SHOT_LR
    config_class: type | None = None
    on_step: Callable[[PreTrainedModel, int], None] | None = None
    needs_total_steps: bool = False

    def __post_init__(self) -> None:
        """Refuse options or a config class that are not dataclasses: their fields are the settings."""
        for what, cls in (("options", self.options), ("config_class", self.config_class)):
            if cls is not None and not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise TypeError(f"PEFT method {self.name!r}: {what} must be a dataclass, not {cls!r}")

    @property
    def defaults(self) -> dict[str, Any]:
        """The options' defaults by name (a fresh copy)."""
        return dataclasses.asdict(self.options())

    def setting_types(self) -> dict[str, Any]:
        """Every key ``--set`` accepts, with its type: the config class's fields, the options' types first.

        Fields every peft config has (``task_type``, ``peft_type``, ``inference_mode``...) are left out: peft
        and finsql set them.
        """
        found: dict[str, Any] = {}
        if self.config_class is not None:
            from peft import PeftConfig

            own = {field.name for field in dataclasses.fields(PeftConfig)}
            hints = typing.get_type_hints(self.config_class)
            found = {
                field.name: hints.get(field.name, Any)
                for field in dataclasses.fields(self.config_class)
                if field.init and field.name not in own
            }
        hints = typing.get_type_hints(self.options)
        return found | {field.name: hints[field.name] for field in dataclasses.fields(self.options)}

    def settings(self, items: list[str]) -> dict[str, Any]:
        """The full params: the options' defaults updated by ``key=value`` items (``--set``), each cast."""
        known = self.setting_types()
        overrides = {}
        for item in items:
            key, text = _split(item)
            if key not in known:
                raise _unknown_setting(key, known, self.name)
            overrides[key] = cast_setting(key, text, known[key])
        return self.defaults | overrides

    def check(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The full params: the options' defaults updated by parsed ``overrides``; unknown keys refused."""
        known = self.setting_types()
        for key in sorted(overrides):
            if key not in known:
                raise _unknown_setting(key, known, self.name)
        return self.defaults | copy.deepcopy(overrides)

    def describe_options(self) -> list[dict[str, Any]]:
        """Each option's name, type, default and help, for ``finsql plugins``."""
        hints = typing.get_type_hints(self.options)
        defaults = self.defaults
        return [
            {
                "name": field.name,
                "type": type_name(hints[field.name]),
                "default": defaults[field.name],
                "help": field.metadata.get("help", ""),
            }
            for field in dataclasses.fields(self.options)
        ]


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null"}


def _split(item: str) -> tuple[str, str]:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"expected key=value, got {item!r}")
    return key.strip(), text.strip()


def _unknown_setting(key: str, known: typing.Iterable[str], method: str | None = None) -> UsageError:
    where = f" for {method}" if method else ""
    return UsageError(f"unknown setting {key!r}{where}; valid settings: {', '.join(sorted(known)) or 'none'}")


def _members(hint: Any) -> list[Any]:
    """The types a value of ``hint`` may have (a union flattened): ``None`` first, then in union order."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [member for arg in typing.get_args(hint) for member in _members(arg)]
        return sorted(members, key=lambda member: member is not type(None))
    return [hint]


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.Enum)


def _cast_one(text: str, hint: Any) -> Any:
    """``text`` as a ``hint`` (not a union); ValueError when it is not one, TypeError when no text can be."""
    origin = typing.get_origin(hint)
    if hint is type(None):
        if text.lower() in _NONE:
            return None
    elif origin is typing.Literal:
        for value in typing.get_args(hint):
            if str(value) == text:
                return value
    elif _is_enum(hint):
        for member in hint:
            if text.lower() in (str(member.value).lower(), member.name.lower()):
                return member.value
    elif hint is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
    elif hint in (int, float):
        return hint(text)
    elif hint in (str, Any):
        return text
    elif hint is list or origin is list:
        item = (typing.get_args(hint) or [str])[0]
        return [_cast(part.strip(), item) for part in text.split(",") if part.strip()]
    elif hint is dict or origin is dict:
        value = json.loads(text)
        if isinstance(value, dict):
            return value
    else:
        raise TypeError(f"no text is a {hint!r}")
    raise ValueError(text)


def _cast(text: str, hint: Any) -> Any:
    """``text`` as the first type of ``hint`` it can be (see ``_members``); ValueError when none."""
    for member in _members(hint):
        try:
            return _cast_one(text, member)
        except (ValueError, TypeError):
            continue
    raise ValueError(text)


def _describe(hint: Any) -> str:
    """What a value of ``hint`` looks like, for error messages."""
    names = []
    for member in _members(hint):
        origin = typing.get_origin(member)
        if member is type(None):
            names.append("none")
        elif origin is typing.Literal or _is_enum(member):
            values = typing.get_args(member) if origin else [m.value for m in member]
            names.append(f"one of {', '.join(map(str, values))}")
        elif member is list or origin is list:
            names.append("a comma-separated list")
        elif member is dict or origin is dict:
            names.append("a JSON object")
        else:
            plain = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
            names.append(plain.get(member, f"a value of type {type_name(member)}"))
    return " or ".join(names)


def type_name(hint: Any) -> str:
    """A type as a short readable name: ``int``, ``list[str]``, ``str | None``."""
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in typing.get_args(hint))
    return str(hint).replace("typing.", "")


def cast_setting(key: str, text: str, hint: Any) -> Any:
    """``text`` (from ``--set key=text``) as a value of type ``hint``: bool, int, float, str, a list (comma-
    separated), a dict (JSON), an enum or Literal value, None (``none``), or a union of those."""
    try:
        return _cast(text, hint)
    except ValueError:
        raise UsageError(f"setting {key!r} takes {_describe(hint)}, not {text!r}") from None


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
    name: str,
    description: str,
    config_class: type,
    options: type,
    make_config: Callable[..., Any] | None = None,
    **kw: Any,
) -> PeftMethod:
    """A method backed by HF peft, saved in peft's format: ``wrap`` builds its peft config with
    ``make_config(task_type=CAUSAL_LM, **params)`` (default ``config_class``); ``kw`` go to ``PeftMethod``."""
    build = make_config or config_class

    def wrap(model: PreTrainedModel, params: dict) -> PreTrainedModel:
        from peft import TaskType, get_peft_model

        return _fix_prompt_learning_generation(
            get_peft_model(model, build(task_type=TaskType.CAUSAL_LM, **params))
        )

    def save(model: PreTrainedModel, folder: Path) -> None:
        model.save_pretrained(str(folder))

    def load(model: PreTrainedModel, folder: Path) -> PreTrainedModel:
        from peft import PeftModel

        return _fix_prompt_learning_generation(PeftModel.from_pretrained(model, str(folder)))

    return PeftMethod(name, description, options, wrap, save, load, config_class=config_class, **kw)
