"""A loaded model made ready to answer: the expert merged into the base weights, in the precision asked.

A merged LoRA expert costs no extra matmuls per projection (LoRA's own promise). ``bf16`` halves the weights
a step reads and, on a CPU with bf16 units, answers 1.5-1.7x faster (AMX Xeon: warm p50 7.76 -> 5.16 s;
AMD EPYC with AVX512-BF16: 1.92 -> 1.11 s on the held-out demo questions with the demo expert), but it
costs answers once the model answers well: held-out demo EX 24/80 in fp32, 21/80 in bf16 (22/80 with the
fp32 output head below), everyday 48/55 against 47/55 (``benchmarks/results/everyday-s12-*.json``,
``latency-s12-*.json``). So ``auto`` keeps the dtype the model was loaded in (fp32 on a CPU, bf16 or fp16 on
CUDA) and bf16 on a CPU is the user's choice. int8 dynamic quantization (torch's fbgemm kernels) was
measured and left out: 2x faster, but 1 of 16 greedy answers kept and everyday EX 14/55 -> 6/55
(per-tensor activation scales do not suit this model). Training never goes through here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import torch

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


class Fp32Head(torch.nn.Module):
    """The output projection in fp32 under bf16 weights: logits are what greedy decoding and the vote
    compare, and bf16 keeps 8 bits of mantissa, so two tokens whose logits differ by less than 0.06 (at a
    logit of 16) tie or swap. Its matmul is one row of the vocabulary per token, a small share of a step."""

    def __init__(self, head: torch.nn.Module) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(head.weight.detach().float().clone(), requires_grad=False)
        bias = getattr(head, "bias", None)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().float().clone(), False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(hidden.float(), self.weight, self.bias)


def grouped_attention_on_cpu() -> None:
    """Let torch's attention read grouped key/value heads as they are on a CPU.

    For more than one query token against a cache (a pass verifying drafted tokens) transformers copies
    every key and value head to the query heads' count first (``repeat_kv``), unless told the kernel takes
    grouped heads (its ``TRANSFORMERS_SDPA_FORCE_GQA``; by default only for CUDA without a mask). torch's CPU
    kernel takes them with a mask; the copy cost a third of a pass of 9 rows x 5 tokens against an 850-token
    prompt (SmolLM2: 9 query heads, 3 key/value heads; 336 -> 254 ms; 1 row x 5 tokens 107 -> 78 ms).
    Results are the same; set for the process, as transformers reads it at every call."""
    os.environ.setdefault("TRANSFORMERS_SDPA_FORCE_GQA", "1")


def prepare(lm: LoadedModel, precision: str = "auto", merge: bool = True) -> tuple[LoadedModel, Prepared]:
    """``lm`` ready to answer: adapter merged (unless ``merge`` is false, to measure what merging saves),
    weights in ``precision``. Changes ``lm.model`` in place; pass a copy to keep a trainable model."""

    check_precision(precision)
    clock = time.perf_counter()
    if lm.device == "cpu":
        grouped_attention_on_cpu()
    model, merged = merge_adapter(lm.model) if merge else (lm.model, False)
    if precision == "bf16":  # the head copied before its weights are rounded
        head = Fp32Head(model.get_output_embeddings())
        model = model.to(torch.bfloat16)
        model.set_output_embeddings(head)
    elif precision == "fp32":
        model = model.to(torch.float32)
    model.eval()
    label = str(next(model.parameters()).dtype).removeprefix("torch.")
    return replace(lm, model=model), Prepared(label, merged, time.perf_counter() - clock)
