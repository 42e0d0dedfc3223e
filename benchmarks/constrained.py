"""Grammar-constrained against free decoding (issue 21): invalid SQL, EX, cost, the N table; one run.

Usage: FINSQL_CACHE_DIR=DIR python benchmarks/constrained.py [--bull BULL_IMPORT] [--bull-limit 100]
         [--bull-dbs DB,...] [--demo-expert demo-lora] [--bull-expert [DB=]NAME,...]
         [--models base,expert] [--sets demo,bull] [--n-limit 20] [--samples 1,4,8,16] [--linked] [--label L]

Every question is answered by one warm session twice, within the schema grammar and freely (the order
alternates per question, so a slow spell on the machine hits both alike), for each set and model:
- ``demo``: all of ``data/eval.jsonl`` on the demo database;
- ``bull``: the first ``--bull-limit`` dev questions of each BULL-en database of a ``finsql bull import``
  folder, test-suite EX over its instances; the expert model asks each database with its own expert
  (``--bull-expert ccks_fund=NAME``: that database only; a bare NAME: one joint expert for all).
It reports invalid SQL and EX per setting, the decoding cost of the grammar (the logits processor's own
time per decoding step against the rest of the step, and wall time per step), the grammar's build and
compile time per database (the widest BULL schema apart) with the memory the compiled grammar adds, and
the N table (greedy, 1, 4, 8, 16) on the first ``--n-limit`` demo questions, constrained and free.
``--linked`` adds the grammar of the question's linked tables only on the demo set.
Writes benchmarks/results/constrained-<label>.json after each stage.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import time
from pathlib import Path

from finsql.ask import constrain
from finsql.ask import grammar as gm
from finsql.ask.evaluation import ItemResult, evaluate_pair
from finsql.ask.linking import collect_values
from finsql.ask.pairs import Pair, demo_pairs, read_pairs
from finsql.ask.session import GRAMMAR_VALUE_CHARS, Session
from finsql.bull.suite import suites_in
from finsql.db.database import ensure_demo_db
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.errors import FinsqlError
from finsql.lm.models import load_model
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"


def rss_mb() -> float:
    """Resident memory of this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def figures(items: list[ItemResult]) -> dict:
    """EX, invalid share and time of one setting."""
    scored = [i for i in items if i.status != "gold_error"]
    correct = sum(i.status == "correct" for i in scored)
    invalid = sum(i.status == "invalid" for i in scored)
    times = [i.seconds for i in scored]
    return {
        "scored": len(scored),
        "correct": correct,
        "execution_accuracy": round(correct / len(scored), 4) if scored else 0.0,
        "invalid": invalid,
        "invalid_rate": round(invalid / len(scored), 4) if scored else 0.0,
        "rescued_by_retry": sum(i.retried for i in scored),
        "rescued_correct": sum(i.retried and i.status == "correct" for i in scored),
        "seconds_p50": round(statistics.median(times), 3) if times else None,
        "seconds_total": round(sum(times), 2),
    }


class Probe:
    """Answers a pair with one grammar setting, keeping the answer's timing (for the cost figures)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.steps: list[tuple[str, int, float, float]] = []  # grammar, steps, generate s, processor s

    def run(self, pair: Pair, grammar: str, instances: list, samples: int = 0) -> ItemResult:
        """Evaluate ``pair`` with ``grammar`` (a ``GRAMMARS`` name)."""
        item = evaluate_pair(self.session, pair, samples, instances, grammar=grammar)
        if item.steps:
            self.steps.append((grammar, item.steps, item.stages["generate"], item.stages["grammar"]))
        return item

    def cost(self) -> dict:
        """Per decoding step: the processor's time against the rest, and the wall time of a step."""
        out = {}
        for grammar in ("schema", "off"):
            rows = [r for r in self.steps if r[0] == grammar and r[1] > 0]
            if not rows:
                continue
            steps = sum(r[1] for r in rows)
            generate, processor = sum(r[2] for r in rows), sum(r[3] for r in rows)
            out[grammar] = {
                "answers": len(rows),
                "steps": steps,
                "ms_per_step": round(1000 * generate / steps, 2),
                "processor_ms_per_step": round(1000 * processor / steps, 3),
                "processor_share_of_rest": round(processor / (generate - processor), 4),
            }
        if "schema" in out and "off" in out:
            out["wall_per_step_ratio"] = round(out["schema"]["ms_per_step"] / out["off"]["ms_per_step"], 3)
        return out


