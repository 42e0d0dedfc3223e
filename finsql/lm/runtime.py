"""How training runs on this machine: torch's CPU threads and the arithmetic (bf16 autocast where it pays).

A CPU trains under bf16 autocast only where a bf16 matmul of the model's width is measured at least
``CPU_BF16_MIN_SPEEDUP`` times faster than fp32: AMX or AVX512-BF16 units make it several times faster,
elsewhere it is emulated and slower, and CPU flags do not say which.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from finsql.lm.models import LoadedModel

THREADS_ENV = "FINSQL_THREADS"
PRECISIONS = ("auto", "bf16", "fp32")
CPU_BF16_MIN_SPEEDUP = 1.5  # a bf16 matmul must beat fp32 by this much before a CPU trains under autocast


def cpu_threads() -> int:
    """Torch threads for training: ``$FINSQL_THREADS``, else every core this process may run on.

    On a machine busy with other work, fewer threads than cores can be much faster (threads waiting on a
    busy core stall every operation).
    """
    if os.environ.get(THREADS_ENV, "").strip().isdigit() and int(os.environ[THREADS_ENV]) > 0:
        return int(os.environ[THREADS_ENV])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(threads: int | None = None) -> Iterator[None]:
    """Torch uses ``threads`` CPU threads (default ``cpu_threads()``) inside the block, as many as before
    after it: training and composing are long, the process that called them is not."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads or cpu_threads())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def cpu_bf16_speedup(width: int, hidden: int, rows: int = 256) -> float:
    """fp32 seconds over bf16 seconds for a ``rows`` x ``width`` by ``width`` x ``hidden`` matmul on this CPU.

    Measured (about 0.1 s) with the current torch threads, not guessed from CPU flags.
    """
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, width, generator=generator)
    w = torch.randn(hidden, width, generator=generator)

    def best_of(a, b) -> float:
        torch.nn.functional.linear(a, b)  # warm-up: kernel choice, packing
        times = []
        for _ in range(3):
            started = time.perf_counter()
            torch.nn.functional.linear(a, b)
            times.append(time.perf_counter() - started)
        return min(times)

    return best_of(x, w) / max(best_of(x.bfloat16(), w.bfloat16()), 1e-9)


def model_bf16_speedup(model: object, rows: int = 256) -> float:
    """``cpu_bf16_speedup`` at the width of ``model``'s text layers (a multimodal config nests them)."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    width = getattr(text, "hidden_size", 576)
    return round(cpu_bf16_speedup(width, getattr(text, "intermediate_size", 4 * width), rows=rows), 2)


def mixed_precision(lm: LoadedModel, precision: str) -> tuple[str | None, float | None]:
    """The autocast dtype training uses (``"bf16"``, ``"fp16"`` or None for none) and, on a CPU, the measured
    bf16 matmul speedup that decided it.

    ``auto``: on CUDA the model's dtype (bf16, else fp16); on a CPU bf16 where a bf16 matmul of the model's
    width is at least ``CPU_BF16_MIN_SPEEDUP`` times faster than fp32, else fp32. ``bf16``/``fp32`` force it
    (one of ``PRECISIONS``, checked by the training settings).
    """
    import torch

    if lm.device == "cuda":
        native = "bf16" if lm.model.dtype == torch.bfloat16 else "fp16"
        return {"auto": native, "bf16": "bf16", "fp32": None}[precision], None
    if lm.device != "cpu" or precision == "fp32":
        return None, None
    speedup = model_bf16_speedup(lm.model)
    if precision == "bf16" or speedup >= CPU_BF16_MIN_SPEEDUP:
        return "bf16", speedup
    return None, speedup
