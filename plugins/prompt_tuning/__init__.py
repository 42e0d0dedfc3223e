"""Prompt tuning: trained virtual-token embeddings put before the input (peft), randomly initialised."""

from finsql.hookspecs import hookimpl
from finsql.lm.methods import peft_method_from_config

DEFAULTS = {"num_virtual_tokens": 16}


@hookimpl
def register_peft_methods(register):
    from peft import PromptTuningConfig

    register(
        peft_method_from_config(
            "prompt-tuning", "Prompt tuning: trained soft-prompt embeddings", PromptTuningConfig, DEFAULTS
        )
    )
