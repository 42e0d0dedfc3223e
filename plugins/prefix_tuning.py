"""Prefix tuning: trained keys and values of virtual tokens prepended in every layer's attention (peft)."""

from __future__ import annotations

from dataclasses import dataclass

from finsql.hookspecs import hookimpl
from finsql.lm.methods import option, peft_method_from_config


@dataclass
class PrefixTuningOptions:
    """Prefix tuning's settings; ``--set`` also takes any other ``peft.PrefixTuningConfig`` field
    (``prefix_projection=true`` trains the prefixes through an MLP of ``encoder_hidden_size``)."""

    num_virtual_tokens: int = option(16, "prefix tokens prepended in every layer")


@hookimpl
def register_peft_methods(register):
    from peft import PrefixTuningConfig

    register(
        peft_method_from_config(
            "prefix-tuning",
            "Prefix tuning: trained key/value prefixes in every layer",
            PrefixTuningConfig,
            PrefixTuningOptions,
            lr=1e-2,  # far fewer trained parameters than LoRA: a larger step
            few_shot_lr=1e-2,
        )
    )
