"""A loaded model made ready to answer: the expert merged into the base weights, in the precision asked.

A merged LoRA expert costs no extra matmuls per projection (LoRA's own promise). ``bf16`` halves the weights
a step reads and, on a CPU with AMX, answers about 1.5x faster (warm p50 7.76 -> 5.16 s on the held-out demo
questions with the demo expert). Greedy answers drift a little (40 of 55 everyday questions kept their SQL)
but not the accuracy: everyday 14/55 in both, the same questions right; held-out demo 1/80 and 35 invalid
in both (``benchmarks/everyday.py --precision``, ``benchmarks/latency.py``). So ``auto`` runs bf16 on a CPU
whose bf16 matmul is at least ``CPU_BF16_MIN_SPEEDUP`` times faster than fp32 (measured, as training
decides its autocast), and keeps fp32 elsewhere. int8 dynamic quantization (torch's fbgemm kernels) was
measured and left out: 2x faster, but 1 of 16 greedy answers kept and everyday EX 14/55 -> 6/55
(per-tensor activation scales do not suit this model). Training never goes through here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from finsql.errors import UsageError
from finsql.lm.methods import is_prompt_learning
from finsql.lm.models import LoadedModel
from finsql.lm.runtime import CPU_BF16_MIN_SPEEDUP, model_bf16_speedup

PRECISIONS = ("auto", "fp32", "bf16")
"""``auto``: bf16 on a CPU with fast bf16 matmuls, else the dtype the model was loaded in (fp32 on other
CPUs, bf16 or fp16 on CUDA)."""


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` did to a model, for ``--explain`` and the benchmarks."""

    precision: str
    """The weights' dtype (``float32``, ``bfloat16``...)."""
    merged: bool
    """Whether an adapter was merged into the base weights."""
    seconds: float
    bf16_speedup: float | None = None
    """On a CPU under ``auto``: how much faster a bf16 matmul of the model's width ran than fp32 here."""


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
    speedup = None
    if precision == "auto" and lm.device == "cpu" and next(model.parameters()).dtype == torch.float32:
        speedup = model_bf16_speedup(model, rows=1024)  # a prompt pass's shape: bf16 units show clearly
        precision = "bf16" if speedup >= CPU_BF16_MIN_SPEEDUP else "fp32"
    if precision != "auto":
        model = model.to({"fp32": torch.float32, "bf16": torch.bfloat16}[precision])
    model.eval()
    label = str(next(model.parameters()).dtype).removeprefix("torch.")
    return replace(lm, model=model), Prepared(label, merged, time.perf_counter() - clock, speedup)
