"""DoRA: LoRA on the direction of each weight, with its per-column magnitude trained apart (peft)."""

import functools

from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, peft_method_from_config

DEFAULTS = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": LLAMA_PROJECTIONS}


@hookimpl
def register_peft_methods(register):
    from peft import LoraConfig

    config = functools.partial(LoraConfig, use_dora=True)
    register(
        peft_method_from_config(
            "dora", "DoRA: weight-decomposed LoRA (magnitude + direction)", config, DEFAULTS
        )
    )
