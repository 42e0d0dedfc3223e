"""Gold acceptance of the schema grammars (issue 21, item 4): the grammar must never forbid a right answer.

Usage: FINSQL_CACHE_DIR=DIR python benchmarks/grammar_acceptance.py [--bull BULL_DIR] [--mask-sample 30]
                              [--no-linked] [--no-grounded] [--out FILE] [--recheck FILE]
BULL_DIR is a `finsql bull import` folder (gold SQL transpiled to DuckDB). Per database (the demo database
with data/train.jsonl + data/eval.jsonl; each BULL-en database with its train + dev pairs, schema and values
from instance-0) it measures, with SmolLM2's tokenizer and llguidance's own matcher (what decoding uses):

- the share of gold SQL accepted by the main grammar (closed names, value-aware literals from
  ``collect_values``), with values of 1 to 200 characters instead of ``collect_values``' 2 to 60, by its
  after-``SELECT`` variant (the decoder's), without values, and with open names (every column reference and
  long aliases open: what closing names costs);
- the decoder's view: token masks computed at every token of a sample of gold queries (llguidance limit
  errors, mean and worst mask time);
- grammar size, text build time and compile time (the widest BULL schema is reported apart);
- for the demo database, the share accepted by the grammar of the question's linked tables only;
- the share accepted by each question's grounded grammar (what ``ask`` decodes with: text columns equal only
  the values the question mentions, bare numbers in comparisons and LIMIT only its numbers, date literals
  only its years and months; ``grounding``),
  with that grammar's mean build-and-compile time (``--grounded-only`` measures just this);
- typical invalid SQL, which must be rejected.

Every rejected query is listed with the grammar's error. Writes benchmarks/results/grammar-acceptance.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import llguidance
import llguidance.numpy as lln

from finsql.ask import constrain
from finsql.ask import grammar as gm
from finsql.ask.grounding import ValueGrounder, mentioned_dates, mentioned_numbers
from finsql.ask.linking import EmbeddingLinker, collect_values, embed
from finsql.db.database import ensure_demo_db
from finsql.db.sandbox import connect
from finsql.db.schema import Schema, introspect
from finsql.lm.models import resolve_model_path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {  # name: (which values, after_select, open_names)
    "values": (True, False, False),
    "values_1_200_chars": ("wide", False, False),
    "values_after_select": (True, True, False),
    "no_values": (False, False, False),
    "open_names": (False, False, True),
}
INVALID = [  # (sql, tables the grammar is restricted to, why it must be rejected)
    ("SELECT * FROM fund_type", None, "unknown table"),
    ("SELECT f.fund_name FROM funds f", None, "unknown table (a table name plus a letter)"),
    ("SELECT nav_date FROM fund", ["fund"], "column of a table not linked"),
    ("SELECT fund.nav_date FROM fund", None, "column of another table, table-qualified"),
    ("SELECT fund_names FROM fund", None, "run-on identifier (a column plus a letter)"),
    ("SELECT avg(fin_net_margin_gross_margin_gross_margin) FROM stock_financials", None, "run-on identifier"),
    ("SELECT fund_code FROM fund WHERE fund_codeor fund_type = 'bond'", None, "keyword glued to a name"),
    ("SELECT foo(fund_name) FROM fund", None, "function not in the list"),
    ("SELECT xor(1, 2)", None, "function not in the list"),
    ("SELECT fund_name FROM fund WHERE fund_type = 'Bond'", None, "value not in the column"),
    ("SELECT fund_name FROM fund AS my_long_alias", None, "alias longer than ALIAS_CHARS"),
    ("SELECT 1; DROP TABLE fund", None, "a second statement"),
    ("DROP TABLE fund", None, "not a SELECT"),
    ("SELECT fund_name FROM fund WHERE", None, "incomplete statement"),
]


def gold(paths: list[tuple[str, Path]], db: str | None) -> list[dict]:
    """Gold pairs of ``paths`` (split name, jsonl), those of database ``db`` when given."""
    rows = []
    for split, path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if db is None or row.get("db") == db:
                rows.append({"split": split, "question": row["question"], "sql": row["sql"]})
    return rows


def collect_wide(con, schema: Schema) -> dict:
    """``linking.collect_values`` with values of 1 to 200 characters (it keeps 2 to 60 by default)."""
    return collect_values(con, schema, lengths=(1, 200))


def grammar_stats(schema: Schema, values: dict, tok) -> dict:
    """Text build and compile time of the main grammar and of the one without values, uncached; sizes."""
    constrain.ll_tokenizer(tok)  # built once per tokenizer, not part of a grammar's cost
    out = {}
    for label, kwargs in (("", {"values": values}), ("no_values_", {})):
        gm.clear_cache()
        constrain.clear_cache()
        started = time.perf_counter()
        text = gm.sql_grammar(schema, **kwargs)
        built = time.perf_counter() - started
        started = time.perf_counter()
        constrain.compile_grammar(text, tok)
        out |= {f"{label}chars": len(text), f"{label}build_s": round(built, 4)}
        out[f"{label}compile_s"] = round(time.perf_counter() - started, 3)
    return out


def accept(schema: Schema, values: dict, rows: list[dict], variant: str, tok) -> list[dict]:
    """The rows the variant's grammar rejects, each with the grammar's error."""
    use_values, after_select, open_names = VARIANTS[variant]
    chosen = values["wide"] if use_values == "wide" else values["short"] if use_values else None
    text = gm.sql_grammar(schema, values=chosen, after_select=after_select, open_names=open_names)
    rejected = []
    for row in rows:
        sql = row["sql"]
        if after_select:
            if sql[:6].upper() != "SELECT":
                rejected.append({**row, "error": "does not start with SELECT"})
                continue
            sql = sql[6:]
        error = constrain.grammar_error(text, sql, tok)
        if error:
            rejected.append({**row, "error": error})
    return rejected


def masks(schema: Schema, values: dict, rows: list[dict], tok) -> dict:
    """Token masks at every token of ``rows`` as the decoder computes them (after-SELECT grammar)."""
    text = gm.sql_grammar(schema, values=values, after_select=True)
    bitmask = lln.allocate_token_bitmask(1, len(tok))
    times, errors = [], []
    for row in rows:
        matcher = constrain.compile_grammar(text, tok)
        for token in tok.encode(row["sql"][6:], add_special_tokens=False):
            started = time.perf_counter()
            lln.fill_next_token_bitmask(matcher, bitmask)
            times.append(time.perf_counter() - started)
            if matcher.is_error() or not matcher.consume_token(token):
                errors.append({"sql": row["sql"], "error": matcher.get_error().split("\n")[0]})
                break
    times.sort()
    return {
        "queries": len(rows),
        "tokens": len(times),
        "mean_ms": round(1000 * sum(times) / max(len(times), 1), 3),
        "p99_ms": round(1000 * times[int(0.99 * (len(times) - 1))], 3) if times else None,
        "worst_ms": round(1000 * times[-1], 3) if times else None,
        "errors": errors,
    }


def linked(schema: Schema, values: dict, rows: list[dict], con, tok) -> dict:
    """Share of gold accepted by the grammar of the linked tables only (the linker's defaults)."""
    linker = EmbeddingLinker()
    linker.index_values(schema, con)
    embed([row["question"] for row in rows])  # one batch; each link is then a lookup
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        tables = tuple(sorted(linker.link(row["question"], schema).table_names()))
        groups.setdefault(tables, []).append(row)
    rejected = []
    for tables, members in groups.items():
        text = gm.sql_grammar(schema, values=values, tables=tables)
        for row in members:
            error = constrain.grammar_error(text, row["sql"], tok)
            if error:
                rejected.append({**row, "tables": list(tables), "error": error})
    return {
        "accepted": len(rows) - len(rejected),
        "queries": len(rows),
        "table_sets": len(groups),
        "rejected": rejected,
    }


def grounded(schema: Schema, values: dict, rows: list[dict], con, tok) -> dict:
    """Share of gold accepted by each question's own grounded grammar (values of 1 to 200 characters, as
    ``ask`` reads them), and what building and compiling one costs."""
    grounder = ValueGrounder.index(con, schema, values, embed)
    rejected, seconds = [], []
    for row in rows:
        started = time.perf_counter()
        question = row["question"]
        years, months = mentioned_dates(question)
        text = gm.sql_grammar(
            schema,
            values=grounder.mentioned(question),
            numbers=mentioned_numbers(question),
            years=years,
            months=months,
        )
        constrain.compile_grammar(text, tok)
        seconds.append(time.perf_counter() - started)
        error = constrain.grammar_error(text, row["sql"], tok)
        if error:
            rejected.append({**row, "error": error})
    return {
        "accepted": len(rows) - len(rejected),
        "queries": len(rows),
        "share": round((len(rows) - len(rejected)) / max(len(rows), 1), 4),
        "build_and_compile_mean_s": round(sum(seconds) / max(len(seconds), 1), 4),
        "rejected": rejected,
    }


def measure(name: str, db_path: Path, rows: list[dict], args: argparse.Namespace, tok) -> dict:
    """Everything measured for one database."""
    con = connect(db_path)
    schema = introspect(con)
    values = collect_values(con, schema)
    wide = collect_wide(con, schema)
    out: dict = {
        "tables": len(schema.tables),
        "columns": sum(len(t.columns) for t in schema.tables),
        "value_columns": len(values),
        "values": sum(len(v) for v in values.values()),
        "queries": len(rows),
        "grammar": grammar_stats(schema, values, tok),
        "accepted": {},
        "share": {},
        "rejected": {},
    }
    if args.grounded:
        out["grounded"] = grounded(schema, wide, rows, con, tok)
        print(f"{name:12s} grounded {out['grounded']['accepted']}/{len(rows)}", flush=True)
    if args.grounded_only:
        con.close()
        return out
    for variant in VARIANTS:
        rejected = accept(schema, {"short": values, "wide": wide}, rows, variant, tok)
        out["accepted"][variant] = len(rows) - len(rejected)
        out["share"][variant] = round((len(rows) - len(rejected)) / max(len(rows), 1), 4)
        out["rejected"][variant] = rejected
        print(f"{name:12s} {variant:20s} {len(rows) - len(rejected)}/{len(rows)}", flush=True)
    out["mask"] = masks(schema, values, rows[: args.mask_sample], tok)
    print(
        f"{name:12s} masks {out['mask']['mean_ms']} ms mean, {len(out['mask']['errors'])} errors", flush=True
    )
    if name == "demo" and args.linked:
        out["linked"] = linked(schema, values, rows, con, tok)
        print(f"{name:12s} linked {out['linked']['accepted']}/{len(rows)}", flush=True)
    if name == "demo":
        out["invalid"] = invalid(schema, values, tok)
    con.close()
    return out


def invalid(schema: Schema, values: dict, tok) -> list[dict]:
    """Typical invalid SQL and whether the grammar (with values) rejects it."""
    out = []
    for sql, tables, why in INVALID:
        error = constrain.grammar_error(gm.sql_grammar(schema, values=values, tables=tables), sql, tok)
        out.append({"sql": sql, "tables": tables, "why": why, "rejected": error is not None, "error": error})
    return out


def recheck(args: argparse.Namespace, tok, report: dict) -> None:
    """The grounded share of each database of ``args.recheck``, measuring only the queries it rejected."""
    earlier = json.loads(args.recheck.read_text())
    report["method"] = f"the queries rejected in {args.recheck.name}, checked again; the rest were accepted"
    for db, before in earlier["databases"].items():
        rows = before["grounded"]["rejected"] if "grounded" in before else before["rejected"]
        rows = [{k: r[k] for k in ("split", "question", "sql")} for r in rows]
        path = ensure_demo_db() if db == "demo" else args.bull / db / "instance-0.duckdb"
        con = connect(path)
        schema = introspect(con)
        again = grounded(schema, collect_wide(con, schema), rows, con, tok)
        con.close()
        queries = before["queries"]
        accepted = queries - len(again["rejected"])
        report["databases"][db] = {
            "queries": queries,
            "accepted": accepted,
            "share": round(accepted / max(queries, 1), 4),
            "rejected": again["rejected"],
        }
        print(f"{db:12s} grounded {accepted}/{queries}", flush=True)
    every = report["databases"].values()
    total, accepted = sum(d["queries"] for d in every), sum(d["accepted"] for d in every)
    report["all"] = {"queries": total, "accepted": accepted, "share": round(accepted / total, 4)}
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(report["all"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bull", type=Path, default=Path("/tmp/bull-en"))
    parser.add_argument("--mask-sample", type=int, default=30)
    parser.add_argument("--no-linked", dest="linked", action="store_false")
    parser.add_argument("--out", type=Path, default=RESULTS / "grammar-acceptance.json")
    parser.add_argument("--grounded-only", action="store_true", help="only the grounded grammars")
    parser.add_argument(
        "--no-grounded",
        dest="grounded",
        action="store_false",
        help="skip the grounded grammars (one per question: most of the run's hour)",
    )
    parser.add_argument(
        "--recheck",
        type=Path,
        help="an earlier grounded report: measure only the queries it rejected (valid when a change only "
        "admits more), and the share over all its queries",
    )
    args = parser.parse_args()
    from transformers import AutoTokenizer

    model = resolve_model_path(None)
    tok = AutoTokenizer.from_pretrained(model)
    report: dict = {
        "tokenizer": Path(model).name,
        "llguidance": llguidance.__version__,
        "settings": {k: getattr(gm, k) for k in ("ALIAS_CHARS", "NAME_CHARS", "STRING_CHARS", "VALUE_LIMIT")},
        "variants": {
            k: dict(zip(("values", "after_select", "open_names"), v, strict=True))
            for k, v in VARIANTS.items()
        },
        "databases": {},
    }
    if args.recheck:
        recheck(args, tok, report)
        return
    demo_splits = [(split, ROOT / f"data/{split}.jsonl") for split in ("train", "eval", "everyday")]
    demo_rows = gold(demo_splits, None)
    report["databases"]["demo"] = measure("demo", ensure_demo_db(), demo_rows, args, tok)
    splits = [("train", args.bull / "train.jsonl"), ("dev", args.bull / "dev.jsonl")]
    for db in sorted(p.name for p in args.bull.iterdir() if (p / "instance-0.duckdb").exists()):
        report["databases"][db] = measure(
            db, args.bull / db / "instance-0.duckdb", gold(splits, db), args, tok
        )
    bull = {k: v for k, v in report["databases"].items() if k != "demo"}
    if bull:
        widest = max(bull, key=lambda k: bull[k]["columns"])
        report["widest_bull_schema"] = {
            "db": widest,
            **bull[widest]["grammar"],
            "columns": bull[widest]["columns"],
        }
    report["summary"] = {
        k: {"queries": v["queries"], **v["share"], "grounded": v.get("grounded", {}).get("share")}
        for k, v in report["databases"].items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
