"""VeRA for finsql: frozen random matrices shared by all layers; only two scaling vectors per layer train.

peft's VeRA sizes the shared matrices to the largest targeted layer and slices them for smaller ones, so
layers of different shapes (Llama's grouped-query k/v projections, the MLP) can all be targeted.
"""

from __future__ import annotations

from dataclasses import dataclass

from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, option, peft_method_from_config


@dataclass
class VeraOptions:
    """VeRA's settings; ``--set`` also takes any other ``peft.VeraConfig`` field."""

    r: int = option(256, "rank of the shared random matrices (no trained parameter grows with it)")
    d_initial: float = option(0.1, "initial value of the trained scaling vector d")
    vera_dropout: float = option(0.0, "dropout on the adapter's input")
    target_modules: list[str] = option(LLAMA_PROJECTIONS, "names of the linear layers to adapt")


@hookimpl
def register_peft_methods(register):
    from peft import VeraConfig

    register(
        peft_method_from_config(
            "vera",
            "VeRA: trained scaling of shared random matrices",
            VeraConfig,
            VeraOptions,
            lr=4e-3,  # two scaling vectors per layer, far fewer parameters than LoRA: a larger step
        )
    )
