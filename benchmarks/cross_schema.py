"""Cross-schema transfer: LoRAHub against the base model, the best single expert, averaging and few-shot LoRA.

Usage: python benchmarks/cross_schema.py [--holdout macro] [--k 5,20] [--seed 0] [--steps 200] [--limit N]
                                         [--budget 40] [--layers 8] [--kshot-epochs 20] [--model M]
                                         [--reuse] [--add-held-out-loss] [--label L] [--out FILE]
The demo database holds four domains: fund, stock (with industries), bond and macro (indicators, currencies,
exchange rates). A pair belongs to a domain when every table its gold SQL reads is of that domain (pairs that
mix domains are left out). One domain is held out; a LoRA expert is trained (`finsql train` defaults, --steps
steps) on the train pairs of each other domain. Then for each k, with the first k of the held-out domain's
train pairs (a seeded shuffle, so the smaller sets are nested in the larger), every arm answers the held-out
domain's eval pairs (data/eval.jsonl, first --limit) greedily:
  base: the model without expert; best expert: the expert with the lowest loss on the k examples;
  average: the experts' LoRA matrices averaged; lorahub: weights searched on the k examples (--budget);
  lora-k: a LoRA expert trained on the k examples alone (--kshot-epochs epochs).
Each arm also gets its loss on the held-out pairs' gold SQL (finer than EX where no arm answers right;
--add-held-out-loss adds it to the rows of an earlier result file, whose experts are still saved).
Writes benchmarks/results/cross-schema-<holdout>-s<seed>[-<label>].json (or --out), prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import time
from pathlib import Path

from finsql.data import build_demo

from finsql.ask.evaluation import evaluate
from finsql.ask.pairs import Pair, demo_pairs, read_pairs
from finsql.ask.session import Session
from finsql.db.database import ensure_demo_db
from finsql.experts.compose import compose_expert, open_composition
from finsql.experts.config import TrainConfig
from finsql.experts.pairs_io import data_hash
from finsql.experts.train import train_expert
from finsql.lm import hub
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"
DOMAINS = {
    "fund": {
        "fund_company", "fund_manager", "fund", "fund_manager_tenure", "fund_nav", "fund_return",
        "fund_holding", "fund_size",
    },
    "stock": {
        "industry", "stock", "stock_daily_price", "stock_dividend", "stock_shareholder", "stock_financials",
    },
    "bond": {"bond"},
    "macro": {"macro_indicator", "currency", "exchange_rate"},
}  # fmt: skip
assert set().union(*DOMAINS.values()) == {table[0] for table in build_demo.SCHEMA}, (
    "a demo table has no domain"
)


def domain_of(pair: Pair) -> str | None:
    """The domain of every table the pair's SQL reads, None when it reads several domains."""
    import sqlglot
    from sqlglot import exp

    tables = {t.name for t in sqlglot.parse_one(pair.sql, read="duckdb").find_all(exp.Table)}
    found = {domain for domain, members in DOMAINS.items() if tables & members}
    return found.pop() if len(found) == 1 else None


def by_domain(pairs: list[Pair]) -> dict[str, list[Pair]]:
    grouped: dict[str, list[Pair]] = {domain: [] for domain in DOMAINS}
    for pair in pairs:
        domain = domain_of(pair)
        if domain is not None:
            grouped[domain].append(pair)
    return grouped


def held_out_ex(db: Path, model: str | None, expert: str | None, pairs: list[Pair]) -> dict:
    """Greedy execution accuracy on ``pairs`` with ``expert`` (None: the base model; compact, 0 shots)."""
    clock = time.perf_counter()
    choice = expert if expert is not None else False
    session = Session(db, model_name=model, expert=choice, shots=0, prompt_style="compact")
    try:
        report = evaluate(session, pairs, progress=False)
    finally:
        session.close()
    summary = report.summary()
    return {
        "ex": summary["execution_accuracy"],
        "correct": summary["correct"],
        "scored": summary["scored"],
        "invalid": summary["invalid"],
        "eval_seconds": round(time.perf_counter() - clock, 1),
    }


def held_out_loss(db: Path, expert: str | None, reference: str, pairs: list[Pair]) -> float:
    """Mean token cross-entropy of the gold SQL of ``pairs`` with ``expert`` (None: the base model, read as
    the ``reference`` expert at weight 0): a finer signal than EX where no arm answers right."""
    with open_composition([expert or reference], pairs, db, minimum=1) as comp:
        return round(comp.loss_of([1.0 if expert else 0.0]), 4)


def domain_expert(db: Path, domain: str, pairs: list[Pair], args) -> str:
    """The LoRA expert of one domain (trained, or reused with --reuse when data and steps match)."""
    name = f"xs-{domain}-s{args.seed}"
    if args.reuse and hub.expert_dir(name).exists():
        manifest = hub.load_manifest(name)
        if manifest.data["hash"] == data_hash(pairs) and manifest.hyperparameters["steps"] == args.steps:
            return name
    config = TrainConfig(
        method="lora", name=name, model_name=args.model, layers=args.layers, steps=args.steps,
        val_split=0, seed=args.seed, val_ex_limit=0, force=True, progress=False,
    )  # fmt: skip
    train_expert(db, pairs, config)
    return name


