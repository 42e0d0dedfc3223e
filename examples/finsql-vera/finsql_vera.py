"""VeRA for finsql: frozen random matrices shared by all layers; only two scaling vectors per layer train.

peft's VeRA sizes the shared matrices to the largest targeted layer and slices them for smaller ones, so
layers of different shapes (Llama's grouped-query k/v projections, the MLP) can all be targeted.
"""

from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, peft_method_from_config

DEFAULTS = {"r": 256, "d_initial": 0.1, "vera_dropout": 0.0, "target_modules": LLAMA_PROJECTIONS}


@hookimpl
def register_peft_methods(register):
    from peft import VeraConfig

    register(
        peft_method_from_config(
            "vera", "VeRA: trained scaling of shared random matrices", VeraConfig, DEFAULTS
        )
    )
