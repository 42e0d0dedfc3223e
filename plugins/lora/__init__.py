"""LoRA: trainable low-rank updates of the attention and MLP projections (peft)."""

from finsql.hookspecs import hookimpl
from finsql.methods import LLAMA_PROJECTIONS, peft_method_from_config

DEFAULTS = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": LLAMA_PROJECTIONS}


@hookimpl
def register_peft_methods(register):
    from peft import LoraConfig

    register(
        peft_method_from_config("lora", "LoRA: low-rank updates of every projection", LoraConfig, DEFAULTS)
    )
