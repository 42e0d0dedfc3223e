"""The plugin system: hook specs, loading, FINSQL_LOAD_PLUGINS, registries, method settings, the listing."""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pluggy
import pytest
import typer
from typer.testing import CliRunner

from finsql import hookspecs
from finsql.errors import FinsqlError, UsageError
from finsql.hookspecs import hookimpl
from finsql.lm.methods import DEFAULT_LR, PeftMethod, cast_setting, option
from finsql.plugins import (
    DEFAULT_PLUGINS,
    add_plugin_commands,
    catalog,
    combiners,
    list_plugins,
    load_plugins,
    new_plugin_manager,
    paraphrasers,
    peft_methods,
    serializers,
    sql_repairers,
)
from finsql.synth.paraphrase import Paraphraser

ROOT = Path(__file__).resolve().parents[1]
METHOD_PLUGINS = ["adalora", "bitfit", "dora", "ia3", "lora", "prefix_tuning", "prompt_tuning"]
COMBINER_PLUGINS = ("average", "lorahub", "peft_merges")
BUILTIN_PLUGINS = sorted(
    [
        *METHOD_PLUGINS,
        *COMBINER_PLUGINS,
        "repair_names",
        "repair_trim",
        "repair_grouping",
        "repair_from",
        "repair_dates",
        "repair_ambiguous",
        "serializers",
        "rule_paraphrases",
    ]
)
BUILTIN_HOOKS = (
    {name: ["register_peft_methods"] for name in METHOD_PLUGINS}
    | {
        "repair_names": ["register_sql_repairers"],
        "repair_trim": ["register_sql_repairers"],
        "repair_grouping": ["register_sql_repairers"],
        "repair_from": ["register_sql_repairers"],
        "repair_dates": ["register_sql_repairers"],
        "repair_ambiguous": ["register_sql_repairers"],
        "serializers": ["register_serializers"],
        "rule_paraphrases": ["register_paraphrasers"],
    }
    | {name: ["register_combiners"] for name in COMBINER_PLUGINS}
)
BUILTIN_LR = {
    "adalora": 2e-4,
    "bitfit": 1e-3,
    "dora": 2e-4,
    "ia3": 3e-3,
    "lora": 2e-4,
    "prefix-tuning": 1e-2,
    "prompt-tuning": 3e-2,
}
HOOKS = {name: fn for name, fn in vars(hookspecs).items() if getattr(fn, "finsql_spec", None) is not None}


def _manager(*plugins: object, builtins: bool = False) -> pluggy.PluginManager:
    """A fresh plugin manager with the given in-test plugins, after the built-ins when ``builtins``."""
    manager = new_plugin_manager()
    if builtins:
        load_plugins(manager, "")  # no third-party plugin: the test sees the same whatever is installed
    for plugin in plugins:
        manager.register(plugin)
    return manager


@dataclasses.dataclass
class NoOptions:
    """A method without settings."""


def _dummy_method(name: str) -> PeftMethod:
    return PeftMethod(
        name, "a test method", NoOptions, wrap=lambda m, p: m, save=lambda m, d: None, load=lambda m, d: m
    )


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A third-party plugin ``hello`` of distribution ``finsql-hello`` on the path (no pip install): it adds
    a command and an SQL repairer. Returns the folder to put on ``PYTHONPATH`` for subprocesses."""
    (tmp_path / "finsql_hello_plugin.py").write_text(
        "import typer\n"
        "from finsql.hookspecs import hookimpl\n\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def hello_world():\n"
        '        """Say hello."""\n'
        '        typer.echo("hello")\n\n\n'
        "@hookimpl\n"
        "def register_sql_repairers(register):\n"
        '    register(lambda sql, schema: sql, name="unchanged")\n'
    )
    dist = tmp_path / "finsql_hello-0.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: finsql-hello\nVersion: 0.2\n")
    (dist / "entry_points.txt").write_text("[finsql]\nhello = finsql_hello_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


# --- the hooks themselves: documented, and each exercised by a test (as datasette checks its own) ---


def _signature(name: str) -> str:
    """A hook's name and parameters, as docs/plugins.md writes it: ``register_peft_methods(register)``."""
    return f"{name}({', '.join(inspect.signature(HOOKS[name]).parameters)})"