def compare(
    session: Session, pairs: list[Pair], instances: list, settings: list[str], progress: str
) -> tuple[dict, dict]:
    """Each pair under every grammar setting, alternating the order; figures and items per setting."""
    probe = Probe(session)
    items: dict[str, list[ItemResult]] = {g: [] for g in settings}
    for k, pair in enumerate(pairs):
        order = settings if k % 2 == 0 else settings[::-1]
        for grammar in order:
            items[grammar].append(probe.run(pair, grammar, instances))
        if (k + 1) % 10 == 0:
            line = "  ".join(f"{g} {figures(v)['correct']}/{len(v)}" for g, v in items.items())
            print(f"{progress} {k + 1}/{len(pairs)}  {line}", flush=True)
    out = {g: figures(v) for g, v in items.items()}
    out["cost"] = probe.cost()
    return out, {
        g: [(i.status, i.predicted_sql, round(i.seconds, 2), i.stages, i.steps, i.detail) for i in v]
        for g, v in items.items()
    }


def grammar_costs(paths: dict[str, Path], tokenizer: object) -> dict:
    """Build and compile time, size and the resident memory a compiled grammar adds, per database."""
    out = {}
    constrain.ll_tokenizer(tokenizer)
    for name, path in paths.items():
        con = connect(path)
        schema = introspect(con)
        start = time.perf_counter()
        values = collect_values(con, schema, lengths=GRAMMAR_VALUE_CHARS)
        t_values = time.perf_counter() - start
        gm.clear_cache()
        constrain.clear_cache()
        before = rss_mb()
        start = time.perf_counter()
        text = gm.sql_grammar(schema, values=values, after_select=True)
        t_build = time.perf_counter() - start
        start = time.perf_counter()
        constrain.compile_grammar(text, tokenizer)
        t_compile = time.perf_counter() - start
        out[name or "demo"] = {
            "tables": len(schema.tables),
            "columns": sum(len(t.columns) for t in schema.tables),
            "value_columns": len(values),
            "grammar_kb": round(len(text.encode()) / 1024, 1),
            "collect_values_s": round(t_values, 3),
            "build_s": round(t_build, 3),
            "compile_s": round(t_compile, 3),
            "rss_added_mb": round(rss_mb() - before, 1),
        }
        con.close()
    return out


def n_table(session: Session, pairs: list[Pair], samples: list[int]) -> dict:
    """EX, invalid and time against greedy for each N, constrained and free, on the same questions."""
    out: dict[str, dict] = {}
    for grammar in ("schema", "off"):
        rows: dict[int, list[ItemResult]] = {}
        for n in [0, *samples]:
            rows[n] = [evaluate_pair(session, p, n, [], grammar=grammar) for p in pairs]
            print(f"N table {grammar} N={n}: {figures(rows[n])}", flush=True)
        greedy = sum(i.seconds for i in rows[0])
        out[grammar] = {
            ("greedy" if n == 0 else str(n)): {
                **figures(items),
                "time_over_greedy": round(sum(i.seconds for i in items) / greedy, 3),
            }
            for n, items in rows.items()
        }
    return out


