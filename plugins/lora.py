"""LoRA: trainable low-rank updates of the attention and MLP projections (peft)."""

from __future__ import annotations

from dataclasses import dataclass

from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, option, peft_method_from_config


@dataclass
class LoraOptions:
    """LoRA's settings; ``--set`` also takes any other ``peft.LoraConfig`` field."""

    r: int = option(8, "rank of the update B @ A")
    lora_alpha: int = option(16, "the update is scaled by lora_alpha / r")
    # No dropout (peft's own default): on a CPU it was 6% of a training step, and the run that measured it is
    # benchmarks/results/train-speed-fund-variants.json (the 0.05 arm beside the default).
    lora_dropout: float = option(0.0, "dropout on the adapter's input (0: none, the fastest)")
    target_modules: list[str] = option(LLAMA_PROJECTIONS, "names of the linear layers to adapt")


@hookimpl
def register_peft_methods(register):
    from peft import LoraConfig

    register(
        peft_method_from_config("lora", "LoRA: low-rank updates of every projection", LoraConfig, LoraOptions)
    )
