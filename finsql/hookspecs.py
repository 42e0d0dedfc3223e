"""The plugin hooks of finsql (pluggy). Plugins implement them with ``from finsql.hookspecs import hookimpl``.

Every hook but ``register_commands`` receives a ``register`` callback: ``register(item, name=None)``, the
name defaulting to ``item.name``, else ``item.__name__``. See docs/plugins.md for each hook's contract.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("finsql")
hookimpl = pluggy.HookimplMarker("finsql")


@hookspec
def register_peft_methods(register):
    """Register parameter-efficient fine-tuning methods: ``register(PeftMethod(...))``."""


@hookspec
def register_combiners(register):
    """Register adapter combiners (average, LoRAHub, ...): ``register(fn, name=...)``."""


@hookspec
def register_sql_repairers(register):
    """Register functions ``fn(sql, schema) -> sql`` that repair candidate SQL before validation."""


@hookspec
def register_serializers(register):
    """Register table-row serializers ``fn(row: dict) -> str`` for the TabLLM path."""


@hookspec
def register_commands(cli):
    """Add sub-commands to the ``finsql`` command line; ``cli`` is its typer app."""
