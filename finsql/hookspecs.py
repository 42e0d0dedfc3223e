"""The plugin hooks of finsql (pluggy). Plugins implement them with ``from finsql.hookspecs import hookimpl``.

Every hook but ``register_commands`` receives a ``register`` callback: ``register(item, name=None)``, the
name defaulting to ``item.name``, else ``item.__name__``. See docs/plugins.md for each hook's contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

hookspec = pluggy.HookspecMarker("finsql")
hookimpl = pluggy.HookimplMarker("finsql")

Register = Callable[..., None]
"""The callback the ``register_*`` hooks receive: ``register(item: Any, name: str | None = None)``."""


@hookspec
def register_peft_methods(register: Register) -> None:
    """Register parameter-efficient fine-tuning methods: ``register(PeftMethod(...))``."""


@hookspec
def register_combiners(register: Register) -> None:
    """Register adapter combiners (average, LoRAHub, ...): ``register(Combiner(...))``."""


@hookspec
def register_sql_repairers(register: Register) -> None:
    """Register functions ``fn(sql, schema) -> sql`` that repair candidate SQL before validation."""


@hookspec
def register_serializers(register: Register) -> None:
    """Register table-row serializers ``fn(row: dict) -> str`` for the TabLLM path."""


@hookspec
def register_paraphrasers(register: Register) -> None:
    """Register paraphrasers of synthesized questions: ``register(Paraphraser(name, fn))``."""


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add sub-commands to the ``finsql`` command line; ``cli`` is its typer app."""
