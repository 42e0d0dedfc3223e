"""Replay the steps after the vote on answers an earlier run recorded: which questions each change fixes or
breaks, in seconds and without the model.

Each recorded answer (an ``everyday.py`` result) is run again, reshaped by today's steps (``reshape``, with
the values the linker finds in the question) and compared with the gold result. The recorded SQL was already
reshaped by the steps of its day, so the replay shows what today's steps add. Only the model's part is
taken as recorded: a step that changes what the model is asked (the prompt, the grammar, the retry) needs a
real run.

Usage:
    FINSQL_CACHE_DIR=DIR python benchmarks/reshape_replay.py benchmarks/results/everyday-s8-review.json \
        --set everyday [--arm expert] [--label L]

Writes benchmarks/results/replay-<label>.json (when ``--label`` is given): per question the recorded and
the replayed SQL and status, and the totals; ``after_shown_among`` counts the replayed answers whose
columns include the gold's (right, but showing a column more): a diagnostic, not EX.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from finsql.ask.generation import Candidate
from finsql.ask.linking import EmbeddingLinker
from finsql.ask.pairs import demo_pairs, read_pairs
from finsql.ask.reshape import reshape
from finsql.ask.sqlcheck import is_ordered, sources_named
from finsql.ask.voting import decide
from finsql.db.database import ensure_demo_db
from finsql.db.results import results_match
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def shown_among(gold: list[tuple], predicted: list[tuple], ordered: bool) -> bool:
    """Whether some of the predicted columns, in some order, give the gold rows: a diagnostic of answers
    that are right but show a column more (the ranked or filtered one), never the headline EX."""
    width = len(gold[0]) if gold else 0
    shown = len(predicted[0]) if predicted else 0
    if not gold or not predicted or shown <= width or shown > 8:
        return results_match(gold, predicted, ordered)
    return any(
        results_match(gold, [tuple(row[i] for i in pick) for row in predicted], ordered)
        for pick in itertools.permutations(range(shown), width)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path, help="an everyday.py result file")
    parser.add_argument("--set", default="everyday", help="which question set of the file (everyday, eval)")
    parser.add_argument("--arm", default=None, help="which arm of the file (default: its first)")
    parser.add_argument("--label", default=None)
    args = parser.parse_args()
    recorded = json.loads(args.result.read_text())
    arm = args.arm or next(iter(recorded["arms"]))
    items = recorded["arms"][arm][args.set]["items"]
    gold = {p.question: p.sql for p in read_pairs(demo_pairs(args.set))}
    con = connect(ensure_demo_db())
    schema = introspect(con)
    linker = EmbeddingLinker()
    linker.index_values(schema, con)

    def run(sql: str):
        return decide([Candidate(sql, sql, 0.0, True)], schema, con)

    rows, totals = (
        [],
        {"before": 0, "after": 0, "fixed": 0, "broken": 0, "changed": 0, "after_shown_among": 0},
    )
    for item in items:
        if item["status"] == "invalid":
            continue
        truth = con.execute(gold[item["q"]]).fetchall()
        ordered = is_ordered(gold[item["q"]])
        decision = run(item["sql"])
        if decision.best is None:
            continue
        tables = tuple(dict.fromkeys(sources_named(item["sql"], schema).values()))
        values = linker.link(item["q"], schema, must_include=tables).values_anywhere
        shaped = reshape(item["q"], decision, values, run, schema, one_figure=True, counts=True)
        sql = shaped.decision.best.candidate.sql
        before = results_match(truth, decision.best.result.rows, ordered)
        after = results_match(truth, shaped.decision.best.result.rows, ordered)
        totals["before"] += before
        totals["after"] += after
        totals["fixed"] += after and not before
        totals["broken"] += before and not after
        totals["changed"] += sql != item["sql"]
        totals["after_shown_among"] += shown_among(truth, shaped.decision.best.result.rows, ordered)
        if sql != item["sql"]:
            mark = "FIXED" if after and not before else "BROKE" if before and not after else "same"
            print(f"{mark:5s} {item['q']}\n      {item['sql']}\n   -> {sql}", flush=True)
        rows.append(
            {"q": item["q"], "recorded": item["sql"], "replayed": sql, "before": before, "after": after}
        )
    print(json.dumps(totals))
    if args.label:
        out = {"source": args.result.name, "set": args.set, "arm": arm, "totals": totals, "items": rows}
        write_json_atomic(RESULTS / f"replay-{args.label}.json", out)


if __name__ == "__main__":
    main()
