"""Plugin discovery (setuptools entry points of group ``finsql``) and the registries the hooks fill.

Importing this module is cheap: plugins are loaded on the first call of ``get_plugin_manager()``. The
``FINSQL_LOAD_PLUGINS`` environment variable, when set, is a comma-separated list of the plugins to load
(entry point names such as ``lora``, or distribution names such as ``finsql-vera``); empty, it loads none.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import pluggy

from finsql import hookspecs
from finsql.errors import FinsqlError

if TYPE_CHECKING:
    from finsql.lm.methods import PeftMethod

GROUP = "finsql"
LOAD_PLUGINS_ENV = "FINSQL_LOAD_PLUGINS"


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows finsql's hooks and holds no plugin yet."""
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    return manager


pm = new_plugin_manager()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_plugins(manager: pluggy.PluginManager, selection: str | None) -> None:
    """Load ``finsql`` entry points: all if ``selection`` is None, else the comma-separated names in it."""
    if selection is None:
        manager.load_setuptools_entrypoints(GROUP)
    else:
        entry_points = importlib.metadata.entry_points(group=GROUP)
        for wanted in filter(None, (part.strip() for part in selection.split(","))):
            names = [
                ep.name
                for ep in entry_points
                if ep.name == wanted
                or (ep.dist is not None and _canonical(ep.dist.name) == _canonical(wanted))
            ]
            if not names:
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
        dist = distinfo.get(plugin)
        plugins.append(
            {
                "name": manager.get_name(plugin),
                "module": getattr(plugin, "__name__", type(plugin).__name__),
                "distribution": dist.project_name if dist else None,
                "version": dist.version if dist else None,
                "hooks": sorted(caller.name for caller in manager.get_hookcallers(plugin) or []),
            }
        )
    return sorted(plugins, key=lambda info: info["name"])


def add_plugin_commands(app: Any, manager: pluggy.PluginManager | None = None) -> None:
    """Let every plugin add its sub-commands to the typer ``app``."""
    (manager or get_plugin_manager()).hook.register_commands(cli=app)


def _collect(
    hook_name: str, what: str, manager: pluggy.PluginManager | None, kind: type | None = None
) -> dict:
    """Call one ``register_*`` hook plugin by plugin, so that a name registered twice names both plugins."""
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

        impl.function(**dict.fromkeys(impl.argnames, register))
    return {key: found[key][0] for key in sorted(found)}


def peft_methods(manager: pluggy.PluginManager | None = None) -> dict[str, PeftMethod]:
    """The registered fine-tuning methods by name."""
    from finsql.lm.methods import PeftMethod

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
