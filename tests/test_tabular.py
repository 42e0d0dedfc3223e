"""The TabLLM path: serializers, column descriptions, scoring, few-shot fine-tuning, evaluation, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import finsql_plugins.serializers as serializer_plugin
import numpy as np
import pandas as pd
import pytest
import torch

from finsql.errors import InputError, UsageError
from finsql.hookspecs import hookimpl
from finsql.lm.activations import ActivationCache
from finsql.lm.wrapping import wrap_for_training
from finsql.plugins import get_plugin_manager, new_plugin_manager, peft_methods
from finsql.tabular.evaluation import auc, balanced_order, baseline_probs, draw_split
from finsql.tabular.finetune import finetune
from finsql.tabular.scoring import (
    answer_logprobs,
    build_prompt,
    choice_ids,
    encode_prompts,
    score_prompts,
    score_texts,
    softmax,
)
from finsql.tabular.table import (
    ColumnInfo,
    build_task,
    get_serializer,
    load_columns,
    parse_choices,
    prepare_row,
    read_db_table,
)

ROW = {"age": 42, "edu": "Master", "smoker": 1, "income": float("nan"), "city": "", "note": None}
COLUMNS = {
    "smoker": ColumnInfo("smoking status", {"0": "non-smoker", "1": "smoker"}),
    "edu": ColumnInfo("education"),
}


@pytest.fixture(scope="module")
def manager():
    """A plugin manager holding only the built-in serializers."""
    found = new_plugin_manager()
    found.register(serializer_plugin)
    return found


@pytest.fixture(scope="module", autouse=True)
def serializers_installed():
    """The CLI finds the built-in serializers even before their entry point is installed."""
    pm = get_plugin_manager()
    if not pm.is_registered(serializer_plugin):
        pm.register(serializer_plugin, name="serializers")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from finsql.lm.models import load_model

    torch.set_num_threads(1)
    return load_model(str(tiny_model_dir))


# --- serializers and rows ---


def test_prepared_row_uses_descriptions_and_words_and_skips_missing():
    row = prepare_row(ROW, COLUMNS)
    assert row == {"age": "42", "education": "Master", "smoking status": "smoker"}
    assert prepare_row({"x": 2.0, "y": 0.123456, "z": pd.NA, "w": 3.14159}, {}) == {
        "x": "2",
        "y": "0.1235",
        "w": "3.14",
    }


def test_builtin_serializers(manager):
    row = prepare_row(ROW, COLUMNS)
    assert get_serializer("text", manager)(row, 0) == (
        "The age is 42. The education is Master. The smoking status is smoker."
    )
    assert (
        get_serializer("list", manager)(row, 0) == "- age: 42\n- education: Master\n- smoking status: smoker"
    )
    assert get_serializer("list-values", manager)(row, 0) == "- 42\n- Master\n- smoker"


def test_shuffled_list_is_deterministic_per_seed(manager):
    shuffled = get_serializer("list-shuffled", manager)
    row = {f"feature {i}": str(i) for i in range(8)}
    first = shuffled(row, 3)
    assert shuffled(row, 3) == first
    assert sorted(first.splitlines()) == sorted(get_serializer("list", manager)(row, 0).splitlines())
    assert len({shuffled(row, seed) for seed in range(5)}) > 1
    # the same order for every row of the table, whatever is missing
    order = [line.split(":")[0] for line in first.splitlines()]
    partial = shuffled({k: v for k, v in row.items() if k != "feature 2"}, 3)
    assert [line.split(":")[0] for line in partial.splitlines()] == [k for k in order if k != "- feature 2"]


def test_serializer_plugins_with_and_without_seed(manager):
    class Plugin:
        @hookimpl
        def register_serializers(self, register):
            register(lambda row: "|".join(row), name="pipes")

    found = new_plugin_manager()
    found.register(Plugin())
    assert get_serializer("pipes", found)({"a": "1", "b": "2"}, 7) == "a|b"
    with pytest.raises(UsageError, match="unknown serializer 'nope'"):
        get_serializer("nope", manager)


def test_columns_file_json_and_yaml(tmp_path):
    spec = {
        "cp": {"description": "chest pain type", "values": {"1": "typical angina"}},
        "age": "age in years",
    }
    (tmp_path / "c.json").write_text(json.dumps(spec))
    (tmp_path / "c.yaml").write_text(
        "cp:\n  description: chest pain type\n  values:\n    1: typical angina\nage: age in years\n"
    )
    for name in ("c.json", "c.yaml"):
        columns = load_columns(tmp_path / name)
        assert columns["cp"] == ColumnInfo("chest pain type", {"1": "typical angina"})
        assert prepare_row({"cp": 1.0, "age": 50}, columns) == {
            "chest pain type": "typical angina",
            "age in years": "50",
        }
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        load_columns(tmp_path / "bad.json")
    with pytest.raises(InputError, match="not found"):
        load_columns(tmp_path / "missing.json")


def test_choices_and_labels():
    assert parse_choices("No, Yes") == (["No", "Yes"], {})
    assert parse_choices("bad=No,good=Yes") == (["No", "Yes"], {"bad": "No", "good": "Yes"})
    with pytest.raises(UsageError):
        parse_choices("Yes")
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, None, 1], "s": ["good", "bad", "good", "bad"]})
    assert build_task(frame, target="y", question="q?", choices="No,Yes").labels.tolist() == [0, 1, -1, 1]
    task = build_task(frame, target="s", question="q?", choices="bad=No,good=Yes")
    assert task.labels.tolist() == [1, 0, 1, 0] and list(task.features.columns) == ["x", "y"]
    with pytest.raises(InputError, match="match no choice"):
        build_task(frame, target="s", question="q?", choices="No,Yes")
    with pytest.raises(InputError, match="unknown column 'z'"):
        build_task(frame, target="z", question="q?", choices="No,Yes")
    with pytest.raises(InputError, match="unknown column"):
        build_task(frame, target="y", question="q?", choices="No,Yes", columns={"nope": ColumnInfo("n")})


def test_database_comments_become_descriptions(tmp_path):
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE patients (age INTEGER, sick BOOLEAN)")
        con.execute("INSERT INTO patients VALUES (40, true), (50, false)")
        con.execute("COMMENT ON COLUMN patients.age IS 'age in years'")
    frame, columns = read_db_table(path, "patients")
    assert len(frame) == 2 and columns == {"age": ColumnInfo("age in years")}
    with pytest.raises(InputError, match="unknown table"):
        read_db_table(path, "nope")


@pytest.mark.parametrize("name", ["hearts", "pima", "credit", "breast-cancer"])
def test_builtin_datasets(name):
    from finsql.tabular.datasets import get_dataset

    spec = get_dataset(name)
    frame, columns = spec.load()
    task = build_task(
        frame, target=spec.target, question=spec.question, choices=spec.choices, columns=columns
    )
    assert (task.labels >= 0).all() and set(task.labels.tolist()) == {0, 1}
    assert set(columns) <= set(task.features.columns)
    assert len(task.features.columns) >= 7


# --- scoring ---


def _tolerance(model) -> float:
    """Scores agree to 1e-4 in fp32; bf16/fp16 (a GPU's default) round at the second decimal."""
    return 1e-4 if next(model.parameters()).dtype == torch.float32 else 3e-2


def _hand_mean_logprob(model, prompt: list[int], answer: list[int]) -> float:
    """One unpadded sequence: the mean log-probability of the answer tokens, computed position by position."""
    with torch.no_grad():  # prompt tuning puts virtual tokens first: the sequence's logits are the last ones
        ids = torch.tensor([prompt + answer], device=model.device)
        logits = model(input_ids=ids).logits[0, -len(prompt + answer) :]
    logp = logits.float().log_softmax(-1)
    return sum(float(logp[len(prompt) + j - 1, token]) for j, token in enumerate(answer)) / len(answer)


@pytest.mark.parametrize("chat", [True, False])
def test_scoring_matches_hand_computation(tiny, chat):
    tok = tiny.tokenizer
    saved = tok.chat_template
    tok.chat_template = saved if chat else None
    try:
        texts = ["The fund is 42.", "The stock price is 7. The name is x. " * 4, "a"]
        choices = ["No", "Yes", "Maybe not"]  # one, and several tokens each
        prompts = encode_prompts(tok, texts, "Is it?", choices)
        answers = choice_ids(tok, choices)
        assert len({len(p) for p in prompts}) == 3 and len({len(a) for a in answers}) > 1
        assert ("<|im_start|>assistant" in build_prompt(tok, "r", "q", choices)) is chat
        hand = np.array([[_hand_mean_logprob(tiny.model, p, a) for a in answers] for p in prompts])
        cached = score_texts(tiny, texts, "Is it?", choices, batch_size=2)
        atol = _tolerance(tiny.model)
        np.testing.assert_allclose(cached, hand, atol=atol)
        with torch.no_grad():
            whole = answer_logprobs(
                tiny.model, [p for p in prompts for _ in answers], answers * len(prompts), tok.pad_token_id
            )
        np.testing.assert_allclose(whole.view(3, 3).float().cpu().numpy(), hand, atol=atol)
        probs = softmax(cached)
        np.testing.assert_allclose(probs.sum(1), 1.0)
        np.testing.assert_allclose(probs, np.exp(hand) / np.exp(hand).sum(1, keepdims=True), atol=atol)
    finally:
        tok.chat_template = saved


def test_prompt_tuning_scores_whole_sequences(tiny):
    import copy

    method = peft_methods()["prompt-tuning"]
    settings = {**method.defaults, "num_virtual_tokens": 4}
    model, _ = wrap_for_training(method, copy.deepcopy(tiny.model), settings, None, 1)
    model.eval()
    prompts = [[5, 6, 7, 8, 9], [10, 11]]
    answers = [[20, 21], [22]]
    scores = score_prompts(model, prompts, answers, tiny.tokenizer.pad_token_id, batch_size=2)
    hand = [[_hand_mean_logprob(model, p, a) for a in answers] for p in prompts]
    np.testing.assert_allclose(scores, hand, atol=_tolerance(model))


def test_frozen_prefix_matches_a_plain_forward(tiny):
    import copy

    method = peft_methods()["ia3"]
    model, how = wrap_for_training(method, copy.deepcopy(tiny.model), method.defaults, 1, 1)
    assert how in ("layers_to_transform", "frozen-below")
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.mul_(torch.rand_like(param) + 0.5)  # move the adapter off its identity start
    model.eval()
    prompts, answers = [[5, 6, 7, 8], [9, 10]], [[20, 21], [22]]
    prefix = ActivationCache(model, 1, limit_bytes=None)
    assert prefix.enabled
    prefix.precompute(model, {i: p + a for i, (p, a) in enumerate(zip(prompts, answers, strict=True))})
    with torch.no_grad():
        plain = answer_logprobs(model, prompts, answers, 0)
        with prefix.skipping():
            cached = answer_logprobs(model, prompts, answers, 0, embeds=prefix.inputs(range(2)))
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=1e-5)


