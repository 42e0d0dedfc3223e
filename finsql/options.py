"""Command-line options that several commands share, so they read the same everywhere."""

from __future__ import annotations

from enum import Enum

import typer

from finsql.output import Format
from finsql.synth.pool import FEW_PAIRS, POOL_PAIRS


class PromptStyle(str, Enum):
    """How the linked schema is written into the prompt."""

    full = "full"
    compact = "compact"
    names = "names"


DbOption = typer.Option(
    None, "--db", help="DuckDB file or folder of CSV/Parquet files (default: the demo database)."
)
ModelOption = typer.Option(
    None,
    "--model",
    help="Built-in model (smollm2-135m-instruct, the default; gemma-3-270m), a Hugging Face causal-LM id "
    "or a local path.",
)
FormatOption = typer.Option(Format.table, "--format", "-f", help="Output: table, json or csv.")
ExampleTokensOption = typer.Option(
    None, "--example-tokens", min=1, help="Token budget of the retrieved examples (questions + SQL)."
)
MemoryLimitOption = typer.Option(
    None,
    "--memory-limit",
    help="Memory a query may use, e.g. 2GB (default: $FINSQL_MEMORY_LIMIT, else a quarter of the machine's, "
    "at most 4GB); a query needing more is stopped with one line.",
)


class Precision(str, Enum):
    """How the model's weights run when answering (``finsql.lm.inference``)."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


PrecisionOption = typer.Option(
    Precision.auto,
    "--precision",
    help="Model weights when answering: auto (as loaded: fp32 on a CPU, bf16 or fp16 on a GPU), fp32 or bf16 "
    "(1.5-1.7x faster on a CPU with bf16 units, but some answers are lost).",
)
SynthPoolOption = typer.Option(
    POOL_PAIRS,
    "--synth-pool",
    min=0,
    max=20000,
    help="Example pairs synthesized from the database (once, cached) and retrieved beside the pairs people "
    f"wrote or taught when those are fewer than {FEW_PAIRS} (0: none); an expert uses its own pool.",
)
LookupOption = typer.Option(
    10,
    "--lookup",
    min=0,
    max=32,
    help="Tokens drafted per step by prompt-lookup decoding for a greedy answer (0: off): the same answer in "
    "fewer steps.",
)
