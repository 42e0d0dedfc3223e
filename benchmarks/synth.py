"""Synthesized training pairs: execution accuracy of experts trained on them against the base model, side by
side on one evaluation set, plus the synthesizer's own figures per database.

Usage:
    python benchmarks/synth.py --label demo --eval data/eval.jsonl \
        --arm base=base --arm synth-only=expert:demo-synth --arm synth+train=expert:demo-synth-train
    python benchmarks/synth.py --label bull-macro --db /tmp/bull-en --eval /tmp/bull-en/dev.jsonl \
        --eval-db ccks_macro --limit 100 --arm base=base --arm synth=expert:macro-synth
    python benchmarks/synth.py --label profile --profile-db demo \
        --profile-db /tmp/bull-en/ccks_fund/instance-0.duckdb

An arm is ``LABEL=base`` (the base model with the database's default few-shot pool, and its synthesized pool
when fewer than 200 pairs were written),
``LABEL=nosynth`` (the same without the synthesized pool), ``LABEL=pool:FILE`` (the base model retrieving from
FILE's pairs alone) or ``LABEL=expert:NAME`` (that expert, with its own pool). Arms are
evaluated one after another in the same process, constrained decoding on (``--no-constrain`` to compare).
Writes benchmarks/results/synth-<label>.json: per arm ``execution_accuracy`` and the rest of the summary.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from finsql.ask.evaluation import evaluate_targets, resolve_targets
from finsql.ask.session import Session
from finsql.db.database import resolve_database
from finsql.experts.pairs_io import read_pairs_any
from finsql.storage import write_json_atomic
from finsql.synth.pool import POOL_PAIRS
from finsql.synth.synthesizer import synthesize_database

RESULTS = Path(__file__).parent / "results"


def open_arm(spec: str, grammar: str):
    """A function opening a session for one database path, as the arm ``spec`` asks."""
    kind, _, value = spec.partition(":")
    if kind not in ("base", "nosynth", "pool", "expert"):
        raise SystemExit(f"unknown arm {spec!r}: base, nosynth, pool:FILE or expert:NAME")

    def open_session(path: Path) -> Session:
        return Session(
            path,
            expert=value if kind == "expert" else False,
            examples_path=Path(value) if kind == "pool" else None,
            grammar=grammar,
            synth_pool=POOL_PAIRS if kind == "base" else 0,
        )

    return open_session


def profile(db: str, n: int, seed: int) -> dict:
    """The synthesizer's figures on one database: kept, dropped and why, templates covered, seconds."""
    started = time.perf_counter()
    _, report = synthesize_database(resolve_database(None if db == "demo" else db), n, seed)
    return report.to_json() | {"wall_seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--db", default=None, help="database, CSV folder or bull import (default: demo)")
    parser.add_argument("--eval", type=Path, help="question/SQL pairs to answer")
    parser.add_argument("--eval-db", default=None, help="keep only the pairs of this database")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only")
    parser.add_argument("--arm", action="append", default=[], help="LABEL=SPEC (repeatable)")
    parser.add_argument("--samples", type=int, default=0)
    parser.add_argument("--no-constrain", action="store_true")
    parser.add_argument("--profile-db", action="append", default=[], help="also profile synthesis here")
    parser.add_argument("--profile-n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    payload: dict = {
        "benchmark": "synth",
        "label": args.label,
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()} {platform.processor() or ''} cpu".strip(),
        "constrained": not args.no_constrain,
        "arms": {},
        "items": {},
        "synthesizer": {db: profile(db, args.profile_n, args.seed) for db in args.profile_db},
    }
    out = RESULTS / f"synth-{args.label}.json"
    if args.eval is not None:
        pairs = read_pairs_any(args.eval, args.eval_db)[: args.limit]
        targets = resolve_targets(args.db, pairs)
        for arm in args.arm:
            label, _, spec = arm.partition("=")
            report = evaluate_targets(
                pairs, targets, open_arm(spec, "off" if args.no_constrain else "schema"), args.samples
            )
            summary = report.summary()
            payload["arms"][label] = {"spec": spec, **summary}
            payload["items"][label] = report.to_json()["items"]
            write_json_atomic(out, payload)  # each arm as it ends
            ex, correct, scored = summary["execution_accuracy"], summary["correct"], summary["scored"]
            print(
                f"{label}: EX {ex:.1%} ({correct}/{scored}), "
                f"invalid {summary.get('invalid', 0)}, p50 {summary['seconds_p50']} s",
                flush=True,
            )
    write_json_atomic(out, payload)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
