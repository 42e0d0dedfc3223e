"""LoRAHub: the experts' LoRA matrices summed with weights learnt gradient-free on a few examples."""

from finsql.experts.combiners import Combiner, linear_combine
from finsql.hookspecs import hookimpl


@hookimpl
def register_combiners(register):
    register(
        Combiner(
            "lorahub",
            "LoRAHub: A = sum(w_i A_i), B = sum(w_i B_i), weights searched with nevergrad on the examples",
            linear_combine,
            learns_weights=True,
        )
    )
