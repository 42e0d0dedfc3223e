"""Self-consistency: execution accuracy and wall time for several --samples N against greedy, in one run.

Usage: python benchmarks/self_consistency.py [--samples 1,4,8,16] [--limit N] [--expert demo-lora] [--label L]
Each held-out demo question is answered greedily and then with every N in turn, by one warm session, so a
slow spell on the machine hits all settings alike. Writes benchmarks/results/self-consistency-<label>.json
with, per N, EX, p50/mean seconds and the mean time ratio to greedy on the same questions.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import time
from pathlib import Path

from finsql.ask.evaluation import ItemResult, evaluate_pair
from finsql.ask.pairs import demo_pairs, read_pairs
from finsql.ask.session import Session
from finsql.db.database import ensure_demo_db
from finsql.errors import FinsqlError
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"


def row(items: list[ItemResult], greedy: list[ItemResult]) -> dict:
    """EX and timing of one setting, with its time per question relative to greedy on the same questions."""
    scored = [(i, g) for i, g in zip(items, greedy, strict=True) if i.status != "gold_error"]
    times = [i.seconds for i, _ in scored]
    correct = sum(i.status == "correct" for i, _ in scored)
    return {
        "scored": len(scored),
        "correct": correct,
        "execution_accuracy": round(correct / len(scored), 4) if scored else 0.0,
        "invalid": sum(i.status == "invalid" for i, _ in scored),
        "seconds_p50": round(statistics.median(times), 3) if times else None,
        "seconds_mean": round(statistics.fmean(times), 3) if times else None,
        "time_ratio_to_greedy": round(sum(times) / sum(g.seconds for _, g in scored), 3) if scored else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="1,4,8,16", help="comma-separated N (greedy always runs)")
    parser.add_argument("--limit", type=int, default=None, help="first N held-out questions")
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--expert", default="demo-lora", help="expert to answer with (the shipped one)")
    parser.add_argument("--label", default="demo")
    args = parser.parse_args()
    settings = [0, *sorted({int(n) for n in args.samples.split(",")} - {0})]

    pairs = read_pairs(demo_pairs("eval"))[: args.limit]
    session = Session(ensure_demo_db(), shots=args.shots, expert=args.expert)
    with contextlib.suppress(FinsqlError):  # warm-up: model load, embeddings, first forward pass
        session.ask(pairs[0].question, samples=max(settings))
    results: dict[int, list[ItemResult]] = {n: [] for n in settings}
    payload = {
        "benchmark": "self-consistency",
        "label": args.label,
        "model": session.lm.name,
        "expert": session.expert_name,
        "shots": args.shots,
        "machine": f"{platform.machine()} {platform.processor() or ''} cpu".strip(),
        "questions": len(pairs),
    }
    out = RESULTS / f"self-consistency-{args.label}.json"
    start = time.perf_counter()
    for k, pair in enumerate(pairs, 1):
        for n in settings:
            results[n].append(evaluate_pair(session, pair, samples=n))
        rows = {("greedy" if n == 0 else f"N={n}"): row(results[n][:k], results[0][:k]) for n in settings}
        write_json_atomic(out, {**payload, "answered": k, "rows": rows})  # a killed run keeps its rows
        print(f"{k}/{len(pairs)} {time.perf_counter() - start:.0f}s", flush=True)
    for name, figures in rows.items():
        print(
            f"{name:>7}: EX {figures['execution_accuracy']:.1%} ({figures['correct']}/{figures['scored']}), "
            f"p50 {figures['seconds_p50']}s, x{figures['time_ratio_to_greedy']} greedy time"
        )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