def test_finetune_learns_the_shots(tiny):
    texts = ["select fund", "order stock", "select price", "order name"]
    labels = [0, 1, 0, 1]
    before = softmax(score_texts(tiny, texts, "Which?", ["No", "Yes"]))
    tuned, losses = finetune(
        tiny, texts, labels, "Which?", ["No", "Yes"], method="lora", steps=15, lr=1e-2, layers=1, seed=0
    )
    after = softmax(score_texts(tuned, texts, "Which?", ["No", "Yes"]))
    assert losses[-1] < losses[0]
    assert after[np.arange(4), labels].mean() > before[np.arange(4), labels].mean()
    assert tuned.model is not tiny.model
    np.testing.assert_allclose(softmax(score_texts(tiny, texts, "Which?", ["No", "Yes"])), before)
    with pytest.raises(UsageError, match="unknown PEFT method"):
        finetune(tiny, texts, labels, "Which?", ["No", "Yes"], method="nope")


# --- few-shot sampling, AUC, baselines ---


def test_balanced_shots_nested_and_seeded():
    labels = np.array([0] * 30 + [1] * 10 + [-1] * 3)
    order = balanced_order(labels, 0)
    assert sorted(order) == list(range(40))
    for k in (2, 4, 8, 16):
        train, test = draw_split(labels, k, seed=0)
        assert train == order[:k]
        assert np.bincount(labels[train]).tolist() == [k // 2, k // 2]
        assert not set(train) & set(test) and len(train) + len(test) == 40
    assert draw_split(labels, 4, 1) == draw_split(labels, 4, 1)
    assert draw_split(labels, 4, 1)[0] != draw_split(labels, 4, 2)[0]
    train, test = draw_split(labels, 4, 0, test_rows=5)
    assert len(test) == 5 and set(test) <= set(range(40)) - set(train)
    assert np.bincount(labels[test]).tolist() == [4, 1]  # stratified: both classes, in their shares
    assert draw_split(labels, 0, 0)[0] == []
    with pytest.raises(InputError, match="has 10"):
        draw_split(labels, 22, 0, choices=["No", "Yes"])
    with pytest.raises(InputError, match="labelled rows"):
        draw_split(labels, 40, 0)


def test_auc_by_hand():
    labels = [0, 0, 1, 1, 1]
    p1 = np.array([0.1, 0.6, 0.4, 0.8, 0.6])
    # positive-negative pairs ranked right: (0.4>0.1) (0.8>0.1,0.6) (0.6>0.1, tie with 0.6 counts half)
    expected = (1 + 2 + 1.5) / 6
    assert auc(labels, np.stack([1 - p1, p1], 1)) == pytest.approx(expected)
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    assert auc([0, 1, 2, 2], probs) == pytest.approx(1.0)
    probs[3] = [0.1, 0.3, 0.6]
    # class 0: positives 0.8 and 0.1 against negatives 0.2 and 0.1 -> (2 + 0 + 0.5) / 4; classes 1, 2: 1
    assert auc([0, 1, 2, 0], probs) == pytest.approx((0.625 + 1 + 1) / 3)
    assert auc([0, 0, 1, 1], probs) == pytest.approx(np.mean([1.0, 0.5]))  # class 2 absent: not averaged
    assert math.isnan(auc([1, 1], np.array([[0.2, 0.8], [0.4, 0.6]])))


def test_baselines_fit_the_same_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    frame = pd.DataFrame(
        {
            "x": x,
            "colour": np.where(x > 0, "red", None),
            "noise": rng.normal(size=60),
            "y": (x > 0).astype(int),
        }
    )
    frame.loc[3, "noise"] = np.nan
    task = build_task(frame, target="y", question="q?", choices="No,Yes")
    train, test = draw_split(task.labels, 16, 0)
    for kind in ("logreg", "gbt"):
        probs = baseline_probs(kind, task, train, test, 0)
        assert probs.shape == (len(test), 2)
        assert auc(task.labels[test], probs) > 0.9


# --- the command line ---


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from finsql import cli
    from finsql.tabular.cli import tab_app

    if not any(group.name == "tab" for group in cli.app.registered_groups):
        cli.app.add_typer(tab_app, name="tab")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tab", *args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "amount": rng.integers(1, 100, 24),
            "colour": rng.choice(["red", "blue", ""], 24),
            "kind": [1, 2] * 12,
            "paid": [0, 1] * 12,
        }
    )
    path = tmp_path_factory.mktemp("tab") / "rows.csv"
    frame.to_csv(path, index=False)
    return path


