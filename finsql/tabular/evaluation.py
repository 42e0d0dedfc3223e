"""Few-shot evaluation as in TabLLM: balanced shots per seed, AUC on the other rows, classical baselines.

For each seed the labelled rows are put in a class-balanced order (classes taken in turn, each shuffled): the
k-shot training rows are its first k, so shot sets are nested and every k shares the test set (the rows
outside the largest shot set, optionally subsampled). Logistic regression and gradient-boosted trees
(scikit-learn) are fitted on exactly the same shots.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finsql.errors import InputError
from finsql.lm.models import LoadedModel
from finsql.tabular.finetune import DEFAULT_LAYERS, DEFAULT_STEPS, finetune
from finsql.tabular.scoring import DEFAULT_BATCH_SIZE, score_texts, softmax
from finsql.tabular.table import Serializer, TabularTask

BASELINES = {"logreg": "logistic regression", "gbt": "gradient-boosted trees"}


def balanced_order(labels: np.ndarray, seed: int) -> list[int]:
    """The labelled rows (label >= 0) in an order whose every prefix is as class-balanced as it can be."""
    rng = np.random.default_rng(seed)
    classes = [int(c) for c in np.unique(labels[labels >= 0])]
    pools = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in classes]
    turns = rng.permutation(len(classes)).tolist()
    order = []
    for rank in range(max((len(pool) for pool in pools), default=0)):
        order.extend(pools[k][rank] for k in turns if rank < len(pools[k]))
    return [int(i) for i in order]


def draw_split(
    labels: np.ndarray,
    shots: int,
    seed: int,
    test_rows: int | None = None,
    choices: Sequence[str] | None = None,
) -> tuple[list[int], list[int]]:
    """``shots`` class-balanced labelled rows and the labelled rest (``test_rows`` of it, seeded)."""
    labelled = np.flatnonzero(labels >= 0)
    if shots and shots >= len(labelled):
        raise InputError(f"{shots} shots need more than the {len(labelled)} labelled rows (some to test)")
    n_classes = len(choices) if choices else int(labels.max()) + 1
    per_class = math.ceil(shots / n_classes)
    counts = np.bincount(labels[labelled], minlength=n_classes)
    short = [k for k in range(n_classes) if shots and counts[k] < per_class]
    if short:
        name = choices[short[0]] if choices else short[0]
        raise InputError(
            f"{shots} balanced shots need {per_class} rows of each class; {name!r} has {counts[short[0]]}"
        )
    train = balanced_order(labels, seed)[:shots]
    test = sorted(set(labelled.tolist()) - set(train))
    if test_rows is not None and test_rows < len(test):
        test = stratified_sample(labels, test, test_rows, seed)
    return train, test


def stratified_sample(labels: np.ndarray, rows: list[int], size: int, seed: int) -> list[int]:
    """``size`` of the rows, seeded, each class in its share (largest remainders; at least one each)."""
    rng = np.random.default_rng([seed, 1])
    pools = {int(k): rng.permutation([r for r in rows if labels[r] == k]).tolist() for k in set(labels[rows])}
    shares = {k: size * len(pool) / len(rows) for k, pool in pools.items()}
    quota = {k: max(1, math.floor(share)) for k, share in shares.items()}
    for k in sorted(pools, key=lambda k: quota[k] - shares[k]):  # the largest remainders first
        if sum(quota.values()) < size:
            quota[k] += 1
    while sum(quota.values()) > size:  # more classes than rows, or the minimum of one overshot
        quota[max(quota, key=quota.get)] -= 1
    return sorted(r for k, pool in pools.items() for r in pool[: quota[k]])


def auc(labels: Sequence[int], probs: np.ndarray) -> float:
    """ROC AUC, macro one-vs-rest over the classes present (for two classes: the binary AUC); NaN when
    fewer than two classes are present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    per_class = [
        roc_auc_score(labels == k, probs[:, k])
        for k in range(probs.shape[1])
        if 0 < int((labels == k).sum()) < len(labels)
    ]
    return float(np.mean(per_class)) if per_class else float("nan")


def _baseline_frame(features: Any) -> Any:
    """Numbers stay numbers (NaN for missing); every other column becomes text, missing as its own value."""
    import pandas as pd

    frame = features.copy()
    for column in frame.columns:
        if pd.api.types.is_bool_dtype(frame[column]) or not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), "(missing)").astype(str)
    return frame