def arms_for_k(db: Path, names: list[str], few: list[Pair], eval_pairs: list[Pair], args) -> list[dict]:
    """Best single expert, average, LoRAHub and few-shot LoRA for one set of k examples."""
    k = len(few)
    tag = f"xs-{args.holdout}-k{k}-s{args.seed}"
    rows = []
    with open_composition(names, few, db) as comp:
        losses = [comp.loss_of([float(i == j) for j in range(len(names))]) for i in range(len(names))]
    best = min(range(len(names)), key=losses.__getitem__)
    rows.append(
        {"arm": "best expert", "expert": names[best], "loss": losses[best],
         "expert_losses": dict(zip(names, losses, strict=True))}
    )  # fmt: skip
    for combiner in ("average", "lorahub"):
        name = f"{tag}-{combiner}"
        compose_expert(
            names,
            few,
            db,
            name,
            combiner=combiner,
            budget=args.budget,
            seed=args.seed,
            progress=False,
            force=True,
        )
        comp_info = hub.load_manifest(name)
        composition = comp_info.composition or {}
        rows.append(
            {"arm": combiner, "expert": name, "loss": comp_info.metrics["examples_loss"],
             "weights": dict(zip(composition["experts"], composition["weights"], strict=True))}
        )  # fmt: skip
    name = f"{tag}-lora"
    config = TrainConfig(
        method="lora", name=name, model_name=args.model, layers=args.layers, epochs=args.kshot_epochs,
        val_split=0, seed=args.seed, val_ex_limit=0, force=True, progress=False,
    )  # fmt: skip
    train_expert(db, few, config)
    rows.append(
        {
            "arm": f"lora-{k}",
            "expert": name,
            "train_loss": hub.load_manifest(name).metrics["train_loss"],
        }
    )
    for row in rows:
        row.update(held_out_ex(db, args.model, row["expert"], eval_pairs))
        row["held_out_loss"] = held_out_loss(db, row["expert"], names[0], eval_pairs)
        print({key: value for key, value in row.items() if key != "expert_losses"}, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout", choices=sorted(DOMAINS), default="macro")
    parser.add_argument("--k", default="5,20", help="comma-separated numbers of held-out examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200, help="training steps of each domain expert")
    parser.add_argument("--limit", type=int, default=None, help="first N held-out eval pairs")
    parser.add_argument("--budget", type=int, default=40, help="LoRAHub loss evaluations")
    parser.add_argument("--layers", type=int, default=8, help="adapt the top N layers (0: all)")
    parser.add_argument("--kshot-epochs", type=float, default=20.0, help="epochs of the LoRA on k examples")
    parser.add_argument("--model", default=None, help="base model (default: SmolLM2-135M-Instruct)")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse domain experts of the same data and steps"
    )
    parser.add_argument(
        "--add-held-out-loss", action="store_true",
        help="only add each arm's loss on the held-out pairs to an existing result file",
    )  # fmt: skip
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, default=None, help="result file (default: benchmarks/results/)")
    args = parser.parse_args()

    started = time.perf_counter()
    db = ensure_demo_db()
    train = by_domain(read_pairs(demo_pairs("train")))
    evals = by_domain(read_pairs(demo_pairs("eval")))
    eval_pairs = evals[args.holdout][: args.limit]
    pool = random.Random(args.seed).sample(train[args.holdout], len(train[args.holdout]))
    names = []
    for domain in DOMAINS:
        if domain != args.holdout:
            names.append(domain_expert(db, domain, train[domain], args))
            print(f"expert {names[-1]}: {len(train[domain])} train pairs", flush=True)
    label = f"-{args.label}" if args.label else ""
    out = args.out or RESULTS / f"cross-schema-{args.holdout}-s{args.seed}{label}.json"
    ks = sorted({int(part) for part in args.k.split(",") if part.strip()})

    def save(rows: list[dict], done: list[int]) -> None:
        """The rows so far, so that a killed run keeps what it measured (``k_done``)."""
        payload = {
            "benchmark": "cross-schema",
            "holdout": args.holdout,
            "experts": names,
            "domain_pairs": {d: {"train": len(train[d]), "eval": len(evals[d])} for d in DOMAINS},
            "eval_pairs": len(eval_pairs),
            "seed": args.seed,
            "steps": args.steps,
            "layers": args.layers,
            "budget": args.budget,
            "kshot_epochs": args.kshot_epochs,
            "model": args.model,
            "k": ks,
            "k_done": done,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "seconds": round(time.perf_counter() - started, 1),
            "rows": rows,
        }
        write_json_atomic(out, payload)

    if args.add_held_out_loss:  # the arms of an earlier run (their experts still saved), scored again
        payload = json.loads(out.read_text(encoding="utf-8"))
        for row in payload["rows"]:
            row["held_out_loss"] = held_out_loss(db, row.get("expert"), names[0], eval_pairs)
            print(row["arm"], row["k"], row["held_out_loss"], flush=True)
        write_json_atomic(out, payload)
        return
    rows = [{"k": 0, "arm": "base", **held_out_ex(db, args.model, None, eval_pairs)}]
    rows[0]["held_out_loss"] = held_out_loss(db, None, names[0], eval_pairs)
    print(rows[0], flush=True)
    save(rows, [])
    for i, k in enumerate(ks):
        few = pool[:k]
        rows += [{"k": k, "k_used": len(few), **row} for row in arms_for_k(db, names, few, eval_pairs, args)]
        save(rows, ks[: i + 1])
    print(f"wrote {out}")
    print(f"| k | arm | held-out {args.holdout} EX | held-out loss | loss on the k examples |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        loss = f"{r['loss']:.4f}" if r.get("loss") is not None else "-"
        ex = f"{r['ex']:.1%} ({r['correct']}/{r['scored']})"
        print(f"| {r['k']} | {r['arm']} | {ex} | {r['held_out_loss']:.4f} | {loss} |")


if __name__ == "__main__":
    main()
