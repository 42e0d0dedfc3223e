"""LoRA: trainable low-rank updates of the attention and MLP projections (peft)."""

from finsql.hookspecs import hookimpl
from finsql.lm.methods import LLAMA_PROJECTIONS, peft_method_from_config

# No dropout (peft's own default): on a CPU it was 6% of a training step, and the run that measured it is
# benchmarks/results/train-speed-fund-variants.json (the 0.05 arm beside the default).
DEFAULTS = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": LLAMA_PROJECTIONS}


@hookimpl
def register_peft_methods(register):
    from peft import LoraConfig

    register(
        peft_method_from_config("lora", "LoRA: low-rank updates of every projection", LoraConfig, DEFAULTS)
    )