def bull_experts(spec: str, databases: list[str]) -> dict[str, str]:
    """``--bull-expert``: a bare name is one joint expert for every database; ``DB=NAME`` pairs name each
    database's own expert (the others are not asked with an expert)."""
    if spec and "=" not in spec:
        return dict.fromkeys(databases, spec)
    pairs = [item.partition("=") for item in spec.split(",") if item]
    unknown = [db for db, _, _ in pairs if db not in databases]
    if unknown:
        raise SystemExit(f"--bull-expert names databases the import lacks: {', '.join(unknown)}")
    return {db: name for db, _, name in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bull", type=Path, help="a `finsql bull import` folder (BULL-en)")
    parser.add_argument("--bull-limit", type=int, default=100, help="dev questions per BULL database")
    parser.add_argument("--bull-dbs", default=None, help="only these BULL databases, comma-separated")
    parser.add_argument("--demo-expert", default="demo-lora")
    parser.add_argument("--bull-expert", default=None, help="NAME (joint) or DB=NAME,... (per database)")
    parser.add_argument("--models", default="base,expert")
    parser.add_argument("--sets", default="demo,bull")
    parser.add_argument("--demo-limit", type=int, default=None)
    parser.add_argument("--n-limit", type=int, default=20, help="demo questions for the N table (0: none)")
    parser.add_argument("--samples", default="1,4,8,16")
    parser.add_argument("--linked", action="store_true", help="also the linked-tables grammar (demo)")
    parser.add_argument("--label", default="run")
    args = parser.parse_args()
    out_path = RESULTS / f"constrained-{args.label}.json"
    payload: dict = {
        "benchmark": "constrained-decoding",
        "command": "python benchmarks/constrained.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (None, False)),
        "machine": f"{platform.machine()} {platform.processor()}",
        "sets": {},
        "items": {},
    }

    def save() -> None:
        write_json_atomic(out_path, payload)

    demo_db = ensure_demo_db()
    bull_paths = suites_in(args.bull) if args.bull else {}
    if args.bull_dbs:
        wanted = args.bull_dbs.split(",")
        if unknown := [db for db in wanted if db not in bull_paths]:
            raise SystemExit(f"--bull-dbs names databases the import lacks: {', '.join(unknown)}")
        bull_paths = {db: paths for db, paths in bull_paths.items() if db in wanted}
    tokenizer = load_model(None).tokenizer
    payload["grammar_costs"] = grammar_costs(
        {"demo": demo_db, **{name: paths[0] for name, paths in bull_paths.items()}}, tokenizer
    )
    widest = max(payload["grammar_costs"].items(), key=lambda kv: kv[1]["columns"])
    payload["widest_schema"] = {"database": widest[0], **widest[1]}
    save()

    sets = args.sets.split(",")
    for model in args.models.split(","):
        if "demo" in sets:
            expert = args.demo_expert if model == "expert" else False
            session = Session(demo_db, expert=expert, force_expert=model == "expert")
            pairs = read_pairs(demo_pairs("eval"))[: args.demo_limit]
            with contextlib.suppress(FinsqlError):  # warm-up: model, embeddings, grammar compile
                session.ask(pairs[0].question)
            settings = ["schema", "off"] + (["linked"] if args.linked else [])
            key = f"demo/{model}"
            payload["sets"][key], payload["items"][key] = compare(session, pairs, [], settings, key)
            payload["sets"][key]["expert"] = session.expert_name
            session.close()
            save()
        if "bull" in sets and bull_paths:
            if model == "expert" and not args.bull_expert:
                continue
            experts = bull_experts(args.bull_expert or "", list(bull_paths))
            dev = read_pairs(args.bull / "dev.jsonl")
            merged: dict[str, list] = {"schema": [], "off": []}
            for name, paths in bull_paths.items():
                if model == "expert" and name not in experts:
                    continue
                pairs = [p for p in dev if p.db == name][: args.bull_limit]
                expert = experts[name] if model == "expert" else False
                session = Session(paths[0], expert=expert, force_expert=model == "expert")
                instances = [connect(p) for p in paths[1:]]
                key = f"bull/{name}/{model}"
                payload["sets"][key], payload["items"][key] = compare(
                    session, pairs, instances, ["schema", "off"], key
                )
                for grammar in merged:
                    merged[grammar] += payload["items"][key][grammar]
                for con in instances:
                    con.close()
                session.close()
                save()
            payload["sets"][f"bull/all/{model}"] = {
                g: {
                    "scored": sum(row[0] != "gold_error" for row in v),
                    "correct": sum(row[0] == "correct" for row in v),
                    "invalid": sum(row[0] == "invalid" for row in v),
                }
                for g, v in merged.items()
            }
            save()
    if args.n_limit:  # last: the most expensive per question
        session = Session(demo_db, expert=False)
        samples = [int(n) for n in args.samples.split(",")]
        payload["n_table"] = n_table(session, read_pairs(demo_pairs("eval"))[: args.n_limit], samples)
        payload["n_table_questions"] = args.n_limit
        session.close()
        save()
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
