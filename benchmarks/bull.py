"""BULL end to end: import, base model, per-database and joint experts, self-consistency, LoRAHub on macro.

Usage: python benchmarks/bull.py [--bull ../shared/bull/BULL-en] [--out DIR] [--limit N] [--minutes M]
                                 [--steps S] [--samples 8] [--k 20] [--budget 40] [--shots 3] [--seed 0]
                                 [--reuse] [--stages base,expert,...] [--label L]
The chain, each stage timed:
  import     `finsql bull import` of --bull into --out (kept when --out already holds an import of it);
  base       the default model without expert, --shots examples retrieved from the database's BULL train
             pairs, on the first --limit dev questions of each database;
  expert     a LoRA expert per database (`finsql train` defaults, trained and asked with --shots retrieved
             examples) trained on its BULL train pairs for --minutes of wall time (or --steps; the name
             records the budget and shots), greedy on the same questions;
  expert+N   the same expert, --samples sampled candidates voted by execution result;
  lorahub    FinSQL's few-shot transfer: the fund and stock experts composed with --k macro train pairs
             (--budget loss evaluations), on macro dev;
  joint      one expert for all the databases (`finsql train --db <import>`), trained on all their train
             pairs for the per-database experts' budget times the number of databases, greedy on each.
--stages picks some of them (train runs when an expert arm needs it).
Every prediction is scored by test-suite EX: it must match gold on every generated instance. Writes
benchmarks/results/bull-<label>.json (rows per database and arm, stage times, wall time, peak RSS) and prints
a markdown table. --reuse keeps experts already trained with the same data and budget.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import time
from pathlib import Path

from train_speed import stop_after  # the same wall-clock budget as the training-speed benchmark

from finsql.ask.evaluation import evaluate_targets
from finsql.ask.pairs import Pair, read_pairs
from finsql.ask.session import Session
from finsql.bull.importer import import_bull
from finsql.bull.suite import MANIFEST, suites_in
from finsql.experts.compose import compose_expert
from finsql.experts.config import TrainConfig
from finsql.experts.pairs_io import data_hash
from finsql.experts.train import train_expert
from finsql.lm import hub
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"
SHARED_BULL = Path(__file__).resolve().parents[2] / "shared" / "bull" / "BULL-en"
PUBLISHED = {"FinSQL, LLaMA2-13B": 0.822, "FinSQL, T5-large": 0.815}  # BULL-en EX, Zhang et al. SIGMOD 2024
FEW_SHOT_TARGET = "ccks_macro"
FEW_SHOT_SOURCES = ("ccks_fund", "ccks_stock")
STAGES = ("base", "expert", "self-consistency", "lorahub", "joint")


def ensure_import(source: Path, out: Path) -> dict:
    """The import manifest of ``out``, importing ``source`` first unless ``out`` holds an import of it."""
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("source") == str(source.resolve()):
            return manifest
    return import_bull(source, out, force=True)


def by_db(pairs: list[Pair]) -> dict[str, list[Pair]]:
    grouped: dict[str, list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.db or "", []).append(pair)
    return grouped


def score(
    dev: dict[str, list[Pair]],
    suites: dict[str, list[Path]],
    expert_of: dict[str, str | None],
    samples: int,
    shots: int,
    reshape: bool = True,
    continue_runons: bool = True,
) -> dict[str, dict]:
    """Test-suite EX of each database's dev pairs, with ``expert_of[db]`` (None: the base model);
    ``reshape`` False keeps the voted SQL as written (``Session``'s periods, filters, rankings, one
    figure); ``continue_runons`` False ends a greedy answer that ran on where it began repeating."""
    out = {}
    for db, expert in expert_of.items():

        def open_session(path: Path, expert: str | None = expert) -> Session:
            """The base model draws its examples from the database's train pairs (the import's)."""
            return Session(
                path,
                expert=expert if expert else False,
                shots=shots,
                prompt_style="compact",
                year_bounds=reshape,
                value_filters=reshape,
                joins=reshape,
                one_figure=reshape,
                rankings=reshape,
                listings=reshape,
                groups=reshape,
                continue_runons=continue_runons,
            )

        clock = time.perf_counter()
        report = evaluate_targets(dev[db], {db: suites[db]}, open_session, samples=samples, progress=False)
        summary = report.summary()
        out[db] = {
            "expert": expert,
            "ex": summary["execution_accuracy"],
            "correct": summary["correct"],
            "scored": summary["scored"],
            "invalid": summary["invalid"],
            "gold_errors": summary["gold_errors"],
            "seconds": round(time.perf_counter() - clock, 1),
            "statuses": [item.status for item in report.items],
            "items": [
                {"q": i.question, "status": i.status, "sql": i.predicted_sql, "gold": i.gold_sql}
                for i in report.items
            ],
        }
        print(f"  {db}: {summary['correct']}/{summary['scored']} ({expert or 'base'})", flush=True)
    return out


def trained_expert(kind: str, db_path: Path, pairs: list[Pair], scale: int, args) -> str:
    """A LoRA expert ``bull-<kind>-<budget>-k<shots>-s<seed>`` trained on ``pairs`` for ``scale`` times the
    per-database budget (``db_path``: a database, or the import folder for a joint expert); with --reuse an
    expert of the same name and data is kept."""
    budget = f"{args.steps * scale}steps" if args.steps else f"{args.minutes * scale:g}min"
    name = f"bull-{kind}-{budget}-k{args.shots}-s{args.seed}"
    reusable = args.reuse and hub.expert_dir(name).exists()
    if reusable and hub.load_manifest(name).data["hash"] == data_hash(pairs):
        return name
    callbacks = [stop_after(args.minutes * 60 * scale)] if args.minutes else []
    config = TrainConfig(
        method="lora", name=name, steps=args.steps * scale if args.steps else None,
        epochs=None if args.steps else 1.0, seed=args.seed, shots=args.shots, val_split=0.0, val_ex_limit=0,
        callbacks=callbacks, force=True, progress=False,
    )  # fmt: skip
    train_expert(db_path, pairs, config)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bull", type=Path, default=SHARED_BULL, help="BULL-en (or BULL-cn) folder")
    parser.add_argument("--out", type=Path, default=None, help="import folder (default: <cache>/bull/<name>)")
    parser.add_argument("--limit", type=int, default=None, help="first N dev questions of each database")
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall time of each expert")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps instead of --minutes")
    parser.add_argument("--samples", type=int, default=8, help="candidates of the self-consistency arm")
    parser.add_argument("--k", type=int, default=20, help="macro train pairs LoRAHub composes on")
    parser.add_argument("--budget", type=int, default=40, help="LoRAHub loss evaluations")
    parser.add_argument("--shots", type=int, default=3, help="retrieved examples in every prompt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="reuse experts of the same data and budget")
    parser.add_argument("--stages", default=",".join(STAGES), help="stages to run, comma-separated")
    parser.add_argument("--label", default="en")
    parser.add_argument("--no-reshape", action="store_true", help="keep the voted SQL as the model wrote it")
    parser.add_argument("--no-continue", action="store_true", help="do not continue answers that ran on")
    args = parser.parse_args()
    chosen = {x.strip() for x in args.stages.split(",") if x.strip()}
    if not chosen or chosen - set(STAGES):
        parser.error(f"--stages takes {', '.join(STAGES)}")
    if args.steps:
        args.minutes = 0.0
    reshape = not args.no_reshape

    from finsql.paths import cache_dir

    started = time.perf_counter()
    stages: dict[str, float] = {}
    out = args.out or cache_dir() / "bull" / args.bull.name
    clock = time.perf_counter()
    manifest = ensure_import(args.bull, out)
    stages["import"] = round(time.perf_counter() - clock, 1)
    suites = suites_in(out)
    train = by_db(read_pairs(out / "train.jsonl"))
    usable = by_db(read_pairs(out / "dev.jsonl"))
    dev = {db: pairs[: args.limit] for db, pairs in usable.items()}
    names = sorted(set(dev) & set(suites))
    result_path = RESULTS / f"bull-{args.label}.json"
    payload: dict = {
        "benchmark": "bull",
        "source": str(args.bull),
        "import": str(out),
        "dev_usable": {db: len(pairs) for db, pairs in usable.items()},
        "dev_dropped": manifest["counts"],
        "dev_scored_per_db": {db: len(dev[db]) for db in names},
        "instances": manifest["instances"],
        "settings": {
            "limit": args.limit,
            "minutes": args.minutes,
            "steps": args.steps,
            "samples": args.samples,
            "k": args.k,
            "budget": args.budget,
            "shots": args.shots,
            "seed": args.seed,
            "stages": sorted(chosen, key=STAGES.index),
            "reshape": not args.no_reshape,
            "continue_runons": not args.no_continue,
        },  # fmt: skip
        "published": PUBLISHED,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "arms": {},
        "stages": stages,
    }

    def save() -> None:
        payload["seconds"] = round(time.perf_counter() - started, 1)
        payload["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        write_json_atomic(result_path, payload)

    arms = payload["arms"]

    def stage(name: str, action, arm: str | None = None):
        """Run one stage, time it, keep its rows under ``arm`` and save what has been measured so far."""
        print(f"{name}:", flush=True)
        clock = time.perf_counter()
        value = action()
        stages[name] = round(time.perf_counter() - clock, 1)
        if arm:
            arms[arm] = value
        save()
        return value

    if "base" in chosen:
        stage(
            "base",
            lambda: score(dev, suites, dict.fromkeys(names), 0, args.shots, reshape, not args.no_continue),
            "base",
        )
    trained: dict[str, str] = {}
    if chosen & {"expert", "self-consistency", "lorahub"}:
        per_db = {db: (suites[db][0], train[db]) for db in names}
        trained = stage("train", lambda: {db: trained_expert(db, *per_db[db], 1, args) for db in names})
    if "expert" in chosen:
        stage(
            "expert",
            lambda: score(dev, suites, trained, 0, args.shots, reshape, not args.no_continue),
            "expert",
        )
    if "self-consistency" in chosen:
        stage(
            "self-consistency",
            lambda: score(dev, suites, trained, args.samples, args.shots, reshape, not args.no_continue),
            f"expert+N={args.samples}",
        )
    if "lorahub" in chosen and FEW_SHOT_TARGET in names and all(db in trained for db in FEW_SHOT_SOURCES):
        few = random.Random(args.seed).sample(
            train[FEW_SHOT_TARGET], min(args.k, len(train[FEW_SHOT_TARGET]))
        )
        composed = f"bull-{FEW_SHOT_TARGET}-lorahub-k{len(few)}-s{args.seed}"

        def lorahub() -> dict:
            sources = [trained[db] for db in FEW_SHOT_SOURCES]
            compose_expert(
                sources, few, suites[FEW_SHOT_TARGET][0], composed, budget=args.budget, seed=args.seed,
                progress=False, force=True,
            )  # fmt: skip
            composition = hub.load_manifest(composed).composition or {}
            rows = score(
                dev, suites, {FEW_SHOT_TARGET: composed}, 0, args.shots, reshape, not args.no_continue
            )
            rows[FEW_SHOT_TARGET]["weights"] = dict(zip(sources, composition["weights"], strict=True))
            return rows

        stage("lorahub", lorahub, f"lorahub k={len(few)}")
    if "joint" in chosen:

        def joint() -> dict:
            name = trained_expert("all", out, [p for db in names for p in train[db]], len(names), args)
            return score(
                dev, suites, dict.fromkeys(names, name), 0, args.shots, reshape, not args.no_continue
            )

        stage("joint", joint, "joint expert")
    save()
    print(f"wrote {result_path} ({payload['seconds']:.0f} s, peak RSS {payload['peak_rss_mb']:.0f} MB)")
    print("| arm | " + " | ".join(names) + " | all |")
    print("|---|" + "---:|" * (len(names) + 1))
    for arm, rows in arms.items():
        correct = sum(r["correct"] for r in rows.values())
        scored = sum(r["scored"] for r in rows.values())
        cells = [f"{rows[db]['correct']}/{rows[db]['scored']}" if db in rows else "-" for db in names]
        print(f"| {arm} | " + " | ".join(cells) + f" | {correct / scored if scored else 0:.1%} |")


if __name__ == "__main__":
    main()
