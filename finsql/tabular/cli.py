"""``finsql tab``: classify table rows with the language model (TabLLM), and evaluate it against baselines."""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from finsql.console import out, status
from finsql.errors import InputError, UsageError
from finsql.lm.runtime import cpu_threads

tab_app = typer.Typer(help="Classify table rows with the language model (TabLLM).", no_args_is_help=True)

DataOption = typer.Option(None, "--data", help="CSV, TSV or Parquet file of rows.")
DbOption = typer.Option(None, "--db", help="DuckDB file or folder of CSV/Parquet files (with --table).")
TableOption = typer.Option(None, "--table", help="Table of --db to read.")
DatasetOption = typer.Option(
    None, "--dataset", help="Built-in data set: hearts, pima, credit or breast-cancer (sets the defaults)."
)
TargetOption = typer.Option(None, "--target", help="Column holding the class of each row.")
QuestionOption = typer.Option(None, "--question", help="The question asked about each row.")
ChoicesOption = typer.Option(
    None, "--choices", help="Answer choices: No,Yes (codes 0,1 or the words) or value=choice pairs."
)
ColumnsOption = typer.Option(
    None, "--columns", help="JSON/YAML file: column -> description, or {description, values: {code: word}}."
)
SerializerOption = typer.Option("text", "--serializer", help="Row serializer plugin: text, list, ...")
ModelOption = typer.Option(
    None, "--model", help="Hugging Face causal-LM id or local path (default: SmolLM2-135M-Instruct)."
)
MethodOption = typer.Option("ia3", "--method", help="PEFT method for the shots (`finsql plugins`), or none.")
StepsOption = typer.Option(None, "--steps", min=1, help="Fine-tuning steps (default 30).")
LrOption = typer.Option(None, "--lr", help="Learning rate (default per method: 1e-2 for IA3).")
LayersOption = typer.Option(8, "--layers", min=0, help="Adapt only the top N layers (0 = all).")
SetOption = typer.Option([], "--set", help="Method setting key=value (repeatable).")
BatchOption = typer.Option(8, "--batch-size", min=1, help="Rows per forward pass.")
TestRowsOption = typer.Option(None, "--test-rows", min=1, help="Score only N test rows (seeded sample).")


def _task(data, db, table, dataset, target, question, choices, columns):
    """The task from exactly one source, its defaults overridden by the options given."""
    from finsql.tabular.datasets import get_dataset
    from finsql.tabular.table import build_task, load_columns, read_db_table, read_table_file

    if sum(source is not None for source in (data, db, dataset)) != 1:
        raise UsageError("give one of --data, --db (with --table) or --dataset")
    if (db is None) != (table is None):
        raise UsageError("--db and --table go together")
    if dataset is not None:
        spec = get_dataset(dataset)
        frame, described = spec.load()
        target, question, choices = target or spec.target, question or spec.question, choices or spec.choices
        name = spec.name
    elif data is not None:
        frame, described, name = read_table_file(data), {}, Path(data).stem
    else:
        (frame, described), name = read_db_table(db, table), table
    given = {"--target": target, "--question": question, "--choices": choices}
    missing = [flag for flag, value in given.items() if not value]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    if columns is not None:
        described = {**described, **load_columns(columns)}
    return build_task(frame, target=target, question=question, choices=choices, columns=described, name=name)


def _method(method: str, settings: list[str]) -> tuple[str | None, dict | None]:
    """The PEFT method name (None for ``none``) and its settings, checked before the model loads."""
    from finsql.plugins import peft_methods

    if method == "none":
        if settings:
            raise UsageError("--set needs a PEFT method, not none")
        return None, None
    methods = peft_methods()
    if method not in methods:
        raise UsageError(f"unknown PEFT method {method!r}; methods: none, {', '.join(methods)}")
    return method, methods[method].settings(settings)


def _load(model: str | None):
    import torch

    from finsql.lm.models import load_model

    torch.set_num_threads(cpu_threads())
    return load_model(model)


