"""Per PEFT method: trainable parameters, adapter size, training time, held-out demo EX; the base model too.

Usage: python benchmarks/methods.py [--methods lora,dora,...] [--epochs 3 | --steps N] [--limit N]
                                    [--reuse lora=demo-lora ...] [--label L]
Each method trains a demo expert (`finsql train` defaults: compact prompt, top 8 layers, paraphrase
augmentation) on data/train.jsonl, then answers data/eval.jsonl (held out) greedily. The base row is the
foundation configuration: no expert, full prompt, 3 retrieved examples. `--reuse METHOD=EXPERT` evaluates an
expert already in the hub (its manifest gives the training figures) instead of training one.
Writes benchmarks/results/methods-<label>.json after every row and prints a markdown table; `--continue`
keeps the rows a stopped run already wrote and measures the rest.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

from finsql.ask.evaluation import evaluate
from finsql.ask.pairs import demo_pairs, read_pairs
from finsql.ask.session import Session
from finsql.db.database import ensure_demo_db
from finsql.experts.config import TrainConfig
from finsql.experts.train import train_expert
from finsql.lm import hub
from finsql.plugins import peft_methods
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"
BASE = "base (no expert, 3 shots)"
ALL = ("lora", "dora", "adalora", "ia3", "prompt-tuning", "prefix-tuning", "bitfit")


def held_out(session: Session, limit: int | None) -> dict:
    pairs = read_pairs(demo_pairs("eval"))[:limit]
    clock = time.perf_counter()
    report = evaluate(session, pairs)
    summary = report.summary()
    return {
        "ex": summary["execution_accuracy"],
        "correct": summary["correct"],
        "scored": summary["scored"],
        "valid": summary["scored"] - summary["invalid"],
        "seconds_p50": summary["seconds_p50"],
        "eval_seconds": round(time.perf_counter() - clock, 1),
        "items": report.to_json()["items"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(ALL))
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N held-out questions")
    parser.add_argument("--reuse", action="append", default=[], help="METHOD=EXPERT already trained")
    parser.add_argument("--no-base", action="store_true", help="skip the base-model row")
    parser.add_argument("--label", default="demo")
    parser.add_argument("--continue", dest="resume", action="store_true", help="keep rows already written")
    args = parser.parse_args()
    out = RESULTS / f"methods-{args.label}.json"

    reuse = dict(item.split("=", 1) for item in args.reuse)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(peft_methods()))
    if unknown:
        raise SystemExit(f"unknown methods: {', '.join(unknown)}")
    db = ensure_demo_db()
    rows = json.loads(out.read_text())["rows"] if args.resume and out.exists() else []
    done = {row["method"] for row in rows}

    def write() -> None:  # after every row, so a long run that is stopped keeps what it measured
        payload = {
            "benchmark": "methods",
            "label": args.label,
            "machine": f"{platform.machine()} {platform.processor() or ''} cpu".strip(),
            "epochs": args.epochs,
            "steps": args.steps,
            "limit": args.limit,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rows": rows,
        }
        write_json_atomic(out, payload)

    if not args.no_base and BASE not in done:
        session = Session(db, expert=False, shots=3, prompt_style="full")
        rows.append({"method": BASE, **held_out(session, args.limit)})
        session.close()
        write()
        print({k: v for k, v in rows[-1].items() if k != "items"}, flush=True)
    for method in [m for m in methods if m not in done]:
        name = reuse.get(method) or f"bench-{method}"
        if method not in reuse:
            config = TrainConfig(
                method=method,
                name=name,
                epochs=args.epochs,
                steps=args.steps,
                augment=("paraphrase",),
                val_ex_limit=0,
                force=True,
            )
            train_expert(db, read_pairs(demo_pairs("train")), config)
        manifest = hub.load_manifest(name)
        metrics = manifest.metrics
        session = Session(db, expert=name)
        row = {
            "method": method,
            "expert": name,
            "trainable_params": metrics["trainable_params"],
            "adapter_bytes": metrics["adapter_bytes"],
            "train_seconds": metrics["train_seconds"],
            "steps": metrics["steps"],
            "seconds_per_step": metrics["seconds_per_step"],
            "val_loss": metrics["best_val_loss"],
            "layers": manifest.layers,
            "prompt_style": manifest.prompt_style,
            "shots": manifest.shots,
            **held_out(session, args.limit),
        }
        session.close()
        rows.append(row)
        write()
        print({k: v for k, v in row.items() if k != "items"}, flush=True)
    print("| method | trainable params | adapter | train time | held-out EX | valid SQL |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        size = f"{r['adapter_bytes'] / 1e6:.2f} MB" if "adapter_bytes" in r else "-"
        params = f"{r['trainable_params']:,}" if "trainable_params" in r else "-"
        train = f"{r['train_seconds'] / 60:.1f} min ({r['steps']} steps)" if "train_seconds" in r else "-"
        print(
            f"| {r['method']} | {params} | {size} | {train} | {r['ex']:.1%} ({r['correct']}/{r['scored']}) "
            f"| {r['valid']}/{r['scored']} |"
        )


if __name__ == "__main__":
    main()
