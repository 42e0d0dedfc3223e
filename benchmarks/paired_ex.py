"""Two `finsql eval --out` reports on the same questions, compared question by question (exact McNemar test).

Usage: python benchmarks/paired_ex.py A.json B.json [--label L]

Counts the questions both answer right, only A, only B, and the two-sided exact McNemar p-value (a binomial
test on the questions where they disagree): whether the difference in EX is more than the luck of which
questions each happened to get. Writes benchmarks/results/paired-ex-<label>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def correct_by_question(path: Path) -> dict[str, bool]:
    items = json.loads(path.read_text(encoding="utf-8"))["items"]
    return {f"{item.get('db')}|{item['question']}": item["status"] == "correct" for item in items}


def compare(a: dict[str, bool], b: dict[str, bool]) -> dict:
    """Agreement counts and the exact McNemar p-value over the questions both reports answered."""
    from scipy.stats import binomtest

    shared = sorted(set(a) & set(b))
    only_a = sum(a[q] and not b[q] for q in shared)
    only_b = sum(b[q] and not a[q] for q in shared)
    disagree = only_a + only_b
    p = binomtest(only_a, disagree, 0.5).pvalue if disagree else 1.0
    return {
        "questions": len(shared),
        "a_correct": sum(a[q] for q in shared),
        "b_correct": sum(b[q] for q in shared),
        "both": sum(a[q] and b[q] for q in shared),
        "only_a": only_a,
        "only_b": only_b,
        "mcnemar_p": round(float(p), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--label", default="comparison")
    args = parser.parse_args()
    from finsql.storage import write_json_atomic

    counts = compare(correct_by_question(args.a), correct_by_question(args.b))
    result = {"a": str(args.a), "b": str(args.b), **counts}
    print(json.dumps(result, indent=2))
    write_json_atomic(RESULTS / f"paired-ex-{args.label}.json", result)


if __name__ == "__main__":
    main()
