"""DoRA: LoRA on the direction of each weight, with its per-column magnitude trained apart (peft)."""

from __future__ import annotations

from dataclasses import dataclass

from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, option, peft_method_from_config


@dataclass
class DoraOptions:
    """DoRA's settings: LoRA's with ``use_dora``; ``--set`` also takes any other ``peft.LoraConfig`` field."""

    r: int = option(8, "rank of the direction update B @ A")
    lora_alpha: int = option(16, "the update is scaled by lora_alpha / r")
    lora_dropout: float = option(0.05, "dropout on the adapter's input")
    target_modules: list[str] = option(LLAMA_PROJECTIONS, "names of the linear layers to adapt")
    use_dora: bool = option(True, "train the magnitude apart from the direction (false: plain LoRA)")


@hookimpl
def register_peft_methods(register):
    from peft import LoraConfig

    register(
        peft_method_from_config(
            "dora", "DoRA: weight-decomposed LoRA (magnitude + direction)", LoraConfig, DoraOptions
        )
    )
