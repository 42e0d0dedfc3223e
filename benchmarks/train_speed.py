"""Training speed: a plain peft LoRA baseline against `finsql train`, same pairs, seed and wall-time budget.

Usage: python benchmarks/train_speed.py --bull DIR [--db ccks_fund] [--seconds 600] [--arms baseline,finsql]
                                        [--variant KEY=VALUE[,KEY=VALUE...]]... [--eval N] [--dev-loss N]
                                        [--label L]
DIR is a `finsql bull import` folder. Each arm runs in its own process (so peak RSS is its own):
  baseline  HF Trainer + peft LoRA r=16 on all seven projections, batch 8, prompts holding the gold tables
            with all their columns (the issue's reference set-up), padding to the batch; bf16 autocast
            where `finsql train --precision auto` would pick it (a bf16 matmul measured 1.5x faster than fp32
            on this CPU), else fp32; --baseline-precision bf16|fp32 forces it;
  finsql    `train_expert` with its defaults (linked `names` prompt with k=3 retrieved examples, top layers,
            length-grouped batches, no prompt gradients, activation cache, SQL-token loss, precision auto);
  finsql V  one more finsql arm per --variant, with the settings it names changed: `train_expert` arguments
            (layers, prompt_style, activation_cache, prompt_gradients, group_by_length, precision, shots)
            or LoRA settings
            (lora_dropout, r, ...), so that each speed change can be measured alone.
Both stop after --seconds of training. Reports examples/s, peak RSS and (with --eval N) each arm's test-suite
execution accuracy (equal to gold on every generated instance) on the first N dev questions of the database
(--dev-loss N: the finsql arm's loss on them); writes benchmarks/results/train-speed-<label>.json (the ratio
when both arms ran).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
BATCH = 8
TRAIN_ARGUMENTS = {
    "layers",
    "prompt_style",
    "example_tokens",
    "activation_cache",
    "prompt_gradients",
    "group_by_length",
    "precision",
    "shots",
    "augment",
    "max_length",
}


def stop_after(seconds: float):
    """A TrainerCallback that stops training after ``seconds`` of optimizer steps and counts them."""
    from transformers import TrainerCallback

    class StopAfter(TrainerCallback):
        def __init__(self) -> None:
            self.started: float | None = None
            self.steps = 0
            self.elapsed = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if self.started is None:
                self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.steps += 1
            self.elapsed = time.perf_counter() - (self.started or time.perf_counter())
            if self.elapsed >= seconds:
                control.should_training_stop = True

    return StopAfter()


def release_memory() -> None:
    """Return freed heap to the OS (glibc keeps it otherwise), so a job can start beside the evaluation."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        ctypes.CDLL(libc).malloc_trim(0)


