"""The plugin system: hook specs, discovery, FINSQL_LOAD_PLUGINS, registries and override parsing."""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
import typer
from typer.testing import CliRunner

from finsql import hookspecs
from finsql.errors import FinsqlError, UsageError
from finsql.hookspecs import hookimpl
from finsql.lm.methods import PeftMethod, parse_overrides
from finsql.plugins import (
    add_plugin_commands,
    combiners,
    list_plugins,
    load_plugins,
    new_plugin_manager,
    peft_methods,
    serializers,
    sql_repairers,
)

ROOT = Path(__file__).resolve().parents[1]
METHOD_PLUGINS = ["adalora", "bitfit", "dora", "ia3", "lora", "prefix_tuning", "prompt_tuning"]
COMBINER_PLUGINS = ("average", "lorahub", "peft_merges")
BUILTIN_PLUGINS = sorted([*METHOD_PLUGINS, *COMBINER_PLUGINS, "repair_names", "serializers"])
BUILTIN_HOOKS = (
    {name: ["register_peft_methods"] for name in METHOD_PLUGINS}
    | {
        "repair_names": ["register_sql_repairers"],
        "serializers": ["register_serializers"],
    }
    | {name: ["register_combiners"] for name in COMBINER_PLUGINS}
)
HOOKS = {name: fn for name, fn in vars(hookspecs).items() if getattr(fn, "finsql_spec", None) is not None}


def _manager(*plugins: object, load: str = "") -> pluggy.PluginManager:
    """A fresh plugin manager with the entry points named in ``load`` and the given in-test plugins."""
    manager = new_plugin_manager()
    load_plugins(manager, load)
    for plugin in plugins:
        manager.register(plugin)
    return manager


def _dummy_method(name: str) -> PeftMethod:
    return PeftMethod(
        name, "a test method", {}, wrap=lambda m, p: m, save=lambda m, d: None, load=lambda m, d: m
    )


# --- the hooks themselves: documented, and each exercised by some test ---


def test_hookspecs_exist_and_have_docstrings():
    assert len(HOOKS) == 5
    for name, fn in HOOKS.items():
        assert fn.__doc__ and fn.__doc__.strip(), f"hook {name} has no docstring"
        assert len(fn.__doc__.strip().splitlines()) == 1, f"hook {name}: the docstring should be one line"


def test_every_hook_is_documented():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    undocumented = [name for name in HOOKS if f"`{name}(" not in docs]
    assert not undocumented, f"hooks missing from docs/plugins.md: {undocumented}"


def test_every_hook_has_a_test():
    """Each hook is implemented (``def <hook>(``) by an in-test plugin in some tests/test_*.py file."""
    texts = [path.read_text() for path in (ROOT / "tests").glob("test_*.py")]
    untested = [name for name in HOOKS if not any(f"def {name}(" in text for text in texts)]
    assert not untested, f"hooks without a test implementing them: {untested}"


# --- discovery ---


def test_import_is_cheap():
    code = "import sys, finsql.plugins as p; p.list_plugins(); print({'torch', 'peft'} & set(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "set()"


def test_builtins_are_listed_with_version_and_hooks():
    plugins = {info["name"]: info for info in list_plugins(_manager(load="finsql"))}
    assert sorted(plugins) == BUILTIN_PLUGINS
    for name in BUILTIN_PLUGINS:
        assert plugins[name]["version"] == importlib.metadata.version("finsql")
        assert plugins[name]["distribution"] == "finsql"
        assert plugins[name]["module"] == f"finsql_plugins.{name}"
        assert plugins[name]["hooks"] == BUILTIN_HOOKS[name]


def test_default_manager_loads_all_builtins():
    names = {info["name"] for info in list_plugins()}
    assert set(BUILTIN_PLUGINS) <= names


def test_load_plugins_selection(capsys):
    assert list_plugins(_manager(load="")) == []
    assert [p["name"] for p in list_plugins(_manager(load=" lora, bitfit "))] == ["bitfit", "lora"]
    assert [p["name"] for p in list_plugins(_manager(load="lora,no-such-plugin"))] == ["lora"]
    assert "Plugin no-such-plugin could not be found" in capsys.readouterr().err
    everything = new_plugin_manager()
    load_plugins(everything, None)
    assert set(BUILTIN_PLUGINS) <= {p["name"] for p in list_plugins(everything)}


@pytest.mark.parametrize(
    ("value", "expected"), [("", []), ("lora,ia3", ["ia3", "lora"]), ("finsql", BUILTIN_PLUGINS)]
)
def test_env_variable_restricts_plugins(value, expected):
    code = "import finsql.plugins as p; print(','.join(i['name'] for i in p.list_plugins()))"
    env = {**os.environ, "FINSQL_LOAD_PLUGINS": value}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert (out.strip().split(",") if out.strip() else []) == expected


def test_misspelt_hook_fails_loudly():
    class Misspelt:
        @hookimpl
        def register_peft_method(self, register):  # the hook is register_peft_methods
            register(_dummy_method("typo"))

    manager = new_plugin_manager()
    manager.register(Misspelt(), name="misspelt")
    with pytest.raises(pluggy.PluginValidationError, match="register_peft_method"):
        manager.check_pending()
    with pytest.raises(pluggy.PluginValidationError):
        load_plugins(manager, "")


# --- registries ---


class TwinA:
    @hookimpl
    def register_peft_methods(self, register):
        register(_dummy_method("twin"))


class TwinB:
    @hookimpl
    def register_peft_methods(self, register):
        register(_dummy_method("twin"))


