"""A loaded model made ready to answer: the expert merged into the base weights, in the precision asked.

A merged LoRA expert costs no extra matmuls per projection (LoRA's own promise). ``bf16`` halves the weights
a step reads and, on a CPU with AMX, runs the prompt pass about 1.6x faster; it is not the default on a CPU
because greedy answers drift (14 of 16 demo questions kept their SQL, ``benchmarks/latency.py``). int8
dynamic quantization (torch's fbgemm kernels) was measured and left out: 2x faster, but 1 of 16 greedy
answers kept and everyday EX 14/55 -> 6/55 (per-tensor activation scales do not suit this model). Training
never goes through here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from finsql.errors import UsageError
from finsql.lm.methods import is_prompt_learning
from finsql.lm.models import LoadedModel

PRECISIONS = ("auto", "fp32", "bf16")
"""``auto``: the dtype the model was loaded in (fp32 on a CPU, bf16 or fp16 on CUDA)."""


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` did to a model, for ``--explain`` and the benchmarks."""

    precision: str
    """The weights' dtype (``float32``, ``bfloat16``...)."""
    merged: bool
    """Whether an adapter was merged into the base weights."""
    seconds: float


def check_precision(precision: str) -> str:
    """``precision`` when it is one of ``PRECISIONS``; one clear line otherwise."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def merge_adapter(model: object) -> tuple[object, bool]:
    """The model with its adapter folded into the base weights (peft's ``merge_and_unload``), and whether
    it was: prompt and prefix tuning have nothing to fold; an adapter peft cannot merge stays as it is."""
    if is_prompt_learning(model) or not hasattr(model, "merge_and_unload"):
        return model, False
    try:
        return model.merge_and_unload(), True
    except (ValueError, NotImplementedError, AttributeError, TypeError):
        return model, False


def prepare(lm: LoadedModel, precision: str = "auto", merge: bool = True) -> tuple[LoadedModel, Prepared]:
    """``lm`` ready to answer: adapter merged (unless ``merge`` is false, to measure what merging saves),
    weights in ``precision``. Changes ``lm.model`` in place; pass a copy to keep a trainable model."""
    import torch

    check_precision(precision)
    clock = time.perf_counter()
    model, merged = merge_adapter(lm.model) if merge else (lm.model, False)
    if precision != "auto":
        model = model.to({"fp32": torch.float32, "bf16": torch.bfloat16}[precision])
    model.eval()
    label = str(next(model.parameters()).dtype).removeprefix("torch.")
    return replace(lm, model=model), Prepared(label, merged, time.perf_counter() - clock)
