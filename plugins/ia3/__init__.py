"""IA3: trained vectors rescaling the keys, values and MLP inputs (peft)."""

from finsql.hookspecs import hookimpl
from finsql.lm.methods import peft_method_from_config

DEFAULTS = {"target_modules": ["k_proj", "v_proj", "down_proj"], "feedforward_modules": ["down_proj"]}


@hookimpl
def register_peft_methods(register):
    from peft import IA3Config

    register(
        peft_method_from_config(
            "ia3", "IA3: learned rescaling of keys, values and MLP inputs", IA3Config, DEFAULTS
        )
    )