def test_peft_methods_registry():
    methods = peft_methods(_manager(TwinA(), load="lora"))
    assert sorted(methods) == ["lora", "twin"]
    assert isinstance(methods["lora"], PeftMethod)


def test_duplicate_method_name_is_an_error():
    manager = new_plugin_manager()
    manager.register(TwinA(), name="twin-a")
    manager.register(TwinB(), name="twin-b")
    with pytest.raises(
        FinsqlError, match="PEFT method 'twin' is registered twice: by plugins 'twin-a' and 'twin-b'"
    ):
        peft_methods(manager)

    class ShadowsLora:
        @hookimpl
        def register_peft_methods(self, register):
            register(_dummy_method("lora"))

    with pytest.raises(FinsqlError, match="'lora' is registered twice"):
        peft_methods(_manager(ShadowsLora(), load="lora"))


def test_peft_methods_rejects_other_objects():
    class Wrong:
        @hookimpl
        def register_peft_methods(self, register):
            register(lambda model: model, name="not-a-method")

    with pytest.raises(FinsqlError, match="registered a function as a PEFT method"):
        peft_methods(_manager(Wrong()))


def test_register_combiners():
    from finsql.experts.compose import Combiner, get_combiner

    def first_only(model, adapters, weights, target):
        model[target] = model[adapters[0]]

    class Combiners:
        @hookimpl
        def register_combiners(self, register):
            register(Combiner("first", "the first expert alone", first_only))
            register(Combiner("learnt-first", "the same, weights searched", first_only, True), name="learnt")

    manager = _manager(Combiners())
    found = combiners(manager)
    assert sorted(found) == ["first", "learnt"]
    assert found["learnt"].learns_weights and not found["first"].learns_weights
    assert found["first"].default_weights(4) == [0.25] * 4
    adapters = {"e0": "A", "e1": "B"}
    get_combiner("first", manager).combine(adapters, ["e0", "e1"], [0.5, 0.5], "new")
    assert adapters["new"] == "A"
    assert combiners(_manager()) == {}

    class NotACombiner:
        @hookimpl
        def register_combiners(self, register):
            register(lambda state_dicts, weights: state_dicts[0], name="old-style")

    with pytest.raises(FinsqlError, match="combiner 'old-style' is a function, not a finsql Combiner"):
        get_combiner("old-style", _manager(NotACombiner()))


def test_register_sql_repairers():
    class Repairers:
        @hookimpl
        def register_sql_repairers(self, register):
            def strip_semicolon(sql: str, schema) -> str:
                return sql.strip().rstrip(";")

            register(strip_semicolon)

    found = sql_repairers(_manager(Repairers()))
    assert list(found) == ["strip_semicolon"]
    assert found["strip_semicolon"]("SELECT 1; ", None) == "SELECT 1"


def test_register_serializers():
    class Serializers:
        @hookimpl
        def register_serializers(self, register):
            register(lambda row: " ".join(f"The {k} is {v}." for k, v in row.items()), name="text-template")

    found = serializers(_manager(Serializers()))
    assert found["text-template"]({"price": 3, "name": "ACME"}) == "The price is 3. The name is ACME."


def test_register_commands_adds_a_typer_command():
    class Commands:
        @hookimpl
        def register_commands(self, cli):
            @cli.command()
            def hello(name: str = typer.Argument(...)):
                """Say hello."""
                typer.echo(f"hello {name}")

    app = typer.Typer()

    @app.command()
    def version():
        typer.echo("0")

    add_plugin_commands(app, _manager(Commands()))
    result = CliRunner().invoke(app, ["hello", "world"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "hello world"


# --- overrides ---


DEFAULTS = {"r": 8, "lora_dropout": 0.05, "target_modules": ["q_proj"], "use_dora": False, "init": "RANDOM"}


def test_parse_overrides_casts_to_the_default_types():
    items = ["r=4", "target_modules=q_proj, v_proj", "lora_dropout=0.1", "use_dora=true", "init=TEXT"]
    params = parse_overrides(items, DEFAULTS)
    assert params == {
        "r": 4,
        "lora_dropout": 0.1,
        "target_modules": ["q_proj", "v_proj"],
        "use_dora": True,
        "init": "TEXT",
    }
    assert parse_overrides(["use_dora=No", "lora_dropout=1"], DEFAULTS)["use_dora"] is False
    assert parse_overrides([], DEFAULTS) == DEFAULTS
    assert DEFAULTS["target_modules"] == ["q_proj"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "alpha=3",
            "unknown setting 'alpha'; valid settings: init, lora_dropout, r, target_modules, use_dora",
        ),
        ("r=0.5", "setting 'r' takes an integer, not '0.5'"),
        ("lora_dropout=lots", "setting 'lora_dropout' takes a number"),
        ("use_dora=maybe", "setting 'use_dora' takes true or false"),
        ("r", "expected key=value"),
    ],
)
def test_parse_overrides_errors(item, message):
    with pytest.raises(UsageError) as info:
        parse_overrides([item], DEFAULTS)
    assert message in str(info.value)


def test_method_signatures_match_the_interface():
    """Every built-in method's callables take the arguments the interface promises."""
    for method in peft_methods(_manager(load="finsql")).values():
        assert len(inspect.signature(method.wrap).parameters) == 2
        assert len(inspect.signature(method.save).parameters) == 2
        assert len(inspect.signature(method.load).parameters) == 2
        assert method.on_step is None or len(inspect.signature(method.on_step).parameters) == 2
