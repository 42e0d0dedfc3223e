"""Prefix tuning: trained keys and values of virtual tokens prepended in every layer's attention (peft)."""

from finsql.hookspecs import hookimpl
from finsql.lm.methods import peft_method_from_config

DEFAULTS = {"num_virtual_tokens": 16}


@hookimpl
def register_peft_methods(register):
    from peft import PrefixTuningConfig

    register(
        peft_method_from_config(
            "prefix-tuning",
            "Prefix tuning: trained key/value prefixes in every layer",
            PrefixTuningConfig,
            DEFAULTS,
        )
    )