@tab_app.command("classify")
def classify_cmd(
    data: Path | None = DataOption,
    db: str | None = DbOption,
    table: str | None = TableOption,
    dataset: str | None = DatasetOption,
    target: str | None = TargetOption,
    question: str | None = QuestionOption,
    choices: str | None = ChoicesOption,
    columns: Path | None = ColumnsOption,
    serializer: str = SerializerOption,
    model: str | None = ModelOption,
    shots: int = typer.Option(0, "--shots", min=0, help="Labelled rows to fine-tune on (class-balanced)."),
    method: str = MethodOption,
    settings: list[str] = SetOption,
    steps: int | None = StepsOption,
    lr: float | None = LrOption,
    layers: int = LayersOption,
    seed: int = typer.Option(0, "--seed", help="Seed of the shots, the test sample and the fine-tuning."),
    batch_size: int = BatchOption,
    test_rows: int | None = TestRowsOption,
    out_path: Path | None = typer.Option(None, "--out", help="Write the predictions here (CSV), not stdout."),
) -> None:
    """Predict the class of every row but the shots, with choice probabilities; AUC on the labelled ones."""
    from finsql.storage import write_text_atomic
    from finsql.tabular.evaluation import auc, draw_split
    from finsql.tabular.finetune import DEFAULT_STEPS, finetune
    from finsql.tabular.scoring import score_texts, softmax
    from finsql.tabular.table import get_serializer

    task = _task(data, db, table, dataset, target, question, choices, columns)
    serialize = get_serializer(serializer)
    method_name, params = _method(method, settings)
    train, test = draw_split(task.labels, shots, seed, test_rows, task.choices)
    unlabelled = [int(i) for i, label in enumerate(task.labels) if label < 0]
    rows = sorted(test + unlabelled)
    if not rows:
        raise InputError(f"{task.name} has no rows left to classify")
    lm = _load(model)
    if shots and method_name:
        status(f"fine-tuning {method_name} on {shots} rows")
        lm, _ = finetune(
            lm,
            task.texts(train, serialize, seed),
            task.labels[train].tolist(),
            task.question,
            task.choices,
            method=method_name,
            params=params,
            steps=steps or DEFAULT_STEPS,
            lr=lr,
            batch_size=batch_size,
            layers=layers,
            seed=seed,
        )
    status(f"scoring {len(rows)} rows")
    start = time.perf_counter()
    texts = task.texts(rows, serialize, seed)
    probs = softmax(score_texts(lm, texts, task.question, task.choices, batch_size))
    seconds = time.perf_counter() - start
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", task.target, "prediction", *(f"p_{choice}" for choice in task.choices)])
    for row, p in zip(rows, probs, strict=True):
        label = task.labels[row]
        truth = task.choices[label] if label >= 0 else ""
        writer.writerow([row, truth, task.choices[int(p.argmax())], *(f"{x:.6f}" for x in p)])
    if out_path is None:
        sys.stdout.write(buffer.getvalue())
    else:
        write_text_atomic(out_path, buffer.getvalue())
    labelled = [i for i, row in enumerate(rows) if task.labels[row] >= 0]
    summary = f"{len(rows)} rows in {seconds:.1f} s"
    if labelled:
        truth = task.labels[[rows[i] for i in labelled]]
        accuracy = float((probs[labelled].argmax(1) == truth).mean())
        summary += f"; accuracy {accuracy:.1%}, AUC {auc(truth, probs[labelled]):.3f} on {len(labelled)} rows"
    status(summary + (f" -> {out_path}" if out_path else ""))


def _shot_list(text: str) -> list[int]:
    try:
        shots = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UsageError(f"--shots takes comma-separated counts such as 0,4,16, not {text!r}") from None
    if not shots or shots[0] < 0:
        raise UsageError(f"--shots takes counts of 0 or more, not {text!r}")
    return shots


@tab_app.command("eval")
def eval_cmd(
    data: Path | None = DataOption,
    db: str | None = DbOption,
    table: str | None = TableOption,
    dataset: str | None = DatasetOption,
    target: str | None = TargetOption,
    question: str | None = QuestionOption,
    choices: str | None = ChoicesOption,
    columns: Path | None = ColumnsOption,
    serializer: str = SerializerOption,
    model: str | None = ModelOption,
    shots: str = typer.Option("0,4,8,16,32,64", "--shots", help="Shot counts to evaluate, comma-separated."),
    seeds: int = typer.Option(5, "--seeds", min=1, help="Seeds (shot draws) per shot count."),
    method: str = MethodOption,
    settings: list[str] = SetOption,
    steps: int | None = StepsOption,
    lr: float | None = LrOption,
    layers: int = LayersOption,
    batch_size: int = BatchOption,
    test_rows: int | None = TestRowsOption,
    plot: Path = typer.Option(Path("tabllm-auc.png"), "--plot", help="Where to save the AUC plot (PNG)."),
    report: Path | None = typer.Option(None, "--report", help="Write the full report (JSON) here."),
) -> None:
    """AUC (mean and sd over seeds) per shot count, against logistic regression and gradient-boosted trees."""
    from finsql.storage import write_json_atomic
    from finsql.tabular.evaluation import BASELINES, draw_split, evaluate, plot_auc
    from finsql.tabular.finetune import DEFAULT_STEPS
    from finsql.tabular.table import get_serializer

    shot_counts = _shot_list(shots)
    task = _task(data, db, table, dataset, target, question, choices, columns)
    serialize = get_serializer(serializer)
    method_name, params = _method(method, settings)
    for seed in range(seeds):  # fail on too few rows now, not after the first fine-tuning runs
        draw_split(task.labels, shot_counts[-1], seed, test_rows, task.choices)
    lm = _load(model)
    result = evaluate(
        lm,
        task,
        serialize,
        shots=shot_counts,
        seeds=range(seeds),
        method=method_name,
        params=params,
        steps=steps or DEFAULT_STEPS,
        lr=lr,
        layers=layers,
        batch_size=batch_size,
        test_rows=test_rows,
        progress=status,
    )
    result["serializer"] = serializer
    table_view = Table("shots", "finsql", *BASELINES.values(), title=f"AUC on {task.name} ({seeds} seeds)")
    for k in shot_counts:
        cells = []
        for name in ("finsql", *BASELINES):
            figures = result["summary"][str(k)][name]
            cells.append("-" if figures["mean"] is None else f"{figures['mean']:.3f} ± {figures['sd']:.3f}")
        table_view.add_row(str(k), *cells)
    out.print(table_view)
    plot_auc([result], plot)
    if report is not None:
        write_json_atomic(report, result)
    status(
        f"{result['seconds_per_100_rows']} s per 100 rows scored; plot -> {plot}"
        + (f", report -> {report}" if report else "")
    )
