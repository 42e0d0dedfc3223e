"""How often the prompt shows the tables and columns a question's gold SQL reads (no model runs).

Two linking rules side by side on the same questions and retrieved examples: "examples-first", the
default (``EmbeddingLinker.link``: the tables the retrieved examples read take the top-3 places first, the
question's own best tables fill what is left), and "union" (the question's own top 3 beside the examples'
tables), tried on 2026-12-07 and measured no better in EX (docs/benchmarks.md).

Usage:
    FINSQL_CACHE_DIR=DIR python benchmarks/linking_recall.py --label s13 [--expert demo-lora]

Writes benchmarks/results/linking-recall-<label>.json: per set and rule, how many questions have every
gold table (and every gold column name) in the prompt, and the mean tables and columns shown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlglot import exp

from finsql.ask.linking import TOP_TABLES
from finsql.ask.pairs import read_pairs
from finsql.ask.session import Session
from finsql.ask.sqlcheck import check_sql
from finsql.db.database import ensure_demo_db
from finsql.storage import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
SETS = ("eval", "everyday")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--expert", default="demo-lora", help="whose example pool is retrieved from")
    args = parser.parse_args()
    session = Session(ensure_demo_db(), expert=args.expert, force_expert=True)
    prompts, linker, schema = session.prompts, session.linker, session.schema
    results: dict = {"expert": args.expert, "top_tables": TOP_TABLES, "sets": {}}
    for name in SETS:
        pairs = read_pairs(ROOT / "data" / f"{name}.jsonl")
        rules = {rule: {"tables": 0, "columns": 0, "shown_tables": 0, "shown_columns": 0} for rule in RULES}
        for pair in pairs:
            gold = check_sql(pair.sql, schema)
            gold_columns = {c.name for c in gold.expression.find_all(exp.Column)}
            examples = prompts.examples_for(pair.question)
            used = tuple(dict.fromkeys(t for e in examples for t in prompts.tables_of(e)))
            default = linker.link(pair.question, schema, must_include=used)
            alone = [t for t in linker.link(pair.question, schema).table_names() if t not in used]
            union = linker.link(pair.question, schema, must_include=(*used, *alone))  # keeps all it is given
            for rule, linked in (("examples-first", default), ("union", union)):
                shown = {c.name for t in linked.tables for c in t.columns}
                counts = rules[rule]
                counts["tables"] += set(gold.tables) <= set(linked.table_names())
                counts["columns"] += gold_columns <= shown
                counts["shown_tables"] += len(linked.tables)
                counts["shown_columns"] += sum(len(t.columns) for t in linked.tables)
        for counts in rules.values():
            counts["mean_tables"] = round(counts.pop("shown_tables") / len(pairs), 2)
            counts["mean_columns"] = round(counts.pop("shown_columns") / len(pairs), 1)
        results["sets"][name] = {"questions": len(pairs), **rules}
        print(name, results["sets"][name], flush=True)
    write_json_atomic(ROOT / "benchmarks" / "results" / f"linking-recall-{args.label}.json", results)


RULES = ("examples-first", "union")

if __name__ == "__main__":
    main()
