"""AdaLoRA: SVD-shaped LoRA whose rank budget is reallocated between layers during training (peft).

peft wants the schedule in optimizer steps (``tinit``, ``tfinal``, ``total_step``); here the warm-up and
final phases are fractions of the run, turned into steps once the trainer passes ``total_step`` (unless
``--set tinit=...`` or ``tfinal=...`` gives the steps themselves).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

from finsql.errors import UsageError
from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, option, peft_method_from_config


@dataclass
class AdaLoraOptions:
    """AdaLoRA's settings; ``--set`` also takes any other ``peft.AdaLoraConfig`` field."""

    init_r: int = option(12, "rank of every update at the start")
    target_r: int = option(8, "average rank left once the budget is reallocated")
    lora_alpha: int = option(16, "the update is scaled by lora_alpha / r")
    lora_dropout: float = option(0.05, "dropout on the adapter's input")
    target_modules: list[str] = option(LLAMA_PROJECTIONS, "names of the linear layers to adapt")
    tinit_ratio: float = option(0.1, "share of the run trained before ranks are pruned (warm-up)")
    tfinal_ratio: float = option(0.2, "share of the run, at its end, trained with the ranks fixed")
    deltaT: int = option(1, "optimizer steps between two rank reallocations")
    orth_reg_weight: float = option(0.5, "weight of the orthogonality penalty on the singular vectors")


def _on_step(model, step: int) -> None:
    model.base_model.update_and_allocate(step)


@hookimpl
def register_peft_methods(register):
    from peft import AdaLoraConfig

    def config(tinit_ratio: float, tfinal_ratio: float, total_step: int, **params) -> AdaLoraConfig:
        params.setdefault("tinit", int(total_step * tinit_ratio))
        params.setdefault("tfinal", int(total_step * tfinal_ratio))
        if total_step - params["tfinal"] < 2:  # the rank allocation needs one scored step before it is fixed
            raise UsageError(
                "adalora needs 2 or more optimizer steps before its final phase, "
                f"not {total_step - params['tfinal']}"
            )
        return AdaLoraConfig(total_step=total_step, **params)

    method = peft_method_from_config(
        "adalora",
        "AdaLoRA: LoRA with its rank budget reallocated across layers while training",
        AdaLoraConfig,
        AdaLoraOptions,
        make_config=config,
        on_step=_on_step,
        needs_total_steps=True,
    )
    peft_load = method.load

    def load(model, folder):
        # peft checks AdaLoRA's per-parameter rank_pattern as if it were LoRA's per-module one
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The following rank_pattern keys did not match", RuntimeWarning)
            return peft_load(model, folder)

    register(dataclasses.replace(method, load=load))
