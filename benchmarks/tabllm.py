"""TabLLM benchmark: AUC against the number of labelled rows, finsql against scikit-learn baselines.

finsql (the default model fine-tuned with --method on k class-balanced shots, zero-shot at k = 0) against
logistic regression and gradient-boosted trees fitted on the same shots, for each data set; then the
serializers compared on one data set (language model only); and the time to score 100 rows.

Usage: python benchmarks/tabllm.py [--datasets hearts,pima,credit] [--shots 0,4,16,64] [--seeds 5]
                                   [--test-rows 200] [--serializers text,list,list-values]
                                   [--serializer-dataset hearts] [--serializer-shots 0,16]
                                   [--serializer-seeds N]
                                   [--method ia3] [--steps 30] [--model NAME] [--label full]
Writes benchmarks/results/tabllm-<label>.json and tabllm-<label>.png (AUC vs shots, one panel per data set).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from finsql.lm.models import load_model
from finsql.lm.runtime import cpu_threads
from finsql.storage import write_json_atomic
from finsql.tabular.datasets import get_dataset
from finsql.tabular.evaluation import BASELINES, evaluate, plot_auc
from finsql.tabular.finetune import DEFAULT_STEPS
from finsql.tabular.table import build_task, get_serializer

RESULTS = Path(__file__).parent / "results"


def _counts(text: str) -> list[int]:
    return sorted({int(part) for part in text.split(",") if part.strip()})


def _cell(figures: dict) -> str:
    return "-" if figures["mean"] is None else f"{figures['mean']:.3f} ± {figures['sd']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", default="hearts,pima,credit", help="breast-cancer rows are 3x longer, so 3x slower"
    )
    parser.add_argument("--shots", default="0,4,16,64")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--test-rows", type=int, default=200, help="test rows per seed (0: all)")
    parser.add_argument("--serializers", default="text,list,list-values")
    parser.add_argument("--serializer-dataset", default="hearts")
    parser.add_argument("--serializer-shots", default="0,16")
    parser.add_argument("--serializer-seeds", type=int, default=None, help="comparison seeds (--seeds)")
    parser.add_argument("--method", default="ia3", help="PEFT method for the shots, or none")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--model", default=None)
    parser.add_argument("--label", default="full")
    args = parser.parse_args()

    torch.set_num_threads(cpu_threads())
    start = time.perf_counter()
    lm = load_model(args.model)
    seeds = list(range(args.seeds))
    settings = {
        "seeds": seeds,
        "method": None if args.method == "none" else args.method,
        "steps": args.steps,
        "test_rows": args.test_rows or None,
    }

    def run(name: str, serializer: str, shots: list[int], baselines: bool, n_seeds: int) -> dict:
        spec = get_dataset(name)
        frame, columns = spec.load()
        task = build_task(
            frame,
            target=spec.target,
            question=spec.question,
            choices=spec.choices,
            name=name,
            columns=columns,
        )
        began = time.perf_counter()
        report = evaluate(
            lm,
            task,
            get_serializer(serializer),
            shots=shots,
            baselines=baselines,
            progress=print,
            **{**settings, "seeds": seeds[:n_seeds]},
        )
        report["serializer"] = serializer
        report["wall_seconds"] = round(time.perf_counter() - began, 1)
        return report

    reports = [run(name, "text", _counts(args.shots), True, args.seeds) for name in args.datasets.split(",")]
    comparison_seeds = args.serializer_seeds or args.seeds
    comparison = [
        run(args.serializer_dataset, serializer, _counts(args.serializer_shots), False, comparison_seeds)
        for serializer in args.serializers.split(",")
    ]
    payload = {
        "benchmark": "tabllm",
        "label": args.label,
        "model": lm.name,
        "machine": f"{platform.machine()} cpu, {torch.get_num_threads()} torch threads",
        **settings,
        "auc": {r["dataset"]: r["summary"] for r in reports},
        "serializers": {r["serializer"]: r["summary"] for r in comparison},
        "serializer_dataset": args.serializer_dataset,
        "serializer_seeds": seeds[:comparison_seeds],
        "seconds_per_100_rows": {r["dataset"]: r["seconds_per_100_rows"] for r in reports},
        "wall_seconds": round(time.perf_counter() - start, 1),
        "reports": reports,
        "serializer_reports": comparison,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / f"tabllm-{args.label}.json", payload)
    plot_auc(reports, RESULTS / f"tabllm-{args.label}.png")

    print(f"\nAUC, mean ± sd over {args.seeds} seeds ({lm.name}, {args.method}, {args.steps} steps)")
    print("| data set | shots | finsql | " + " | ".join(BASELINES.values()) + " |")
    print("|---|---|---|" + "---|" * len(BASELINES))
    for report in reports:
        for k, figures in report["summary"].items():
            cells = [_cell(figures[m]) for m in ("finsql", *BASELINES)]
            print(f"| {report['dataset']} | {k} | " + " | ".join(cells) + " |")
    print(f"\nserializers on {args.serializer_dataset} (finsql AUC, {comparison_seeds} seeds)")
    for report in comparison:
        cells = [f"{k} shots {_cell(figures['finsql'])}" for k, figures in report["summary"].items()]
        print(f"  {report['serializer']:<12} " + ", ".join(cells))
    timing = ", ".join(f"{name} {s} s" for name, s in payload["seconds_per_100_rows"].items())
    print(f"\nseconds per 100 rows scored: {timing}; wall {payload['wall_seconds']} s")
    print(f"-> {RESULTS / f'tabllm-{args.label}.json'}, {RESULTS / f'tabllm-{args.label}.png'}")


if __name__ == "__main__":
    main()
