"""IA3: trained vectors rescaling the keys, values and MLP inputs (peft)."""

from __future__ import annotations

from dataclasses import dataclass

from finsql.hookspecs import hookimpl
from finsql.lm.methods import option, peft_method_from_config


@dataclass
class IA3Options:
    """IA3's settings; ``--set`` also takes any other ``peft.IA3Config`` field."""

    target_modules: list[str] = option(["k_proj", "v_proj", "down_proj"], "linear layers to rescale")
    feedforward_modules: list[str] = option(["down_proj"], "targets whose input (not output) is rescaled")


@hookimpl
def register_peft_methods(register):
    from peft import IA3Config

    register(
        peft_method_from_config(
            "ia3",
            "IA3: learned rescaling of keys, values and MLP inputs",
            IA3Config,
            IA3Options,
            lr=3e-3,  # far fewer trained parameters than LoRA: a larger step
            few_shot_lr=1e-2,
        )
    )
