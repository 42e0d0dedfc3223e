"""Prompt tuning: trained virtual-token embeddings put before the input (peft), randomly initialised.

``--set prompt_tuning_init=TEXT --set prompt_tuning_init_text=... --set tokenizer_name_or_path=...`` starts
them from the embeddings of a text instead (any ``peft.PromptTuningConfig`` field can be set).
"""

from __future__ import annotations

from dataclasses import dataclass

from finsql.hookspecs import hookimpl
from finsql.lm.methods import option, peft_method_from_config


@dataclass
class PromptTuningOptions:
    """Prompt tuning's settings; ``--set`` also takes any other ``peft.PromptTuningConfig`` field."""

    num_virtual_tokens: int = option(16, "soft-prompt tokens put before the input")


@hookimpl
def register_peft_methods(register):
    from peft import PromptTuningConfig

    register(
        peft_method_from_config(
            "prompt-tuning",
            "Prompt tuning: trained soft-prompt embeddings",
            PromptTuningConfig,
            PromptTuningOptions,
            lr=3e-2,  # a few embeddings carry the whole adaptation: a much larger step than LoRA
            few_shot_lr=3e-2,
        )
    )
