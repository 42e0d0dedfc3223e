"""Execution accuracy and warm latency of `finsql ask` on the held-out demo evaluation file.

Usage: python benchmarks/demo_eval.py [--label L] [--model NAME] [--shots 3] [--samples 0] [--limit N]
                                      [--no-repair] [--no-expert]
Writes benchmarks/results/demo-eval-<label>.json with the summary and every prediction.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import resource
import time
from pathlib import Path

from finsql.ask.evaluation import evaluate
from finsql.ask.pairs import demo_pairs, read_pairs
from finsql.ask.session import Session
from finsql.db.database import ensure_demo_db
from finsql.errors import FinsqlError
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--samples", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--label", default="base")
    parser.add_argument("--no-repair", action="store_true", help="skip the SQL repairer plugins")
    parser.add_argument("--no-expert", action="store_true", help="base model even if an expert matches")
    args = parser.parse_args()

    pairs = read_pairs(demo_pairs("eval"))[: args.limit]
    start = time.perf_counter()
    session = Session(
        ensure_demo_db(),
        model_name=args.model,
        shots=args.shots,
        repair=not args.no_repair,
        expert=False if args.no_expert else None,
    )
    with contextlib.suppress(FinsqlError):  # warm-up: model load, embeddings, first forward pass
        session.ask(pairs[0].question)
    warm_up = time.perf_counter() - start
    report = evaluate(session, pairs, samples=args.samples)
    summary = report.summary()
    payload = {
        "benchmark": "demo-eval",
        "label": args.label,
        "model": session.lm.name,
        "shots": args.shots,
        "samples": args.samples,
        "repair": not args.no_repair,
        "expert": session.expert_name,
        "machine": f"{platform.machine()} {platform.processor() or ''} cpu".strip(),
        "load_and_warm_up_seconds": round(warm_up, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "summary": summary,
        "items": report.to_json()["items"],
    }
    out = RESULTS / f"demo-eval-{args.label}.json"
    write_json_atomic(out, payload)
    print(
        f"{args.label}: EX {summary['execution_accuracy']:.1%} ({summary['correct']}/{summary['scored']}), "
        f"p50 {summary['seconds_p50']}s/question -> {out}"
    )


if __name__ == "__main__":
    main()
