"""Prompt size per schema rendering and example budget: the tokens a training example costs.

Usage: python benchmarks/prompt_tokens.py --bull DIR [--db ccks_fund] [--limit 200] [--shots 3]
                                          [--setting STYLE[:BUDGET]]... [--label L]

For the first --limit dev questions of --db, builds the inference prompt (the prompt training uses) under each
--setting (schema rendering, optional example token budget; default: compact, names, names:200, names:150)
and reports the median and mean tokens of prompt plus gold SQL, the mean number of examples kept and the
share of questions that keep all --shots. Writes benchmarks/results/prompt-tokens-<label>.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from train_speed import database, pairs_for  # noqa: E402

from finsql.storage import write_json_atomic  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DEFAULT_SETTINGS = ("compact", "names", "names:200", "names:150")


def measure(args: argparse.Namespace, style: str, budget: int | None, lm) -> dict:
    """Token statistics of the prompts (plus gold SQL) for one rendering and budget."""
    from finsql.ask.session import Session

    db_path = database(args.bull, args.db)
    session = Session(
        db_path, expert=False, shots=args.shots, prompt_style=style, example_tokens=budget, lm=lm
    )
    tok = lm.tokenizer
    sizes, kept = [], []
    for pair in pairs_for(args.bull, args.db, "dev")[: args.limit]:
        prompt = session.prompts.build(pair.question)
        sizes.append(len(tok(prompt.text + pair.sql, add_special_tokens=False)["input_ids"]))
        kept.append(len(prompt.examples))
    session.close()
    return {
        "style": style,
        "example_tokens": budget,
        "median_tokens": statistics.median(sizes),
        "mean_tokens": round(statistics.mean(sizes), 1),
        "mean_examples": round(statistics.mean(kept), 2),
        "all_shots_share": round(sum(k == args.shots for k in kept) / len(kept), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bull", type=Path, required=True)
    parser.add_argument("--db", default="ccks_fund")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--setting", action="append", default=[], help="STYLE or STYLE:BUDGET")
    parser.add_argument("--label", default="fund")
    args = parser.parse_args()
    from finsql.lm.models import load_model

    lm = load_model()
    rows = []
    for spec in args.setting or DEFAULT_SETTINGS:
        style, _, budget = spec.partition(":")
        rows.append(measure(args, style, int(budget) if budget else None, lm))
        print(rows[-1], flush=True)
    payload = {"benchmark": "prompt-tokens", "db": args.db, "questions": args.limit, "shots": args.shots}
    write_json_atomic(RESULTS / f"prompt-tokens-{args.label}.json", {**payload, "settings": rows})


if __name__ == "__main__":
    main()
