"""Plugin loading and the registries the hooks fill.

The built-in plugins (``DEFAULT_PLUGINS``, flat modules of the ``finsql_plugins`` package) are always loaded;
third-party plugins are setuptools entry points of the group ``finsql``. The ``FINSQL_LOAD_PLUGINS``
environment variable, when set, is a comma-separated list of the third-party plugins to load (entry point
names such as ``vera``, or distribution names such as ``finsql-vera``); empty, it loads none of them.

Importing this module is cheap: plugins are loaded on the first call of ``get_plugin_manager()``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import os
import re
import sys
from typing import Any

import pluggy

from finsql import hookspecs
from finsql.errors import FinsqlError
from finsql.lm.methods import PeftMethod
from finsql.synth.paraphrase import Paraphraser

GROUP = "finsql"
LOAD_PLUGINS_ENV = "FINSQL_LOAD_PLUGINS"
DEFAULT_PLUGINS = (
    "finsql_plugins.lora",
    "finsql_plugins.dora",
    "finsql_plugins.adalora",
    "finsql_plugins.ia3",
    "finsql_plugins.prompt_tuning",
    "finsql_plugins.prefix_tuning",
    "finsql_plugins.bitfit",
    "finsql_plugins.repair_names",
    "finsql_plugins.repair_trim",
    "finsql_plugins.repair_grouping",
    "finsql_plugins.repair_from",
    "finsql_plugins.repair_dates",
    "finsql_plugins.repair_ambiguous",
    "finsql_plugins.serializers",
    "finsql_plugins.rule_paraphrases",
    "finsql_plugins.lorahub",
    "finsql_plugins.average",
    "finsql_plugins.peft_merges",
)
"""The built-in plugins, registered under their module's last name (``lora``) whatever the environment."""


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows finsql's hooks and holds no plugin yet."""
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    return manager


