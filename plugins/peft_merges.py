"""peft's own adapter merges (``add_weighted_adapter``): ``cat`` and ``ties``.

``cat`` stacks the experts' ranks (rank = sum of ranks) with weights 1/n, so its update is exactly the mean of
the experts' updates. ``ties`` (Yadav et al. 2023) trims each expert's A and B to their largest
``TIES_DENSITY`` share of entries, elects a sign per entry and averages the entries that agree with it;
weights 1.0 (the TIES default, the disjoint mean does the averaging). peft applies the weights and LoRA
scaling as square roots on A and B and gives the new adapter lora_alpha = r.
"""

from __future__ import annotations

from finsql.experts.combiners import Combiner
from finsql.hookspecs import hookimpl

TIES_DENSITY = 0.2
"""Share of entries TIES keeps (the paper's top-20%)."""


def cat_combine(model, adapters: list[str], weights: list[float], target: str) -> None:
    """peft's ``cat``: the experts' A stacked (each times weight and scaling), their B side by side."""
    model.add_weighted_adapter(adapters, weights, target, combination_type="cat")


def ties_combine(model, adapters: list[str], weights: list[float], target: str) -> None:
    """peft's ``ties`` on A and on B, keeping ``TIES_DENSITY`` of the entries."""
    model.add_weighted_adapter(adapters, weights, target, combination_type="ties", density=TIES_DENSITY)


@hookimpl
def register_combiners(register):
    register(Combiner("cat", "peft cat: ranks stacked, the mean of the experts' updates", cat_combine))
    register(
        Combiner(
            "ties",
            f"peft TIES: trim to {TIES_DENSITY:.0%}, elect signs, disjoint mean of A and of B",
            ties_combine,
            default_weights=lambda n: [1.0] * n,
        )
    )
