"""Everyday questions and calibration: EX of the base model (and experts) on the hand-written everyday demo
questions (``data/everyday.jsonl``, never used for training or retrieval) and the held-out demo questions
(``data/eval.jsonl``), side by side in one run, with the calibration table (EX by confidence bucket, and
for answers ``ask`` flags as uncertain against the others).

Usage:
    python benchmarks/everyday.py --label base --arm base=base
    python benchmarks/everyday.py --label demo --arm base=base --arm expert=expert:demo-lora --samples 0

An arm is ``LABEL=base`` (the base model: the default pool, and the database's synthesized
pool when fewer than 200 pairs were written), ``LABEL=ungrounded`` (``base`` with string literals free of
the question: ``Session(ground=False)``),
``LABEL=listed`` (``base`` without count answers: ``Session(count_shape=False)``),
``LABEL=model:NAME`` (``base`` with another built-in or local model, e.g. ``model:gemma-3-270m``),
``LABEL=nosynth`` (the default pool alone), ``LABEL=expert:NAME``, or ``LABEL=pool:FILE`` (the base model
drawing its examples from the pairs in FILE alone, e.g. written by ``finsql synth``).
Run it with a cache of its own (``FINSQL_CACHE_DIR``) so no taught pair is in the pool.
Writes benchmarks/results/everyday-<label>.json.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

from finsql.ask.evaluation import evaluate_targets, resolve_targets
from finsql.ask.pairs import read_pairs
from finsql.ask.session import RETRY_SAMPLES, Session
from finsql.ask.voting import LOW_CONFIDENCE
from finsql.storage import write_json_atomic
from finsql.synth.pool import POOL_PAIRS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SETS = {"everyday": ROOT / "data" / "everyday.jsonl", "eval": ROOT / "data" / "eval.jsonl"}


def session_factory(
    spec: str,
    precision: str,
    reshape: bool = True,
    continue_runons: bool = True,
    seed: int = 0,
    retry_samples: int = RETRY_SAMPLES,
) -> Callable[[Path], Session]:
    """The sessions an arm's spec asks for (see the docstring), one per database path; ``reshape`` False
    turns off the steps after the vote that this run can compare (year bounds, named filters, one figure),
    ``continue_runons`` False the continuation of answers that ran on; ``seed`` and ``retry_samples`` as
    ``Session`` takes them."""
    kind, _, value = spec.partition(":")
    model = value if kind == "model" else None

    def make(path: Path) -> Session:
        return Session(
            path,
            model_name=model,
            expert=value if kind == "expert" else False,
            examples_path=Path(value) if kind == "pool" else None,
            precision=precision,
            synth_pool=POOL_PAIRS if spec in ("base", "ungrounded", "listed") or model else 0,
            ground=spec != "ungrounded",
            count_shape=spec != "listed",
            year_bounds=reshape,
            value_filters=reshape,
            joins=reshape,
            one_figure=reshape,
            rankings=reshape,
            listings=reshape,
            groups=reshape,
            continue_runons=continue_runons,
            seed=seed,
            retry_samples=retry_samples,
        )

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument(
        "--arm",
        action="append",
        required=True,
        help="LABEL=base, ungrounded, listed, model:NAME, nosynth, expert:NAME or pool:FILE (docstring)",
    )
    parser.add_argument("--samples", type=int, default=0)
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (finsql.lm.inference)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--no-reshape", action="store_true", help="no year bounds, named filters or one-figure answers"
    )
    parser.add_argument(
        "--no-continue", action="store_true", help="no continuation of greedy answers that ran on"
    )
    parser.add_argument("--set", action="append", choices=sorted(SETS), help="default: both")
    parser.add_argument("--seed", type=int, default=0, help="the samples' draws (Session(seed=))")
    parser.add_argument(
        "--retry-samples", type=int, default=RETRY_SAMPLES, help="samples when an answer is decoded again"
    )
    args = parser.parse_args()
    results: dict = {
        "label": args.label,
        "samples": args.samples,
        "reshape": not args.no_reshape,
        "continue_runons": not args.no_continue,
        "precision": args.precision,
        "seed": args.seed,
        "retry_samples": args.retry_samples,
        "low_confidence_below": LOW_CONFIDENCE,
        "machine": platform.processor() or platform.machine(),
        "arms": {},
    }
    for arm in args.arm:
        name, _, spec = arm.partition("=")
        results["arms"][name] = {}
        for set_name in args.set or sorted(SETS):
            pairs = read_pairs(SETS[set_name])[: args.limit]
            started = time.perf_counter()
            report = evaluate_targets(
                pairs,
                resolve_targets(None, pairs),
                session_factory(
                    spec,
                    args.precision,
                    not args.no_reshape,
                    not args.no_continue,
                    args.seed,
                    args.retry_samples,
                ),
                samples=args.samples,
            )
            summary = report.summary()
            summary["wall_seconds"] = round(time.perf_counter() - started, 1)
            summary["items"] = [
                {
                    "q": i.question,
                    "status": i.status,
                    "confidence": i.confidence,
                    "low": i.low_confidence,
                    "sql": i.predicted_sql,
                    "detail": i.detail,
                }
                for i in report.items
            ]
            results["arms"][name][set_name] = summary
            ex = summary["execution_accuracy"]
            print(f"{name} {set_name}: EX {ex:.1%} of {summary['scored']}", flush=True)
            write_json_atomic(RESULTS / f"everyday-{args.label}.json", results)


if __name__ == "__main__":
    main()
