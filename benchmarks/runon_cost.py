"""What continuing answers that ran on costs: the same questions asked alternately by a warm session with it
and one without (``Session(continue_runons=False)``), per-question seconds and SQL side by side.

Usage:
    FINSQL_CACHE_DIR=DIR python benchmarks/runon_cost.py --label s12 --limit 30 [--expert NAME]

Writes benchmarks/results/runon-cost-<label>.json: p50 and mean seconds of each arm, and every question's
seconds and whether its SQL differs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from finsql.ask.pairs import read_pairs
from finsql.ask.session import Session
from finsql.db.database import ensure_demo_db
from finsql.errors import FinsqlError
from finsql.storage import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--limit", type=int, default=30, help="first N questions of data/eval.jsonl")
    parser.add_argument("--expert", default="", help="expert to force (default: the base model)")
    args = parser.parse_args()
    db = ensure_demo_db()
    expert = args.expert or False
    arms = {
        "continued": Session(db, expert=expert, force_expert=bool(args.expert)),
        "not-continued": Session(db, expert=expert, force_expert=bool(args.expert), continue_runons=False),
    }
    items = []
    for k, pair in enumerate(read_pairs(ROOT / "data" / "eval.jsonl")[: args.limit]):
        row: dict = {"q": pair.question}
        names = list(arms) if k % 2 == 0 else list(reversed(arms))  # each arm goes first half the time
        for name in names:
            clock = time.perf_counter()
            try:
                sql = arms[name].ask(pair.question).sql
            except FinsqlError:
                sql = ""
            row[name] = {"seconds": round(time.perf_counter() - clock, 3), "sql": sql}
        row["differs"] = row["continued"]["sql"] != row["not-continued"]["sql"]
        items.append(row)
        print(k, row["continued"]["seconds"], row["not-continued"]["seconds"], row["differs"], flush=True)
    summary = {
        name: {
            "p50_s": round(statistics.median(i[name]["seconds"] for i in items), 3),
            "mean_s": round(statistics.mean(i[name]["seconds"] for i in items), 3),
        }
        for name in arms
    }
    out = ROOT / "benchmarks" / "results" / f"runon-cost-{args.label}.json"
    write_json_atomic(out, {"label": args.label, "expert": args.expert, "summary": summary, "items": items})
    print(summary)


if __name__ == "__main__":
    main()