pm = new_plugin_manager()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _builtin_name(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def load_plugins(manager: pluggy.PluginManager, selection: str | None) -> None:
    """Register the built-in plugins, then the third-party entry points: all of them if ``selection`` is
    None, else those the comma-separated names in it match (entry point or distribution names)."""
    for module_name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(module_name), name=_builtin_name(module_name))
    if selection is None:
        manager.load_setuptools_entrypoints(GROUP)
    else:
        entry_points = importlib.metadata.entry_points(group=GROUP)
        builtins = {_canonical(_builtin_name(name)) for name in DEFAULT_PLUGINS} | {"finsql"}
        for wanted in filter(None, (part.strip() for part in selection.split(","))):
            names = [
                ep.name
                for ep in entry_points
                if ep.name == wanted
                or (ep.dist is not None and _canonical(ep.dist.name) == _canonical(wanted))
            ]
            if not names and _canonical(wanted) not in builtins:  # built-ins load anyway: nothing to say
                sys.stderr.write(f"Plugin {wanted} could not be found\n")
            for name in names:
                manager.load_setuptools_entrypoints(GROUP, name=name)
    manager.check_pending()


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, plugins loaded on first use (honouring ``FINSQL_LOAD_PLUGINS``)."""
    load_plugins(pm, os.environ.get(LOAD_PLUGINS_ENV))
    return pm


def list_plugins(manager: pluggy.PluginManager | None = None) -> list[dict[str, Any]]:
    """Every loaded plugin: name, module, distribution, version and the hooks it implements."""
    manager = manager or get_plugin_manager()
    distinfo = dict(manager.list_plugin_distinfo())
    plugins = []
    for plugin in manager.get_plugins():
        module = getattr(plugin, "__name__", type(plugin).__name__)
        dist = distinfo.get(plugin)
        if module in DEFAULT_PLUGINS:
            distribution, version = "finsql", importlib.metadata.version("finsql")
        else:
            distribution, version = (dist.project_name, dist.version) if dist else (None, None)
        plugins.append(
            {
                "name": manager.get_name(plugin),
                "module": module,
                "distribution": distribution,
                "version": version,
                "hooks": sorted(caller.name for caller in manager.get_hookcallers(plugin) or []),
            }
        )
    return sorted(plugins, key=lambda info: info["name"])


def add_plugin_commands(app: Any, manager: pluggy.PluginManager | None = None) -> None:
    """Let every plugin add its sub-commands to the typer ``app``."""
    (manager or get_plugin_manager()).hook.register_commands(cli=app)


def _registrations(
    hook_name: str, what: str, manager: pluggy.PluginManager | None, kind: type | None = None
) -> dict[str, tuple[Any, str]]:
    """Call one ``register_*`` hook plugin by plugin: ``{name: (item, plugin name)}``, sorted by name.

    Plugin by plugin, so that a name registered twice is an error naming both plugins.
    """
    found: dict[str, tuple[Any, str]] = {}
    hook = getattr((manager or get_plugin_manager()).hook, hook_name)
    for impl in hook.get_hookimpls():  # in registration order

        def register(item: Any, name: str | None = None, plugin: str = impl.plugin_name) -> None:
            if kind is not None and not isinstance(item, kind):
                raise FinsqlError(f"plugin {plugin!r} registered a {type(item).__name__} as a {what}")
            key = name or getattr(item, "name", None) or item.__name__
            if key in found:
                raise FinsqlError(
                    f"{what} {key!r} is registered twice: by plugins {found[key][1]!r} and {plugin!r}"
                )
            found[key] = (item, plugin)

        try:
            impl.function(**dict.fromkeys(impl.argnames, register))
        except FinsqlError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken plugin is one line naming it, not a traceback
            raise FinsqlError(
                f"plugin {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc} "
                f"({LOAD_PLUGINS_ENV}= loads the built-in plugins only)"
            ) from exc
    return {key: found[key] for key in sorted(found)}


def _collect(
    hook_name: str, what: str, manager: pluggy.PluginManager | None, kind: type | None = None
) -> dict[str, Any]:
    """``{name: item}`` of one ``register_*`` hook (``_registrations`` without the plugin names)."""
    return {key: item for key, (item, _) in _registrations(hook_name, what, manager, kind).items()}


def peft_methods(manager: pluggy.PluginManager | None = None) -> dict[str, PeftMethod]:
    """The registered fine-tuning methods by name."""
    return _collect("register_peft_methods", "PEFT method", manager, PeftMethod)


def combiners(manager: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """The registered adapter combiners by name."""
    return _collect("register_combiners", "combiner", manager)


def sql_repairers(manager: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """The registered SQL repairers by name."""
    return _collect("register_sql_repairers", "SQL repairer", manager)


def serializers(manager: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """The registered row serializers by name."""
    return _collect("register_serializers", "serializer", manager)


def paraphrasers(manager: pluggy.PluginManager | None = None) -> dict[str, Paraphraser]:
    """The registered question paraphrasers (for synthesized pairs) by name."""
    return _collect("register_paraphrasers", "paraphraser", manager, Paraphraser)


def plugin_commands(manager: pluggy.PluginManager | None = None) -> dict[str, tuple[str, str]]:
    """The sub-commands and command groups plugins add: ``{name: (help line, plugin name)}``.

    Each plugin's ``register_commands`` runs on an empty typer app of its own, to see what it adds.
    """
    import typer

    found: dict[str, tuple[str, str]] = {}
    for impl in (manager or get_plugin_manager()).hook.register_commands.get_hookimpls():
        app = typer.Typer()
        impl.function(cli=app)
        for command in app.registered_commands:
            name = command.name or command.callback.__name__.lower().replace("_", "-")
            found[name] = (_first_line(command.help, command.callback), impl.plugin_name)
        for group in app.registered_groups:
            info = group.typer_instance.info
            name = group.name if isinstance(group.name, str) else info.name
            found[name] = (_first_line(group.help, info.help, info.callback), impl.plugin_name)
    return {key: found[key] for key in sorted(found)}


def _first_line(*sources: Any) -> str:
    """The first line of the first source that is text, or the docstring of the first that is callable."""
    for source in sources:
        text = source if isinstance(source, str) else inspect.getdoc(source) if callable(source) else None
        if text and text.strip():
            return text.strip().split("\n", 1)[0]
    return ""


def catalog(manager: pluggy.PluginManager | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every plugin, and every name the plugins register by kind, each with the plugin that registered it."""
    manager = manager or get_plugin_manager()
    methods = _registrations("register_peft_methods", "PEFT method", manager, PeftMethod)
    listed = {
        "plugins": list_plugins(manager),
        "peft_methods": [
            {
                "name": name,
                "description": method.description,
                "lr": method.lr,
                "few_shot_lr": method.few_shot_lr,
                "config_class": method.config_class.__name__ if method.config_class else None,
                "options": method.describe_options(),
                "plugin": plugin,
            }
            for name, (method, plugin) in methods.items()
        ],
        "combiners": [
            {
                "name": name,
                "description": _first_line(getattr(combiner, "description", None), combiner),
                "learns_weights": bool(getattr(combiner, "learns_weights", False)),
                "plugin": plugin,
            }
            for name, (combiner, plugin) in _registrations("register_combiners", "combiner", manager).items()
        ],
    }
    for kind, hook_name, what in (
        ("sql_repairers", "register_sql_repairers", "SQL repairer"),
        ("serializers", "register_serializers", "serializer"),
        ("paraphrasers", "register_paraphrasers", "paraphraser"),
    ):
        listed[kind] = [
            {"name": name, "description": _first_line(getattr(item, "description", None), item), "plugin": by}
            for name, (item, by) in _registrations(hook_name, what, manager).items()
        ]
    listed["commands"] = [
        {"name": name, "description": description, "plugin": plugin}
        for name, (description, plugin) in plugin_commands(manager).items()
    ]
    return listed
