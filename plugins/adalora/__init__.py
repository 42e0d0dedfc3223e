"""AdaLoRA: SVD-shaped LoRA whose rank budget is reallocated between layers during training (peft).

peft wants the schedule in optimizer steps (``tinit``, ``tfinal``, ``total_step``); here the warm-up and
final phases are fractions of the run, turned into steps once the trainer passes ``total_step``.
"""

import dataclasses
import warnings

from finsql.errors import UsageError
from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, peft_method_from_config

DEFAULTS = {
    "init_r": 12,
    "target_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "target_modules": LLAMA_PROJECTIONS,
    "tinit_ratio": 0.1,
    "tfinal_ratio": 0.2,
    "deltaT": 1,
    "orth_reg_weight": 0.5,
}


def _on_step(model, step: int) -> None:
    model.base_model.update_and_allocate(step)


@hookimpl
def register_peft_methods(register):
    from peft import AdaLoraConfig

    def config(tinit_ratio: float, tfinal_ratio: float, total_step: int, **params) -> AdaLoraConfig:
        tinit, tfinal = int(total_step * tinit_ratio), int(total_step * tfinal_ratio)
        if total_step - tfinal < 2:  # the rank allocation needs one scored step before it is fixed
            raise UsageError(
                f"adalora needs 2 or more optimizer steps before its final phase, not {total_step - tfinal}"
            )
        return AdaLoraConfig(tinit=tinit, tfinal=tfinal, total_step=total_step, **params)

    method = peft_method_from_config(
        "adalora",
        "AdaLoRA: LoRA with its rank budget reallocated across layers while training",
        config,
        DEFAULTS,
        on_step=_on_step,
        needs_total_steps=True,
    )
    peft_load = method.load

    def load(model, folder):
        with (
            warnings.catch_warnings()
        ):  # peft checks AdaLoRA's per-parameter rank_pattern as LoRA's per-module one
            warnings.filterwarnings("ignore", "The following rank_pattern keys did not match", RuntimeWarning)
            return peft_load(model, folder)

    register(dataclasses.replace(method, load=load))
