"""Composing LoRA experts: LoRAHub's sums against a hand computation, the search, peft merges, the CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from finsql.ask.pairs import Pair
from finsql.errors import UsageError
from finsql.lm import hub

PAIRS = [
    Pair("How many funds are there?", "SELECT count(*) FROM fund"),
    Pair("List the bond funds.", "SELECT fund_name FROM fund WHERE fund_type = 'bond'"),
    Pair("What is the total AUM?", "SELECT sum(aum_mn) FROM fund"),
    Pair("Which fund is the largest?", "SELECT fund_name FROM fund ORDER BY aum_mn DESC LIMIT 1"),
]
FEW = [
    Pair("How many equity funds are there?", "SELECT count(*) FROM fund WHERE fund_type = 'equity'"),
    Pair("What is the average AUM?", "SELECT avg(aum_mn) FROM fund"),
    Pair("Name every fund.", "SELECT fund_name FROM fund"),
]


@pytest.fixture(scope="module")
def plugins():
    """The built-in combiner plugins in the process-wide plugin manager (until they are entry points)."""
    import finsql_plugins.average
    import finsql_plugins.lorahub
    import finsql_plugins.peft_merges

    from finsql.plugins import get_plugin_manager

    manager = get_plugin_manager()
    modules = [finsql_plugins.lorahub, finsql_plugins.average, finsql_plugins.peft_merges]
    added = [m for m in modules if not manager.is_registered(m)]
    for module in added:
        manager.register(module)
    yield manager
    for module in added:
        manager.unregister(module)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, plugins, fund_dbs) -> dict:
    """Two tiny LoRA experts (other seeds, so other matrices) and two databases, in an isolated cache."""
    from finsql.experts.config import TrainConfig
    from finsql.experts.train import train_expert

    folder = tmp_path_factory.mktemp("combiners")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FINSQL_CACHE_DIR", str(folder / "cache"))
        patch.setenv("FINSQL_THREADS", "1")
        db = fund_dbs[0]
        for name, seed in (("fund-a", 0), ("fund-b", 1)):
            config = TrainConfig(
                method="lora", name=name, model_name=str(tiny_model_dir), layers=1, steps=2, batch_size=2,
                lr=1e-2, val_split=0, seed=seed, augment=(), progress=False,
            )  # fmt: skip
            train_expert(db, PAIRS, config)
        yield {"db": db, "other_db": fund_dbs[1], "tmp": folder}


def adapter_tensors(name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(hub.expert_dir(name) / "adapter_model.safetensors"))


def loaded(tiny_model_dir: Path, names: list[str]):
    """The tiny base model with the experts as adapters e0, e1, ..."""
    from transformers import AutoModelForCausalLM

    from finsql.experts.compose import load_adapters

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return load_adapters(base, [hub.expert_dir(n) for n in names])


def lora_pairs(model, adapter: str) -> dict:
    """Module name -> (A, B, scaling) of ``adapter``."""
    from peft.tuners.lora import LoraLayer

    return {
        name: (m.lora_A[adapter].weight.detach(), m.lora_B[adapter].weight.detach(), m.scaling[adapter])
        for name, m in model.named_modules()
        if isinstance(m, LoraLayer) and adapter in m.lora_A
    }


def test_lorahub_composition_matches_a_hand_computation(trained, tiny_model_dir):
    import torch

    from finsql.experts.combiners import linear_combine

    a, b = adapter_tensors("fund-a"), adapter_tensors("fund-b")
    assert set(a) == set(b) and len(a) == 14  # 7 projections x (A, B) in the top layer only
    assert all(not torch.equal(a[key], b[key]) for key in a)
    model = loaded(tiny_model_dir, ["fund-a", "fund-b"])
    linear_combine(model, ["e0", "e1"], [0.3, -0.7], "mix")
    composed = lora_pairs(model, "mix")
    assert len(composed) == 7
    for module, (lora_a, lora_b, _scaling) in composed.items():
        for part, value in (("A", lora_a), ("B", lora_b)):
            key = f"{module}.lora_{part}.weight"
            # by hand, entry by entry: 0.3 x (expert a) - 0.7 x (expert b)
            rows = zip(a[key].tolist(), b[key].tolist(), strict=True)
            hand = [[0.3 * x - 0.7 * y for x, y in zip(ra, rb, strict=True)] for ra, rb in rows]
            torch.testing.assert_close(value, torch.tensor(hand), rtol=1e-6, atol=1e-7)
    # not peft's "linear" (square roots of the weights): the update is the product of the weighted sums
    sources = lora_pairs(model, "e0"), lora_pairs(model, "e1")
    for module, (lora_a, lora_b, scaling) in composed.items():
        (a0, b0, s), (a1, b1, _) = sources[0][module], sources[1][module]
        expected = s * (0.3 * b0 - 0.7 * b1) @ (0.3 * a0 - 0.7 * a1)
        torch.testing.assert_close(scaling * lora_b @ lora_a, expected)


def test_loss_in_place_cached_and_one_hot(trained):
    from finsql.experts.compose import open_composition

    with open_composition(["fund-a", "fund-b"], FEW, trained["db"], batch_size=2) as comp:
        assert len(comp.examples) == 3 and len(comp.loss.batches) == 2
        first = comp.loss_of([0.4, -0.9])  # plain forward passes, capturing the top layer's input
        assert comp.loss.cache.enabled and comp.loss.cache.verified
        cached = comp.loss_of([0.4, -0.9])  # the bottom layer skipped
        expert_b = comp.loss_of([0.0, 1.0])
        comp.loss.cache = None
        assert first == pytest.approx(cached, rel=1e-5)
        assert comp.loss_of([0.4, -0.9]) == pytest.approx(first, rel=1e-5)
        comp.model.set_adapter("e1")  # one-hot weights are that expert
        assert comp.loss() == pytest.approx(expert_b, rel=1e-5)


def test_one_expert_opens_for_its_loss_and_weight_zero_is_the_base_model(trained):
    from finsql.experts.compose import open_composition

    with open_composition(["fund-a", "fund-b"], FEW, trained["db"], batch_size=2) as comp:
        expert_a = comp.loss_of([1.0, 0.0])
        base = comp.loss_of([0.0, 0.0])
        comp.model.disable_adapter_layers()
        assert comp.loss() == pytest.approx(base, rel=1e-5)
    assert expert_a != pytest.approx(base, rel=1e-3)
    with pytest.raises(UsageError, match="at least two experts"):
        open_composition(["fund-a"], FEW, trained["db"]).__enter__()
    with open_composition(["fund-a"], FEW, trained["db"], batch_size=2, minimum=1) as comp:
        assert comp.loss_of([1.0]) == pytest.approx(expert_a, rel=1e-5)
        assert comp.loss_of([0.0]) == pytest.approx(base, rel=1e-5)


def test_compose_lorahub_saves_an_expert_that_routes(trained, tiny_model_dir):
    import torch

    from finsql.ask.session import Session
    from finsql.experts.compose import compose_expert
    from finsql.experts.weights import BOUNDS

    folder = compose_expert(
        ["fund-a", "fund-b"], FEW, trained["other_db"], "funds2-hub", budget=6, seed=3, progress=False
    )
    manifest = hub.load_manifest("funds2-hub")
    comp = manifest.composition
    assert comp["combiner"] == "lorahub" and comp["experts"] == ["fund-a", "fund-b"]
    assert comp["optimizer"] == "NGOpt" and comp["budget"] == 6 and comp["regularization"] == 0.05
    steps = comp["steps"]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[0]["weights"] == [0.0, 0.0]  # LoRAHub starts from w = 0: the base model
    assert all(BOUNDS[0] <= w <= BOUNDS[1] for s in steps for w in s["weights"])
    best = min(steps, key=lambda s: s["objective"])
    assert comp["weights"] == best["weights"] and comp["objective"] == best["objective"]
    assert best["objective"] == pytest.approx(best["loss"] + 0.05 * sum(map(abs, best["weights"])) / 2)
    assert manifest.metrics["examples_loss"] == pytest.approx(best["loss"], rel=1e-4)
    assert manifest.method == "lora" and manifest.prompt_style == "names" and manifest.shots == 3
    assert (folder / "adapter_config.json").is_file()
    # the saved matrices are the weighted sums of the experts' matrices
    w0, w1 = comp["weights"]
    a, b, saved = adapter_tensors("fund-a"), adapter_tensors("fund-b"), adapter_tensors("funds2-hub")
    assert set(saved) == set(a)
    for key in saved:
        torch.testing.assert_close(saved[key], w0 * a[key] + w1 * b[key])
    # the new expert carries the fingerprint of --db, but nothing measured it against the base model on
    # held-out pairs: routing skips it, saying why; named, it answers and loads
    auto = Session(trained["other_db"], model_name=str(tiny_model_dir))
    auto.close()
    assert auto.expert_name is None
    assert ("funds2-hub", "not validated against the base model") in [
        (s.expert, s.reason) for s in auto.route.skipped
    ]
    session = Session(trained["other_db"], model_name=str(tiny_model_dir), expert="funds2-hub", merge=False)
    try:
        assert session.expert_name == "funds2-hub"
        assert session.lm.model.peft_config["default"].r == 8
    finally:
        session.close()


def test_average_is_uniform_and_needs_no_search(trained):
    import torch

    from finsql.experts.compose import compose_expert

    compose_expert(["fund-a", "fund-b"], FEW, trained["db"], "funds-avg", combiner="average", progress=False)
    comp = hub.load_manifest("funds-avg").composition
    assert comp["combiner"] == "average" and comp["weights"] == [0.5, 0.5] and "steps" not in comp
    a, b, saved = adapter_tensors("fund-a"), adapter_tensors("fund-b"), adapter_tensors("funds-avg")
    for key in saved:
        torch.testing.assert_close(saved[key], 0.5 * a[key] + 0.5 * b[key])


def test_peft_cat_and_ties(trained, tiny_model_dir, plugins):
    import torch

    from finsql.experts.combiners import get_combiner

    model = loaded(tiny_model_dir, ["fund-a", "fund-b"])
    cat, ties = get_combiner("cat", plugins), get_combiner("ties", plugins)
    assert not cat.learns_weights and cat.default_weights(2) == [0.5, 0.5]
    assert ties.default_weights(2) == [1.0, 1.0]
    cat.combine(model, ["e0", "e1"], cat.default_weights(2), "cat")
    ties.combine(model, ["e0", "e1"], ties.default_weights(2), "ties")
    sources = lora_pairs(model, "e0"), lora_pairs(model, "e1")
    assert model.peft_config["cat"].r == 16 and model.peft_config["ties"].r == 8
    for module, (lora_a, lora_b, scaling) in lora_pairs(model, "cat").items():
        (a0, b0, s), (a1, b1, _) = sources[0][module], sources[1][module]
        # cat with weights 1/2: exactly the mean of the experts' updates
        torch.testing.assert_close(scaling * lora_b @ lora_a, s * (b0 @ a0 + b1 @ a1) / 2)
    for lora_a, _lora_b, _scaling in lora_pairs(model, "ties").values():
        kept = float((lora_a != 0).float().mean())
        assert 0 < kept <= 0.45  # trimmed to the top 20% of each expert, then the sign-agreeing union


def test_registry_lists_the_builtin_combiners(plugins):
    from finsql.experts.combiners import Combiner, get_combiner
    from finsql.plugins import combiners

    found = combiners(plugins)
    assert {"lorahub", "average", "cat", "ties"} <= set(found)
    assert all(isinstance(c, Combiner) for c in found.values())
    assert [n for n, c in found.items() if c.learns_weights] == ["lorahub"]
    with pytest.raises(UsageError, match="unknown combiner 'nope'; combiners: average, cat, lorahub, ties"):
        get_combiner("nope", plugins)


def _variant(source: str, name: str, config: dict | None = None, manifest: dict | None = None) -> None:
    """A copy of expert ``source`` with some adapter-config or manifest fields changed."""
    folder = hub.expert_dir(source)
    payload = dataclasses.replace(hub.load_manifest(source), **(manifest or {}))
    adapter = {**json.loads((folder / "adapter_config.json").read_text()), **(config or {})}

    def write(target: Path) -> None:
        shutil.copy(folder / "adapter_model.safetensors", target)
        (target / "adapter_config.json").write_text(json.dumps(adapter))

    hub.save_expert(name, write, payload, force=True)


@pytest.mark.parametrize(
    ("config", "manifest", "message"),
    [
        ({"r": 4}, None, "experts 'fund-a' and 'odd' differ in rank (8 vs 4)"),
        ({"target_modules": ["q_proj"]}, None, "differ in target modules"),
        ({"layers_to_transform": [0]}, None, "differ in adapted layers ([1] vs [0])"),
        (None, {"prompt_style": "full"}, "differ in prompt style (names vs full)"),
        (None, {"base_model_hash": "0123"}, "differ in base model"),
        ({"use_dora": True}, {"method": "dora"}, "expert 'odd' is a dora adapter: only LoRA experts compose"),
        ({"peft_type": "IA3"}, {"method": "ia3"}, "expert 'odd' is a ia3 adapter"),
    ],
)
def test_incompatible_experts_are_one_usage_error(trained, config, manifest, message):
    from finsql.experts.compose import source_experts

    _variant("fund-b", "odd", config, manifest)
    with pytest.raises(UsageError, match=re.escape(message)):
        source_experts(["fund-a", "odd"])


def test_usage_errors_before_loading_anything(trained):
    from finsql.errors import InputError
    from finsql.experts.compose import compose_expert, source_experts

    with pytest.raises(UsageError, match="at least two experts"):
        source_experts(["fund-a", "fund-a"])
    with pytest.raises(InputError, match="no expert named 'ghost'"):
        source_experts(["fund-a", "ghost"])
    with pytest.raises(UsageError, match="cannot be one of the experts"):
        compose_expert(["fund-a", "fund-b"], FEW, trained["db"], "fund-a", progress=False)
    with pytest.raises(UsageError, match="unknown combiner"):
        compose_expert(["fund-a", "fund-b"], FEW, trained["db"], "new", combiner="nope", progress=False)


def test_cli_compose_and_combiners(trained, plugins):
    from finsql.experts.cli import hub_app

    app = typer.Typer()
    app.add_typer(hub_app, name="hub")
    few = trained["tmp"] / "few.jsonl"
    few.write_text("".join(json.dumps({"question": p.question, "sql": p.sql}) + "\n" for p in FEW))
    runner = CliRunner()
    args = [
        "hub",
        "compose",
        "--experts",
        "fund-a,fund-b",
        "--examples",
        str(few),
        "--db",
        str(trained["db"]),
    ]
    result = runner.invoke(app, [*args, "--name", "funds-cli", "--budget", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "expert funds-cli ->" in result.output and "lorahub of 2 experts: fund-a" in result.output
    assert "step 3/3  loss" in result.output  # the loss per step (a bar on a terminal)
    assert len(hub.load_manifest("funds-cli").composition["steps"]) == 3
    again = runner.invoke(app, [*args, "--name", "funds-cli"])
    assert isinstance(again.exception, UsageError) and "already exists" in str(again.exception)
    both = runner.invoke(app, [*args, "--all", "--name", "x"])
    assert isinstance(both.exception, UsageError) and "--experts a,b,... or --all" in str(both.exception)
    listing = runner.invoke(app, ["hub", "combiners"])
    assert listing.exit_code == 0
    assert "lorahub" in listing.output and "learnt" in listing.output and "ties" in listing.output
