"""Samples decoded with drafts (``finsql.ask.speculative``) against samples one token a pass, side by side.

Each question is answered greedily and with N samples under each first draft size (0: transformers'
``generate``, one token a pass, as before 2026-12-07), in a rotating order so the machine's noise falls on
all settings alike; one warm session, the demo database, the questions of ``data/eval.jsonl``.

Usage:
    FINSQL_CACHE_DIR=DIR python benchmarks/sample_drafts.py --label s14 --expert demo-lora \\
        --drafts 0,2,4 --samples 8 --start 20 --limit 15

Writes benchmarks/results/sample-drafts-<label>.json: per setting mean/p50 seconds, EX, invalid and
``over_greedy`` (mean seconds over the greedy answer's, on the same questions), and each answer's SQL.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from finsql.ask.evaluation import ItemResult, evaluate_pair
from finsql.ask.pairs import read_pairs
from finsql.ask.session import Session
from finsql.db.database import ensure_demo_db
from finsql.storage import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _summary(items: list[ItemResult], greedy_mean: float | None) -> dict:
    seconds = [i.seconds for i in items]
    mean = statistics.fmean(seconds)
    return {
        "n": len(items),
        "ex": sum(i.status == "correct" for i in items),
        "invalid": sum(i.status == "invalid" for i in items),
        "mean_s": round(mean, 3),
        "p50_s": round(statistics.median(seconds), 3),
        "over_greedy": round(mean / greedy_mean, 3) if greedy_mean else None,
    }


def _item(found: ItemResult) -> dict:
    seconds = round(found.seconds, 3)
    return {"q": found.question, "status": found.status, "s": seconds, "sql": found.predicted_sql}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--expert", default="", help="expert to force (default: the base model)")
    parser.add_argument("--drafts", default="0,2,4", help="first draft sizes to compare (0: no drafts)")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--start", type=int, default=0, help="first question of data/eval.jsonl")
    parser.add_argument("--limit", type=int, default=15)
    args = parser.parse_args()
    pairs = read_pairs(ROOT / "data" / "eval.jsonl")[args.start : args.start + args.limit]
    expert = args.expert or None
    session = Session(ensure_demo_db(), expert=expert if expert else False, force_expert=bool(expert))
    evaluate_pair(session, pairs[0], samples=args.samples)  # warm: model, grammar, retrieval index
    settings = ["greedy", *(f"draft-{d}" for d in args.drafts.split(",") if d)]
    items: dict[str, list[ItemResult]] = {s: [] for s in settings}
    results: dict = {
        "label": args.label,
        "expert": expert,
        "machine": platform.processor() or platform.machine(),
        "samples": args.samples,
        "questions": f"data/eval.jsonl[{args.start}:{args.start + len(pairs)}]",
    }
    started = time.perf_counter()
    for k, pair in enumerate(pairs):
        for setting in settings[k % len(settings) :] + settings[: k % len(settings)]:
            if setting == "greedy":
                item = evaluate_pair(session, pair)
            else:
                draft = int(setting.removeprefix("draft-"))
                item = evaluate_pair(session, pair, samples=args.samples, sample_draft=draft)
            items[setting].append(item)
        greedy_mean = statistics.fmean(i.seconds for i in items["greedy"])
        results["summary"] = {s: _summary(items[s], greedy_mean) for s in settings}
        results["items"] = {s: [_item(i) for i in got] for s, got in items.items()}
        results["wall_seconds"] = round(time.perf_counter() - started, 1)
        write_json_atomic(RESULTS / f"sample-drafts-{args.label}.json", results)
        line = "  ".join(f"{s} {v['mean_s']:.2f}s EX {v['ex']}" for s, v in results["summary"].items())
        print(f"{k + 1}/{len(pairs)} {line}", flush=True)
    session.close()
    print(json.dumps(results["summary"]))


if __name__ == "__main__":
    main()