def test_cli_classify(capsys, tiny_model_dir, rows_csv, tmp_path):
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"kind": {"description": "customer kind", "values": {"1": "retail"}}}))
    out = tmp_path / "preds.csv"
    rows = pd.read_csv(rows_csv)
    rows.loc[[5, 6], "paid"] = None  # rows to predict: no label
    data = tmp_path / "rows.parquet"
    with duckdb.connect() as con:
        con.register("rows", rows)
        con.execute(f"COPY rows TO '{data}' (FORMAT parquet)")
    base = ["--data", str(data), "--target", "paid", "--question", "Was it paid?", "--choices", "No,Yes"]
    code, stdout, stderr = _cli(
        capsys,
        "classify",
        *base,
        "--model",
        str(tiny_model_dir),
        "--columns",
        str(columns),
        "--out",
        str(out),
    )
    assert code == 0, stderr
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["row", "paid", "prediction", "p_No", "p_Yes"]
    assert (
        len(preds) == 24 and preds["paid"].isna().sum() == 2 and set(preds["paid"].dropna()) == {"No", "Yes"}
    )
    np.testing.assert_allclose(preds["p_No"] + preds["p_Yes"], 1.0, atol=1e-5)
    assert "AUC" in stderr and "on 22 rows" in stderr
    code, stdout, stderr = _cli(
        capsys,
        "classify",
        *base,
        "--model",
        str(tiny_model_dir),
        "--shots",
        "4",
        "--steps",
        "2",
        "--layers",
        "1",
    )
    assert code == 0, stderr
    assert len(stdout.strip().splitlines()) == 1 + 20