def parse_variant(spec: str) -> dict:
    """``layers=6,lora_dropout=0`` as ``{"layers": 6, "lora_dropout": 0}`` (values read as JSON if valid)."""
    settings = {}
    for part in filter(None, (x.strip() for x in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--variant {spec!r}: expected KEY=VALUE pairs")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value.strip()
    return settings


def pairs_for(bull: Path, db: str, split: str) -> list:
    from finsql.ask.pairs import read_pairs

    return [p for p in read_pairs(bull / f"{split}.jsonl") if p.db == db]


def instances(bull: Path, db: str) -> list[Path]:
    """The generated instances of ``db`` in the import ``bull``: a prediction must match gold on each."""
    from finsql.bull.suite import suites_in

    return suites_in(bull)[db]


def database(bull: Path, db: str) -> Path:
    return instances(bull, db)[0]


def gold_table_prompts(db_path: Path, pairs: list) -> list[tuple[object, str, str]]:
    """(pair, prompt, target) for each pair whose gold SQL names a table: those tables with all their columns,
    compact DDL, chat template."""
    from finsql.ask.linking import LinkedSchema
    from finsql.ask.prompting import build_messages, render_prompt
    from finsql.ask.sqlcheck import check_sql
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect
    from finsql.lm.models import load_model

    schema = introspect(connect(db_path))
    tokenizer = load_model().tokenizer

    def tables_in(sql: str) -> list[str]:
        try:
            return list(check_sql(sql, schema).tables)
        except Exception:  # noqa: BLE001 - gold SQL that does not check names no table
            return []

    out = []
    for pair in pairs:
        tables = [schema.table(name) for name in tables_in(pair.sql)]
        if not tables:
            continue
        messages = build_messages(pair.question, LinkedSchema(tables), [], "compact")
        out.append((pair, render_prompt(tokenizer, messages), " ".join(pair.sql.split())[len("SELECT") :]))
    return out


def run_baseline(args: argparse.Namespace) -> dict:
    """The issue's reference: plain HF Trainer + peft LoRA, nothing finsql-specific in the loop."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    from finsql.lm.methods import LLAMA_PROJECTIONS
    from finsql.lm.models import load_model
    from finsql.lm.runtime import mixed_precision

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    lm = load_model()
    autocast, _ = mixed_precision(lm, args.baseline_precision)
    tok = lm.tokenizer
    rows = []
    train = pairs_for(args.bull, args.db, "train")
    for _, prompt, target in gold_table_prompts(database(args.bull, args.db), train):
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        t = tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        rows.append({"input_ids": p + t, "labels": [-100] * len(p) + t})
    model = get_peft_model(lm.model, LoraConfig(r=16, lora_alpha=32, target_modules=LLAMA_PROJECTIONS))
    budget = stop_after(args.seconds)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=folder,
                per_device_train_batch_size=BATCH,
                learning_rate=2e-4,
                num_train_epochs=1,
                bf16=autocast == "bf16",
                use_cpu=True,
                logging_steps=10,
                save_strategy="no",
                report_to="none",
                seed=args.seed,
                disable_tqdm=True,
                dataloader_num_workers=0,
            ),  # fmt: skip
            train_dataset=rows,
            data_collator=DataCollatorForSeq2Seq(tok, padding=True),
            callbacks=[budget],
        )
        trainer.train()
        del trainer
    release_memory()  # the evaluation that follows needs a fraction of training's peak: give the rest back
    model.eval()
    held_out = evaluate_baseline(args, lm) if args.eval else None
    tokens = sorted(len(r["input_ids"]) for r in rows)
    return {
        "examples": len(rows),
        "median_tokens": tokens[len(tokens) // 2],
        "steps": budget.steps,
        "seconds": round(budget.elapsed, 1),
        "examples_per_s": round(budget.steps * BATCH / budget.elapsed, 3) if budget.elapsed else None,
        "precision": autocast or "float32",
        **({"held_out": held_out} if held_out else {}),
    }


def evaluate_baseline(args: argparse.Namespace, lm) -> dict:
    """Greedy test-suite EX of the baseline adapter on the first --eval dev questions (its result must equal
    gold on every generated instance), prompted as it was trained: with the gold SQL's tables (an oracle the
    finsql arm does not get, so the comparison favours the baseline)."""
    from finsql.ask.evaluation import is_ordered
    from finsql.ask.generation import generate
    from finsql.db.results import results_match
    from finsql.db.sandbox import connect, run_query
    from finsql.errors import FinsqlError

    paths = instances(args.bull, args.db)
    cons = [connect(path) for path in paths]
    dev = pairs_for(args.bull, args.db, "dev")[: args.eval]
    prompts = {id(pair): prompt for pair, prompt, _ in gold_table_prompts(paths[0], dev)}

    def matches(sql: str, golds: list, ordered: bool) -> bool:
        try:
            return all(
                results_match(gold, run_query(con, sql, timeout_s=10).rows, ordered)
                for con, gold in zip(cons, golds, strict=True)
            )
        except FinsqlError:
            return False

    correct = scored = 0
    for pair in dev:
        try:
            golds = [run_query(con, pair.sql, timeout_s=10).rows for con in cons]
        except FinsqlError:
            continue
        scored += 1
        if id(pair) in prompts:
            correct += matches(generate(lm, prompts[id(pair)]).candidates[0].sql, golds, is_ordered(pair.sql))
    return {"ex": round(correct / scored, 4) if scored else None, "correct": correct, "scored": scored}


def run_finsql(args: argparse.Namespace) -> dict:
    from finsql.experts.config import TrainConfig
    from finsql.experts.train import train_expert
    from finsql.lm import hub

    budget = stop_after(args.seconds)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", args.settings).strip("-")
    name = f"train-speed-{args.db}-{args.label}" + (f"-{slug}" if slug else "")  # parallel runs never collide
    settings = parse_variant(args.settings)
    changed = {key: settings.pop(key) for key in TRAIN_ARGUMENTS & set(settings)}
    overrides = settings or None
    config = TrainConfig(
        method="lora", name=name, epochs=1, seed=args.seed, threads=args.threads, callbacks=[budget],
        force=True, val_split=0.0, progress=False, overrides=overrides, **changed,
    )  # fmt: skip
    train_expert(database(args.bull, args.db), pairs_for(args.bull, args.db, "train"), config)
    manifest = hub.load_manifest(name)
    return {
        "examples": manifest.data["train_examples"],
        "median_tokens": manifest.data["train_tokens_median"],
        "shots": manifest.shots,
        "layers": manifest.layers,
        "lora_dropout": manifest.params.get("lora_dropout"),
        "train_loss": manifest.metrics.get("train_loss"),
        "precision": manifest.metrics.get("precision"),
        "group_by_length": manifest.metrics.get("group_by_length"),
        "steps": budget.steps,
        "seconds": round(budget.elapsed, 1),
        "examples_per_s": round(budget.steps * BATCH / budget.elapsed, 3) if budget.elapsed else None,
        "expert": name,
    }


def evaluate_arm(args: argparse.Namespace, expert: str | None) -> dict:
    """Greedy test-suite EX of ``expert`` on the first --eval dev questions (prompts as it was trained)."""
    from finsql.ask.evaluation import evaluate_targets
    from finsql.ask.session import Session

    dev = pairs_for(args.bull, args.db, "dev")[: args.eval]
    report = evaluate_targets(
        dev, {args.db: instances(args.bull, args.db)},
        lambda path: Session(path, expert=expert if expert else False, shots=0), progress=False,
    )  # fmt: skip
    summary = report.summary()
    return {"ex": summary["execution_accuracy"], "correct": summary["correct"], "scored": summary["scored"]}


def dev_loss(args: argparse.Namespace, expert: str) -> float:
    """Mean token cross-entropy of the expert's SQL on the first --dev-loss dev pairs (prompts as at
    inference): a finer signal than EX when a short run answers nothing right."""
    from finsql.experts.compose import open_composition

    dev = pairs_for(args.bull, args.db, "dev")[: args.dev_loss]
    with open_composition(
        [expert], dev, database(args.bull, args.db), threads=args.threads, minimum=1
    ) as comp:
        return round(comp.loss_of([1.0]), 4)


def child(args: argparse.Namespace) -> None:
    result = run_baseline(args) if args.only == "baseline" else run_finsql(args)
    release_memory()
    if args.dev_loss and args.only == "finsql":
        result["dev_loss"] = dev_loss(args, result["expert"])
    if args.eval and args.only == "finsql":  # the baseline arm scores itself before its adapter is dropped
        result["held_out"] = evaluate_arm(args, result["expert"])
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    from finsql.lm.runtime import PRECISIONS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bull", type=Path, required=True)
    parser.add_argument("--db", default="ccks_fund")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", type=int, default=0, help="dev questions to score each arm on")
    parser.add_argument("--dev-loss", type=int, default=0, help="finsql arm: loss on the first N dev pairs")
    parser.add_argument("--arms", default="baseline,finsql", help="arms to run, comma-separated ('': none)")
    parser.add_argument("--variant", action="append", default=[], help="another finsql arm: KEY=VALUE,...")
    parser.add_argument("--only", choices=("baseline", "finsql"), help=argparse.SUPPRESS)
    parser.add_argument("--settings", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline-precision", choices=PRECISIONS, default="auto", help="baseline arithmetic"
    )
    parser.add_argument("--label", default="default")
    args = parser.parse_args()
    if args.only:
        child(args)
        return
    chosen = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    if set(chosen) - {"baseline", "finsql"} or not (chosen or args.variant):
        parser.error("--arms takes baseline, finsql, both or none (with --variant)")
    for spec in args.variant:
        parse_variant(spec)  # a malformed one stops the run before any arm has trained
    runs = [(arm, arm, "") for arm in chosen] + [(f"finsql {spec}", "finsql", spec) for spec in args.variant]
    from finsql.storage import write_json_atomic

    payload: dict = {"benchmark": "train-speed", "db": args.db, "seconds": args.seconds, "arms": {}}
    arms = payload["arms"]
    for name, arm, spec in runs:
        command = [sys.executable, __file__, *sys.argv[1:], "--only", arm, "--settings", spec]
        proc = subprocess.run(command, capture_output=True, text=True, check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        arms[name] = json.loads(line[len("RESULT ") :])
        print(name, arms[name], flush=True)
        if "baseline" in arms:
            payload["ratios"] = {
                key: round(value["examples_per_s"] / arms["baseline"]["examples_per_s"], 3)
                for key, value in arms.items()
                if key != "baseline"
            }
        write_json_atomic(RESULTS / f"train-speed-{args.label}.json", payload)  # after every arm
    for key, ratio in payload.get("ratios", {}).items():
        print(f"examples/s {key} / baseline = {ratio:.2f}x")


if __name__ == "__main__":
    main()
