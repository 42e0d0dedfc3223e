"""Latency of ``finsql ask``: warm seconds per question before and after each speed-up, side by side in one
run, with the time split by stage, EX beside it, the N table and peak memory.

Arms (each a warm session of its own; every question is asked by every arm in a rotating order, so the
machine's noise falls on all of them alike):
    before       fp32 weights, plain greedy decoding, an expert left unmerged (as before this change)
    merged       the expert merged into the weights, plain greedy (merging alone)
    after        the defaults: ``--precision auto`` (fp32 on a CPU; from 2026-12-06 to 12-07 it ran bf16 on a
                 CPU with fast bf16 matmuls, which lost answers), expert merged, prompt lookup
    bf16-lookup  the defaults with bf16 weights (``--precision bf16``)
    greedy-retry the defaults, but an invalid answer is decoded again greedily (lookup on), not with 3 samples
    bf16-greedy-retry  both
    ungrounded   the defaults, but the grammar admits any known value, number and date (``--no-ground``;
                 grounding in the question is the default since 2026-12-06)

Usage:
    FINSQL_CACHE_DIR=DIR python benchmarks/latency.py --label demo-expert --expert demo-lora
    FINSQL_CACHE_DIR=DIR python benchmarks/latency.py --label quick --limit 10 --n-limit 5

Writes benchmarks/results/latency-<label>.json: per arm p50/p90/mean seconds, stage medians, EX, invalid;
``after_over_before``; the N table (greedy, 1, 4, 8, 16 samples with the default settings) with
``n8_over_greedy``; each arm's peak resident memory measured in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from finsql.ask.evaluation import ItemResult, evaluate_pair
from finsql.ask.pairs import Pair, read_pairs
from finsql.ask.session import DEFAULT_LOOKUP, Session
from finsql.db.database import ensure_demo_db
from finsql.storage import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ARMS = {
    "before": {"precision": "fp32", "lookup": 0, "merge": False},
    "merged": {"precision": "fp32", "lookup": 0},
    "after": {"precision": "auto", "lookup": DEFAULT_LOOKUP},
    "bf16-lookup": {"precision": "bf16", "lookup": DEFAULT_LOOKUP},
    "greedy-retry": {"precision": "auto", "lookup": DEFAULT_LOOKUP, "retry_samples": 0},
    "bf16-greedy-retry": {"precision": "bf16", "lookup": DEFAULT_LOOKUP, "retry_samples": 0},
    "ungrounded": {"precision": "auto", "lookup": DEFAULT_LOOKUP, "ground": False},
}
STAGES = ("link", "prefill", "generate", "grammar", "execute", "retry", "total")
N_TABLE = (0, 1, 4, 8, 16)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _summary(items: list[ItemResult]) -> dict:
    seconds = [i.seconds for i in items]
    stages = {
        stage: round(statistics.median([i.stages.get(stage, 0.0) for i in items]), 3)
        for stage in STAGES
        if any(stage in i.stages for i in items)
    }
    if "generate" in stages and "prefill" in stages:
        decode = [
            i.stages.get("generate", 0) - i.stages.get("prefill", 0) - i.stages.get("grammar", 0)
            for i in items
        ]
        stages["decode"] = round(statistics.median(decode), 3)
    return {
        "n": len(items),
        "ex": sum(i.status == "correct" for i in items),
        "invalid": sum(i.status == "invalid" for i in items),
        "p50_s": round(_quantile(seconds, 0.5), 3),
        "p90_s": round(_quantile(seconds, 0.9), 3),
        "mean_s": round(statistics.fmean(seconds), 3) if seconds else 0.0,
        "stage_medians_s": stages,
        "mean_steps": round(statistics.fmean(i.steps for i in items), 1) if items else 0.0,
    }


def _session(db: Path, expert: str | None, settings: dict) -> Session:
    return Session(db, expert=expert if expert else False, force_expert=bool(expert), **settings)


def _peak_memory(arm: str, expert: str | None, pairs: int) -> float:
    """Peak resident MB of a fresh process that loads ``arm``'s session and answers a few questions."""
    done = subprocess.run(
        [sys.executable, __file__, "--memory-probe", arm, "--expert", expert or "", "--limit", str(pairs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _probe(arm: str, expert: str | None, pairs: list[Pair]) -> None:
    session = _session(ensure_demo_db(), expert, ARMS[arm])
    for pair in pairs:
        evaluate_pair(session, pair)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (larger) parent
    status = Path("/proc/self/status").read_text()
    print(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label")
    parser.add_argument("--expert", default="", help="expert to force (default: the base model)")
    parser.add_argument("--limit", type=int, default=None, help="first N questions of data/eval.jsonl")
    parser.add_argument("--n-limit", type=int, default=20, help="questions for the N table (0: skip it)")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated subset of the arms")
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    pairs = read_pairs(ROOT / "data" / "eval.jsonl")[: args.limit]
    if args.memory_probe:
        _probe(args.memory_probe, args.expert or None, pairs)
        return
    if not args.label:
        parser.error("--label is required")
    arms = [a for a in args.arms.split(",") if a]
    db = ensure_demo_db()
    sessions = {arm: _session(db, args.expert or None, ARMS[arm]) for arm in arms}
    for session in sessions.values():  # warm: model loaded, grammar compiled, retrieval index built
        evaluate_pair(session, pairs[0])
    items: dict[str, list[ItemResult]] = {arm: [] for arm in arms}
    results: dict = {
        "label": args.label,
        "expert": args.expert or None,
        "machine": platform.processor() or platform.machine(),
        "questions": len(pairs),
        "arms": {arm: ARMS[arm] for arm in arms},
        "prepared": {
            arm: {
                "precision": s.prepared.precision,
                "merged": s.prepared.merged,
                "seconds": round(s.prepared.seconds, 2),
            }
            for arm, s in sessions.items()
            if s.prepared is not None
        },
    }
    started = time.perf_counter()
    for k, pair in enumerate(pairs):
        order = arms[k % len(arms) :] + arms[: k % len(arms)]
        for arm in order:
            items[arm].append(evaluate_pair(sessions[arm], pair))
        if (k + 1) % 5 == 0 or k + 1 == len(pairs):
            results["summary"] = {arm: _summary(items[arm]) for arm in arms}
            results["items"] = {
                arm: [
                    {"q": i.question, "status": i.status, "s": round(i.seconds, 3), "sql": i.predicted_sql}
                    for i in items[arm]
                ]
                for arm in arms
            }
            if "before" in items and "after" in items:
                before, after = results["summary"]["before"], results["summary"]["after"]
                results["after_over_before_p50"] = round(after["p50_s"] / max(before["p50_s"], 1e-9), 3)
                results["same_sql_after_vs_before"] = sum(
                    a.predicted_sql == b.predicted_sql
                    for a, b in zip(items["after"], items["before"], strict=False)
                )
            write_json_atomic(RESULTS / f"latency-{args.label}.json", results)
            line = "  ".join(f"{a} p50 {s['p50_s']:.2f}s EX {s['ex']}" for a, s in results["summary"].items())
            print(f"{k + 1}/{len(pairs)} {line}", flush=True)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    if args.n_limit:
        results["n_table"] = _n_table(
            sessions.get("after") or next(iter(sessions.values())), pairs[: args.n_limit]
        )
        greedy = results["n_table"]["0"]["mean_s"]
        results["n8_over_greedy"] = round(results["n_table"]["8"]["mean_s"] / max(greedy, 1e-9), 3)
        write_json_atomic(RESULTS / f"latency-{args.label}.json", results)
    for session in sessions.values():
        session.close()
    results["peak_rss_mb"] = {arm: round(_peak_memory(arm, args.expert or None, 3), 1) for arm in arms}
    write_json_atomic(RESULTS / f"latency-{args.label}.json", results)
    print(
        json.dumps(
            {
                k: results[k]
                for k in ("after_over_before_p50", "n8_over_greedy", "peak_rss_mb")
                if k in results
            }
        )
    )


def _n_table(session: Session, pairs: list[Pair]) -> dict:
    """EX, invalid and mean seconds with 0 (greedy), 1, 4, 8 and 16 samples, questions in the same order."""
    table: dict[str, list[ItemResult]] = {str(n): [] for n in N_TABLE}
    for k, pair in enumerate(pairs):
        order = N_TABLE[k % len(N_TABLE) :] + N_TABLE[: k % len(N_TABLE)]
        for n in order:
            table[str(n)].append(evaluate_pair(session, pair, samples=n))
    return {n: _summary(found) for n, found in table.items()}


if __name__ == "__main__":
    main()