def test_hookspecs_exist_and_have_docstrings():
    assert len(HOOKS) == 6
    for name, fn in HOOKS.items():
        assert fn.__doc__ and fn.__doc__.strip(), f"hook {name} has no docstring"
        assert len(fn.__doc__.strip().splitlines()) == 1, f"hook {name}: the docstring should be one line"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_documented(name):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{_signature(name)}`" in docs, f"docs/plugins.md has no heading for {_signature(name)}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_has_a_test(name):
    """``test_hook_<hook>`` here registers (``PluginManager.register``) a plugin that implements the hook."""
    test = globals().get(f"test_hook_{name}")
    assert test is not None, f"no test_hook_{name} in {Path(__file__).name}"
    source = inspect.getsource(test)
    assert f"def {name}(" in source and "_manager(" in source


# --- loading ---


def test_import_is_cheap():
    code = "import sys, finsql.plugins as p; p.list_plugins(); print({'torch', 'peft'} & set(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "set()"


def test_builtins_are_flat_modules_not_entry_points():
    assert sorted(name.rsplit(".", 1)[-1] for name in DEFAULT_PLUGINS) == BUILTIN_PLUGINS
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        assert Path(module.__file__) == ROOT / "plugins" / f"{module_name.rsplit('.', 1)[-1]}.py"
    ours = [ep.name for ep in importlib.metadata.entry_points(group="finsql") if ep.dist.name == "finsql"]
    assert ours == []


def test_builtins_are_listed_with_version_and_hooks():
    plugins = {info["name"]: info for info in list_plugins(_manager(builtins=True))}
    assert sorted(plugins) == BUILTIN_PLUGINS
    for name in BUILTIN_PLUGINS:
        assert plugins[name]["version"] == importlib.metadata.version("finsql")
        assert plugins[name]["distribution"] == "finsql"
        assert plugins[name]["module"] == f"finsql_plugins.{name}"
        assert plugins[name]["hooks"] == BUILTIN_HOOKS[name]


def test_default_manager_loads_all_builtins():
    names = {info["name"] for info in list_plugins()}
    assert set(BUILTIN_PLUGINS) <= names


def _loaded(selection: str | None) -> list[str]:
    manager = new_plugin_manager()
    load_plugins(manager, selection)
    return [info["name"] for info in list_plugins(manager)]


def test_load_plugins_selection_restricts_third_party_plugins(third_party, capsys):
    with_hello = sorted([*BUILTIN_PLUGINS, "hello"])
    assert _loaded("") == BUILTIN_PLUGINS  # built-ins load whatever the selection
    assert _loaded(" hello ") == with_hello  # entry point name
    assert _loaded("finsql-hello") == with_hello  # distribution name
    assert _loaded("FINSQL_Hello,lora") == with_hello
    assert capsys.readouterr().err == ""  # a built-in's name is not an error: it is loaded anyway
    assert _loaded("no-such-plugin") == BUILTIN_PLUGINS
    assert "Plugin no-such-plugin could not be found" in capsys.readouterr().err
    assert set(with_hello) <= set(_loaded(None))  # unset: every installed plugin
    manager = new_plugin_manager()
    load_plugins(manager, "hello")
    (info,) = [info for info in list_plugins(manager) if info["name"] == "hello"]
    assert info == {
        "name": "hello",
        "module": "finsql_hello_plugin",
        "distribution": "finsql-hello",
        "version": "0.2",
        "hooks": ["register_commands", "register_sql_repairers"],
    }


@pytest.mark.parametrize(
    ("value", "hello"), [("", False), ("finsql-hello", True), ("hello,no-such-plugin", True), (None, True)]
)
def test_env_variable_restricts_third_party_plugins(third_party, value, hello):
    code = "import finsql.plugins as p; print(','.join(i['name'] for i in p.list_plugins()))"
    env = {key: item for key, item in os.environ.items() if key != "FINSQL_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(third_party), env.get("PYTHONPATH")]))
    if value is not None:
        env["FINSQL_LOAD_PLUGINS"] = value
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    names = proc.stdout.strip().split(",")
    assert set(BUILTIN_PLUGINS) <= set(names)
    assert ("hello" in names) is hello


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


def test_hook_register_peft_methods():
    class Twin:
        @hookimpl
        def register_peft_methods(self, register):
            register(_dummy_method("twin"))

    methods = peft_methods(_manager(Twin(), builtins=True))
    assert sorted(methods) == sorted([*BUILTIN_LR, "twin"])
    assert isinstance(methods["lora"], PeftMethod)
    assert methods["twin"].lr == DEFAULT_LR and methods["twin"].defaults == {}


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
        peft_methods(_manager(ShadowsLora(), builtins=True))


def test_peft_methods_rejects_other_objects():
    class Wrong:
        @hookimpl
        def register_peft_methods(self, register):
            register(lambda model: model, name="not-a-method")

    with pytest.raises(FinsqlError, match="registered a function as a PEFT method"):
        peft_methods(_manager(Wrong()))


def test_a_broken_plugin_is_one_line_naming_it():
    class Broken:
        @hookimpl
        def register_peft_methods(self, register):
            register(PeftMethod("old", "options as a dict", {"r": 8}, None, None, None))

    manager = new_plugin_manager()
    manager.register(Broken(), name="broken")
    with pytest.raises(FinsqlError) as info:
        peft_methods(manager)
    message = str(info.value)
    assert message.startswith("plugin 'broken' failed in register_peft_methods: TypeError: PEFT method 'old'")
    assert "options must be a dataclass" in message and "FINSQL_LOAD_PLUGINS=" in message


def test_hook_register_combiners():
    from finsql.experts.combiners import Combiner, get_combiner

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


def test_hook_register_sql_repairers():
    class Repairers:
        @hookimpl
        def register_sql_repairers(self, register):
            def strip_semicolon(sql: str, schema) -> str:
                return sql.strip().rstrip(";")

            register(strip_semicolon)

    found = sql_repairers(_manager(Repairers()))
    assert list(found) == ["strip_semicolon"]
    assert found["strip_semicolon"]("SELECT 1; ", None) == "SELECT 1"


def test_hook_register_serializers():
    class Serializers:
        @hookimpl
        def register_serializers(self, register):
            register(lambda row: " ".join(f"The {k} is {v}." for k, v in row.items()), name="text-template")

    found = serializers(_manager(Serializers()))
    assert found["text-template"]({"price": 3, "name": "ACME"}) == "The price is 3. The name is ACME."


def test_hook_register_paraphrasers():
    class Paraphrases:
        @hookimpl
        def register_paraphrasers(self, register):
            register(Paraphraser("shout", lambda question, sql, seed: [question.upper()]))

    found = paraphrasers(_manager(Paraphrases(), builtins=True))
    assert found["shout"].paraphrase("How many funds?", "SELECT count(*) FROM fund", 0) == ["HOW MANY FUNDS?"]
    assert found["rules"].paraphrase("How many funds are there?", "SELECT count(*) FROM fund", 0)
    with pytest.raises(FinsqlError, match="as a paraphraser"):

        class Wrong:
            @hookimpl
            def register_paraphrasers(self, register):
                register(lambda question, sql, seed: [question], name="bare-function")

        paraphrasers(_manager(Wrong()))


def test_hook_register_commands():
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


# --- method settings: typed options, any peft config field, --set ---


@dataclasses.dataclass
class SettingsOptions:
    r: int = option(8, "rank")
    lora_dropout: float = option(0.05, "dropout")
    target_modules: list[str] = option(["q_proj"], "modules")
    use_dora: bool = option(False, "DoRA")
    init: str = option("RANDOM", "initialisation")


def _unused(*args):
    raise AssertionError("not called")


SETTINGS_METHOD = PeftMethod("settings-test", "options only", SettingsOptions, _unused, _unused, _unused)
DEFAULTS = {"r": 8, "lora_dropout": 0.05, "target_modules": ["q_proj"], "use_dora": False, "init": "RANDOM"}


def test_settings_cast_to_the_option_types():
    items = ["r=4", "target_modules=q_proj, v_proj", "lora_dropout=0.1", "use_dora=true", "init=TEXT"]
    params = SETTINGS_METHOD.settings(items)
    assert params == {
        "r": 4,
        "lora_dropout": 0.1,
        "target_modules": ["q_proj", "v_proj"],
        "use_dora": True,
        "init": "TEXT",
    }
    assert SETTINGS_METHOD.settings(["use_dora=No", "lora_dropout=1"])["use_dora"] is False
    assert SETTINGS_METHOD.settings([]) == DEFAULTS
    assert SETTINGS_METHOD.defaults["target_modules"] == ["q_proj"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "alpha=3",
            "unknown setting 'alpha' for settings-test; valid settings: init, lora_dropout, r, "
            "target_modules, use_dora",
        ),
        ("r=0.5", "setting 'r' takes an integer, not '0.5'"),
        ("lora_dropout=lots", "setting 'lora_dropout' takes a number"),
        ("use_dora=maybe", "setting 'use_dora' takes true or false"),
        ("r", "expected key=value"),
    ],
)
def test_settings_errors(item, message):
    with pytest.raises(UsageError) as info:
        SETTINGS_METHOD.settings([item])
    assert message in str(info.value)


def test_method_signatures_match_the_interface():
    """Every built-in method's callables take the arguments the interface promises."""
    for method in peft_methods(_manager(builtins=True)).values():
        assert len(inspect.signature(method.wrap).parameters) == 2
        assert len(inspect.signature(method.save).parameters) == 2
        assert len(inspect.signature(method.load).parameters) == 2
        assert method.on_step is None or len(inspect.signature(method.on_step).parameters) == 2


@pytest.fixture(scope="module")
def builtin_methods() -> dict[str, PeftMethod]:
    return peft_methods(_manager(builtins=True))


def test_builtin_methods_declare_their_options_and_lr(builtin_methods):
    assert {name: method.lr for name, method in builtin_methods.items()} == BUILTIN_LR
    for name, method in builtin_methods.items():
        assert dataclasses.is_dataclass(method.options)
        options = method.describe_options()
        assert [o["name"] for o in options] == list(method.defaults), name
        assert all(o["help"] and o["type"] for o in options), name
        assert (
            method.config_class is None
            if name == "bitfit"
            else method.config_class.__name__.endswith("Config")
        )
    lora = builtin_methods["lora"]
    assert lora.defaults["r"] == 8 and lora.defaults["lora_dropout"] == 0.0
    assert builtin_methods["dora"].defaults["use_dora"] is True
    lora.defaults["target_modules"].append("lm_head")  # a fresh copy each time
    assert "lm_head" not in lora.defaults["target_modules"]


def test_settings_accept_any_key_of_the_peft_config(builtin_methods):
    from peft import PrefixTuningConfig, PromptTuningConfig, PromptTuningInit

    prompt = builtin_methods["prompt-tuning"]
    items = [
        "prompt_tuning_init=TEXT",
        "prompt_tuning_init_text=How many funds?",
        "tokenizer_name_or_path=tok",
    ]
    params = prompt.settings([*items, "num_virtual_tokens=4"])
    assert params == {
        "num_virtual_tokens": 4,
        "prompt_tuning_init": "TEXT",
        "prompt_tuning_init_text": "How many funds?",
        "tokenizer_name_or_path": "tok",
    }
    assert PromptTuningConfig(task_type="CAUSAL_LM", **params).prompt_tuning_init == PromptTuningInit.TEXT
    assert prompt.settings(["prompt_tuning_init=text"])["prompt_tuning_init"] == "TEXT"  # enum, any case
    assert prompt.settings([]) == {"num_virtual_tokens": 16}
    prefix = builtin_methods["prefix-tuning"].settings(["prefix_projection=true", "encoder_hidden_size=32"])
    assert prefix == {"num_virtual_tokens": 16, "prefix_projection": True, "encoder_hidden_size": 32}
    assert PrefixTuningConfig(task_type="CAUSAL_LM", **prefix).prefix_projection is True
    lora = builtin_methods["lora"].settings(["bias=none", "use_rslora=yes", "layers_to_transform=2,3"])
    assert (lora["bias"], lora["use_rslora"], lora["layers_to_transform"]) == ("none", True, [2, 3])
    assert builtin_methods["lora"].settings(["exclude_modules=none"])["exclude_modules"] is None


def test_settings_refuse_unknown_keys_in_one_line(builtin_methods):
    prompt = builtin_methods["prompt-tuning"]
    for bad in (["nope=1"], ["task_type=CAUSAL_LM"]):  # task_type: finsql sets it
        with pytest.raises(UsageError) as info:
            prompt.settings(bad)
        message = str(info.value)
        assert "\n" not in message and info.value.exit_code == 2
        assert message.startswith(
            f"unknown setting {bad[0].split('=')[0]!r} for prompt-tuning; valid settings: "
        )
        valid = message.split("valid settings: ")[1].split(", ")
        assert {"num_virtual_tokens", "prompt_tuning_init", "tokenizer_name_or_path"} <= set(valid)
        assert "task_type" not in valid and valid == sorted(valid)
    with pytest.raises(UsageError, match="unknown setting 'r' for bitfit; valid settings: target_modules$"):
        builtin_methods["bitfit"].settings(["r=4"])
    with pytest.raises(UsageError, match="setting 'bias' takes one of none, all, lora_only, not 'some'"):
        builtin_methods["lora"].settings(["bias=some"])
    with pytest.raises(UsageError, match="expected key=value"):
        prompt.settings(["num_virtual_tokens"])


def test_check_validates_parsed_overrides(builtin_methods):
    lora = builtin_methods["lora"]
    overrides = {"r": 4, "use_dora": True, "target_modules": ["q_proj"]}
    assert lora.check(overrides) == {**lora.defaults, **overrides}
    assert lora.check({}) == lora.defaults
    with pytest.raises(UsageError, match="unknown setting 'rank' for lora; valid settings: .*lora_alpha"):
        lora.check({"rank": 4, "r": 4})


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        ("3", int | None, 3),
        ("None", int | None, None),
        ("none", Literal["none", "all"], "none"),
        ("all", Literal["none", "all"] | None, "all"),
        ("true", bool | Literal["gaussian"], True),
        ("gaussian", bool | Literal["gaussian"], "gaussian"),
        ("1, 2", list[int], [1, 2]),
        ("q_proj", list[str] | str, ["q_proj"]),
        ('{"q": 2}', dict | None, {"q": 2}),
        ("BLUE", Colour, "blue"),
        ("0.5", float, 0.5),
        ("anything", str | None, "anything"),
    ],
)
def test_cast_setting_by_type(text, hint, expected):
    assert cast_setting("key", text, hint) == expected


@pytest.mark.parametrize(
    ("text", "hint", "message"),
    [
        ("x", int | None, "setting 'key' takes none or an integer, not 'x'"),
        ("[1]", dict, "takes a JSON object"),
        ("green", Colour, "takes one of red, blue"),
        ("1,x", list[int], "takes a comma-separated list"),
    ],
)
def test_cast_setting_errors(text, hint, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        cast_setting("key", text, hint)


def test_options_must_be_a_dataclass():
    @dataclasses.dataclass
    class Options:
        r: int = option(4, "rank")
        modules: list[str] = option(["q_proj"], "targets")

    method = PeftMethod("m", "a test method", Options, None, None, None, lr=1e-3)
    assert method.defaults == {"r": 4, "modules": ["q_proj"]}
    assert method.settings(["r=2", "modules=k_proj,v_proj"]) == {"r": 2, "modules": ["k_proj", "v_proj"]}
    assert method.describe_options() == [
        {"name": "r", "type": "int", "default": 4, "help": "rank"},
        {"name": "modules", "type": "list[str]", "default": ["q_proj"], "help": "targets"},
    ]
    with pytest.raises(TypeError, match="options must be a dataclass"):
        PeftMethod("m", "a test method", {"r": 4}, None, None, None)
    with pytest.raises(TypeError, match="config_class must be a dataclass"):
        PeftMethod("m", "a test method", Options, None, None, None, config_class=dict)


# --- finsql plugins: every registered name by kind ---


def test_catalog_lists_every_kind_with_its_plugin():
    class Everything:
        @hookimpl
        def register_serializers(self, register):
            register(lambda row: "", name="empty")

        @hookimpl
        def register_commands(self, cli):
            @cli.command()
            def say_hello():
                """Say hello.

                More text that is not the summary."""

            sub = typer.Typer(help="Grouped commands.")
            cli.add_typer(sub, name="group")

    manager = _manager(builtins=True)
    manager.register(Everything(), name="everything")
    listed = catalog(manager)
    assert list(listed) == [
        "plugins",
        "peft_methods",
        "combiners",
        "sql_repairers",
        "serializers",
        "paraphrasers",
        "commands",
    ]
    assert listed["commands"] == [
        {"name": "group", "description": "Grouped commands.", "plugin": "everything"},
        {"name": "say-hello", "description": "Say hello.", "plugin": "everything"},
    ]
    assert {"name": "empty", "description": "", "plugin": "everything"} in listed["serializers"]
    (prompt,) = [m for m in listed["peft_methods"] if m["name"] == "prompt-tuning"]
    assert prompt == {
        "name": "prompt-tuning",
        "description": "Prompt tuning: trained soft-prompt embeddings",
        "lr": 3e-2,
        "few_shot_lr": 3e-2,
        "config_class": "PromptTuningConfig",
        "options": [
            {
                "name": "num_virtual_tokens",
                "type": "int",
                "default": 16,
                "help": "soft-prompt tokens put before the input",
            }
        ],
        "plugin": "prompt_tuning",
    }
    (ties,) = [c for c in listed["combiners"] if c["name"] == "ties"]
    assert ties["plugin"] == "peft_merges" and ties["learns_weights"] is False
    assert [r["plugin"] for r in listed["sql_repairers"]] == [
        "repair_names",
        "repair_grouping",
        "repair_ambiguous",  # qualify-ambiguous
        "repair_dates",  # quote-dates
        "repair_from",
        "repair_trim",
        "repair_grouping",
        "repair_dates",  # year-comparisons
    ]
    (rules,) = listed["paraphrasers"]
    assert (
        rules["name"] == "rules"
        and rules["plugin"] == "rule_paraphrases"
        and "rule-based" in rules["description"]
    )


def _main(capsys, *args: str) -> tuple[int, str, str]:
    from finsql.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_cli_plugins_lists_every_name_by_kind(capsys):
    code, out, err = _main(capsys, "plugins", "--json")
    assert code == 0, err
    listed = json.loads(out)
    names = {kind: {item["name"] for item in items} for kind, items in listed.items()}
    assert set(BUILTIN_PLUGINS) <= names["plugins"]
    assert set(BUILTIN_LR) <= names["peft_methods"]
    assert {"lorahub", "average", "cat", "ties"} <= names["combiners"]
    assert {
        "closest-names",
        "group-by-columns",
        "ungrouped-columns",
        "select-list-from",
        "trim-clauses",
    } <= names["sql_repairers"]
    assert {"text", "list", "list-values", "list-shuffled"} <= names["serializers"]
    assert "rules" in names["paraphrasers"]
    assert isinstance(listed["commands"], list)
    (lora,) = [m for m in listed["peft_methods"] if m["name"] == "lora"]
    assert lora["lr"] == DEFAULT_LR and lora["plugin"] == "lora" and lora["description"]
    assert {"name": "r", "type": "int", "default": 8, "help": "rank of the update B @ A"} in lora["options"]
    plugin = {info["name"]: info for info in listed["plugins"]}["lora"]
    assert plugin["hooks"] == ["register_peft_methods"] and plugin["version"]

    code, out, err = _main(capsys, "plugins")
    assert code == 0, err
    for heading in (
        "plugin",
        "PEFT method",
        "combiner",
        "SQL repairer",
        "serializer",
        "command",
        "prompt-tuning",
        "0.03",
    ):
        assert heading in out


def test_cli_unknown_setting_is_one_line_and_exit_code_2(capsys, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("amount,paid\n" + "".join(f"{i},{i % 2}\n" for i in range(8)))
    task = ["--data", str(rows), "--target", "paid", "--question", "Paid?", "--choices", "No,Yes"]
    code, out, err = _main(capsys, "tab", "classify", *task, "--method", "prompt-tuning", "--set", "nope=1")
    assert code == 2
    assert err.startswith("error: unknown setting 'nope'") and "num_virtual_tokens" in err
    assert err.count("\n") == 1 and "Traceback" not in err
