"""The ``finsql`` command line (typer + rich). User mistakes end with one line on stderr and an exit code.

Each layer brings its own commands (``finsql.ask.cli``, ``finsql.ask.teach_cli``, ``finsql.db.cli``,
``finsql.experts.cli``, ``finsql.bull.cli``, ``finsql.tabular.cli``); this module assembles them, adds the
plugins' commands and maps every failure to its exit code.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from pathlib import Path

import click
import duckdb
import typer
from rich.table import Table

from finsql import __version__
from finsql.ask.cli import add_commands as add_ask_commands
from finsql.ask.teach_cli import examples_app
from finsql.bull.cli import bull_app
from finsql.console import err, out
from finsql.db.cli import db_app
from finsql.errors import FinsqlError, StorageError, UsageError
from finsql.experts.cli import add_commands as add_train_command
from finsql.experts.cli import experts_app, hub_app
from finsql.paths import CACHE_ENV, cache_root
from finsql.plugins import add_plugin_commands
from finsql.synth.cli import add_commands as add_synth_command
from finsql.tabular.cli import tab_app

app = typer.Typer(
    help="Ask financial databases questions in plain language (text-to-SQL on DuckDB).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")
app.add_typer(experts_app, name="experts")
app.add_typer(bull_app, name="bull")
app.add_typer(tab_app, name="tab")
app.add_typer(hub_app, name="hub")
app.add_typer(examples_app, name="examples")
add_ask_commands(app)  # ask, sql, eval
add_train_command(app)  # train
add_synth_command(app)  # synth


@app.command("plugins")
def plugins_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the loaded plugins, and what they register by kind: PEFT methods (with their options and learning
    rate), combiners, SQL repairers, serializers, paraphrasers and commands."""
    from finsql.plugins import catalog

    listed = catalog()
    if as_json:
        sys.stdout.write(json.dumps(listed, indent=2, default=str) + "\n")
        return
    table = Table("plugin", "version", "hooks")
    for plugin in listed["plugins"]:
        table.add_row(plugin["name"], str(plugin.get("version") or ""), ", ".join(plugin["hooks"]))
    out.print(table)
    table = Table("PEFT method", "lr", "plugin", "description, then the options (--set key=value)")
    for method in listed["peft_methods"]:
        defaults = {o["name"]: o["default"] for o in method["options"]}
        options = [
            f"  {name}={','.join(map(str, value)) if isinstance(value, list) else value}"
            for name, value in defaults.items()
        ]
        text = "\n".join([method["description"], *options])
        table.add_row(method["name"], f"{method['lr']:g}", method["plugin"], text)
    out.print(table)
    for kind, heading in (
        ("combiners", "combiner"),
        ("sql_repairers", "SQL repairer"),
        ("serializers", "serializer"),
        ("paraphrasers", "paraphraser"),
        ("commands", "command"),
    ):
        table = Table(heading, "plugin", "description")  # shown even when empty: every kind is listed
        for item in listed[kind]:
            table.add_row(item["name"], item["plugin"], item["description"])
        out.print(table)


@app.command()
def version() -> None:
    """Print the finsql version."""
    out.print(__version__)


add_plugin_commands(app)

_STORAGE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.ENOTDIR}


def storage_error(exc: OSError) -> StorageError:
    """One line for a failed write: the path, the reason and, inside the cache, the variable that moves it."""
    path = Path(exc.filename) if exc.filename else None
    reason = exc.strerror or type(exc).__name__
    where = f" {path}" if path else ""
    message = f"cannot write{where}: {reason}"
    cache = cache_root()
    if path is None or cache == path or cache in path.parents:
        message += f"; set {CACHE_ENV} to a writable folder with free space"
    return StorageError(message)


_STORAGE_REASONS = {os.strerror(code): code for code in (errno.EROFS, errno.ENOSPC, errno.EDQUOT)}
"""OS reasons a DuckDB error message can carry that only a write meets (a read may be denied too)."""
_QUOTED_PATH = re.compile(r'"([^"]+)"')


def engine_storage_error(exc: Exception) -> StorageError | None:
    """``storage_error`` for a DuckDB error that is a failed write (DuckDB reports the OS reason in its
    message, as in ``Could not write file "PATH": No space left on device``), else None."""
    text = str(exc)
    for reason, code in _STORAGE_REASONS.items():
        if reason in text:
            quoted = _QUOTED_PATH.search(text)
            return storage_error(OSError(code, reason, quoted.group(1) if quoted else None))
    return None


# typer >= 0.20 vendors click; older releases raise click's own exceptions
_CLI_ERRORS = (click.ClickException, getattr(typer, "TyperException", click.ClickException))
_ABORTS = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; map every user-facing failure to one stderr line and its exit code."""
    try:
        code = app(args=argv, prog_name="finsql", standalone_mode=False)
    except _ABORTS:
        err.print("aborted")
        code = 130
    except FinsqlError as exc:
        _fail(exc)
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRNOS:
            raise
        _fail(storage_error(exc))
    except duckdb.Error as exc:  # a failed write inside the engine (the demo build on a full disk)
        failed = engine_storage_error(exc)
        if failed is None:
            raise
        _fail(failed)
    except _CLI_ERRORS as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            err.print(exc.ctx.get_help(), highlight=False)
            code = 0
        else:
            _fail(UsageError(exc.format_message()))
    sys.exit(code if isinstance(code, int) else 0)


def _fail(exc: FinsqlError) -> None:
    message = " ".join(str(exc).split()) or type(exc).__name__
    sys.stderr.write(f"error: {message}\n")
    sys.exit(exc.exit_code)