def baseline_probs(kind: str, task: TabularTask, train: list[int], test: list[int], seed: int) -> np.ndarray:
    """Class probabilities of the test rows from a scikit-learn model fitted on the train rows."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = _baseline_frame(task.features)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    prepare = ColumnTransformer(
        [
            ("number", make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler()), numeric),
            ("category", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    if kind == "logreg":
        classifier = LogisticRegression(max_iter=1000)
    else:
        classifier = GradientBoostingClassifier(random_state=seed)
    model = make_pipeline(prepare, classifier)
    with warnings.catch_warnings():  # tiny training sets: constant columns, slow convergence
        warnings.simplefilter("ignore")
        model.fit(frame.iloc[train], task.labels[train])
        found = model.predict_proba(frame.iloc[test])
    probs = np.zeros((len(test), len(task.choices)))
    probs[:, model.classes_] = found
    return probs


def _nan_as_none(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be computed is written as null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _summary(values: list[float]) -> dict[str, float | None]:
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return {"mean": None, "sd": None}
    return {"mean": statistics.fmean(kept), "sd": statistics.stdev(kept) if len(kept) > 1 else 0.0}


def evaluate(
    lm: LoadedModel,
    task: TabularTask,
    serializer: Serializer,
    *,
    shots: Sequence[int],
    seeds: Sequence[int],
    method: str | None = "ia3",
    params: dict | None = None,
    steps: int = DEFAULT_STEPS,
    lr: float | None = None,
    layers: int | None = DEFAULT_LAYERS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    test_rows: int | None = None,
    baselines: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """AUC of the language model (fine-tuned on k shots with ``method``, or not when None) and of the
    baselines, per shot count and seed; a JSON-ready report with the mean and sd per shot count."""
    shots = sorted(set(shots))
    runs = []
    base_scores: dict[str, np.ndarray] = {}  # the base model's scores by prompt text, reused across seeds
    scored, seconds = 0, 0.0
    for seed in seeds:
        _, test = draw_split(task.labels, shots[-1], seed, test_rows, task.choices)
        texts = task.texts(test, serializer, seed)
        truth = task.labels[test]
        for k in shots:
            train = draw_split(task.labels, k, seed, choices=task.choices)[0]
            if progress:
                progress(f"{task.name}: {k} shots, seed {seed}, {len(test)} test rows")
            model = lm
            if k and method:
                model, _ = finetune(
                    lm,
                    task.texts(train, serializer, seed),
                    task.labels[train].tolist(),
                    task.question,
                    task.choices,
                    method=method,
                    params=params,
                    steps=steps,
                    lr=lr,
                    batch_size=batch_size,
                    layers=layers,
                    seed=seed,
                )
            todo = texts if model is not lm else [t for t in dict.fromkeys(texts) if t not in base_scores]
            start = time.perf_counter()
            found = score_texts(model, todo, task.question, task.choices, batch_size)
            seconds += time.perf_counter() - start
            scored += len(todo)
            if model is lm:
                base_scores.update(zip(todo, found, strict=True))
                found = np.array([base_scores[t] for t in texts])
            run = {"shots": k, "seed": seed, "n_test": len(test), "finsql": auc(truth, softmax(found))}
            fits = len(set(task.labels[train].tolist())) >= 2
            for kind in BASELINES if baselines else ():
                run[kind] = auc(truth, baseline_probs(kind, task, train, test, seed)) if fits else math.nan
            runs.append(run)
    models = ["finsql", *(BASELINES if baselines else ())]
    summary = {str(k): {m: _summary([r[m] for r in runs if r["shots"] == k]) for m in models} for k in shots}
    return {
        "dataset": task.name,
        "question": task.question,
        "choices": task.choices,
        "model": lm.name,
        "method": method,
        "steps": steps if method else None,
        "shots": shots,
        "seeds": list(seeds),
        "test_rows": test_rows,
        "summary": summary,
        "seconds_per_100_rows": round(100 * seconds / scored, 2) if scored else None,
        "runs": [{key: _nan_as_none(value) for key, value in run.items()} for run in runs],
    }


def plot_auc(reports: Sequence[dict[str, Any]], path: str | Path) -> None:
    """AUC against shots, one panel per report (data set), lines with sd bars: TabLLM's figure."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(reports), 3.4), layout="constrained")
    axes = figure.subplots(1, len(reports), squeeze=False)[0]
    for ax, report in zip(axes, reports, strict=True):
        shots = report["shots"]
        for model in report["summary"][str(shots[0])]:
            points = [(i, report["summary"][str(k)][model]) for i, k in enumerate(shots)]
            points = [(i, s["mean"], s["sd"]) for i, s in points if s["mean"] is not None]
            if points:
                xs, means, sds = zip(*points, strict=True)
                label = "finsql (LLM)" if model == "finsql" else BASELINES[model]
                ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, label=label)
        ax.set_xticks(range(len(shots)), labels=[str(k) for k in shots])
        ax.set_xlabel("labelled rows (shots)")
        ax.set_ylabel("AUC")
        ax.set_title(report["dataset"])
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        figure.savefig(tmp, format="png", dpi=120)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