def test_cli_eval(capsys, tiny_model_dir, rows_csv, tmp_path):
    plot, report = tmp_path / "auc.png", tmp_path / "report.json"
    code, stdout, stderr = _cli(
        capsys,
        "eval",
        *("--data", str(rows_csv), "--target", "paid", "--question", "Paid?", "--choices", "No,Yes"),
        *(
            "--model",
            str(tiny_model_dir),
            "--shots",
            "0,4",
            "--seeds",
            "2",
            "--steps",
            "2",
            "--test-rows",
            "8",
        ),
        *("--serializer", "list", "--plot", str(plot), "--report", str(report)),
    )
    assert code == 0, stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads(report.read_text())
    assert result["shots"] == [0, 4] and result["seeds"] == [0, 1]
    assert len(result["runs"]) == 4 and all(run["n_test"] == 8 for run in result["runs"])
    assert result["summary"]["0"]["logreg"]["mean"] is None
    assert 0 <= result["summary"]["4"]["gbt"]["mean"] <= 1
    assert "logistic regression" in stdout and "gradient-boosted trees" in stdout


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--data", "nope.csv", "--target", "paid"], 3, "not found"),
        (["--target", "nope"], 3, "unknown column 'nope'"),
        (["--target", "paid", "--serializer", "nope"], 2, "unknown serializer"),
        (["--target", "paid", "--shots", "30"], 3, "labelled rows"),
        (["--target", "paid", "--method", "nope", "--shots", "2"], 2, "unknown PEFT method"),
        (["--target", "paid", "--choices", "Yes"], 2, "at least two"),
        (["--target", "paid", "--dataset", "hearts"], 2, "one of --data"),
        (["--dataset", "nope", "--data", None], 2, "unknown data set"),
    ],
)
def test_cli_errors_are_one_line(capsys, rows_csv, args, code, fragment):
    given = dict(zip(args[::2], args[1::2], strict=True))
    options = {"--data": str(rows_csv), "--question": "Paid?", "--choices": "No,Yes", **given}
    argv = [part for flag, value in options.items() if value is not None for part in (flag, value)]
    found, _, stderr = _cli(capsys, "classify", *argv)
    assert found == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in stderr


def test_cli_eval_rejects_bad_shots(capsys, rows_csv):
    code, _, stderr = _cli(capsys, "eval", "--data", str(rows_csv), "--shots", "0,four")
    assert code == 2 and "--shots" in stderr


@pytest.mark.slow
def test_default_model_on_hearts():
    """SmolLM2-135M-Instruct, zero-shot, on 20 rows of the heart disease data."""
    from finsql.lm.models import load_model
    from finsql.tabular.datasets import get_dataset

    torch.set_num_threads(1)
    spec = get_dataset("hearts")
    frame, columns = spec.load()
    task = build_task(
        frame, target=spec.target, question=spec.question, choices=spec.choices, columns=columns
    )
    _, test = draw_split(task.labels, 0, 0, test_rows=20)
    texts = task.texts(test, get_serializer("text", get_plugin_manager()))
    assert texts[0].startswith("The age is")
    probs = softmax(score_texts(load_model(), texts, task.question, task.choices))
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert len(set(task.labels[test].tolist())) == 2
    assert 0.0 <= auc(task.labels[test], probs) <= 1.0
