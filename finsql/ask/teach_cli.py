"""``finsql examples``: teach question/SQL pairs for a database; list, remove, import or export them.

Pairs are kept per schema (``finsql.ask.taught``): every database with the same schema shares them. ``ask``
uses them at once and ``train`` trains on them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from finsql.ask.pairs import read_pairs
from finsql.console import err, out
from finsql.db.database import resolve_database
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.errors import FinsqlError, InputError
from finsql.options import DbOption, FormatOption
from finsql.output import Format, print_rows

examples_app = typer.Typer(
    help="Teach finsql question/SQL pairs for a database: `ask` and `train` use them.",
    no_args_is_help=True,
)


def _open(db: str | None) -> tuple[Any, Any, Any]:
    """The database's connection, schema and taught-pair store (sqlglot is imported only now, so the
    command line starts fast)."""
    from finsql.ask.taught import TaughtStore

    con = connect(resolve_database(db))
    schema = introspect(con)
    return con, schema, TaughtStore(schema.fingerprint())


@examples_app.command("add")
def add(
    question: str = typer.Argument(..., help="The question, as a user would ask it."),
    sql: str = typer.Argument(..., help="The SQL that answers it (checked and run first)."),
    db: str | None = DbOption,
) -> None:
    """Teach QUESTION with its SQL; a question taught before gets this SQL instead (a correction)."""
    from finsql.ask.taught import check_taught

    con, schema, store = _open(db)
    pair = check_taught(question, sql, schema, con)
    replaced = store.add([pair])
    verb = "corrected" if replaced else "taught"
    err.print(f"{verb}: {pair.question} -> {pair.sql} ({len(store.pairs())} taught)", highlight=False)


@examples_app.command("list")
def list_cmd(db: str | None = DbOption, fmt: Format = FormatOption) -> None:
    """The pairs taught for the database's schema, numbered for `finsql examples rm`."""
    _, _, store = _open(db)
    pairs = store.pairs()
    if fmt is not Format.table:
        rows = [(i, p.question, p.sql) for i, p in enumerate(pairs, 1)]
        print_rows(["number", "question", "sql"], rows, fmt)
        return
    table = Table("#", "question", "SQL")
    for number, pair in enumerate(pairs, 1):
        table.add_row(str(number), pair.question, pair.sql)
    out.print(table)
    err.print(f"[dim]{len(pairs)} taught, kept in {store.path}[/dim]", highlight=False)


@examples_app.command("rm")
def rm(
    key: str = typer.Argument(..., help="The number `finsql examples list` shows, or the question."),
    db: str | None = DbOption,
) -> None:
    """Forget one taught pair."""
    _, _, store = _open(db)
    gone = store.remove(key)
    err.print(f"forgot: {gone.question}", highlight=False)


@examples_app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help='JSONL file of {"question": ..., "sql": ...} lines.'),
    db: str | None = DbOption,
) -> None:
    """Teach every pair of a JSONL file that checks and runs; the others are listed, one line each."""
    from finsql.ask.taught import check_taught

    con, schema, store = _open(db)
    good, bad = [], []
    for number, pair in enumerate(read_pairs(path), 1):
        try:
            good.append(check_taught(pair.question, pair.sql, schema, con))
        except FinsqlError as exc:
            bad.append(f"{path}: pair {number}: {exc}")
    for line in bad:
        err.print(f"[yellow]skipped[/yellow] {line}", highlight=False)
    if not good:
        raise InputError(f"no pair of {path} could be taught ({len(bad)} refused)")
    replaced = store.add(good)
    err.print(
        f"taught {len(good)} pairs ({replaced} corrected, {len(bad)} refused); {len(store.pairs())} taught",
        highlight=False,
    )


@examples_app.command("export")
def export(
    db: str | None = DbOption, out_path: Path | None = typer.Option(None, "--out", help="File to write.")
) -> None:
    """Write the taught pairs as JSONL (stdout, or --out), ready for `finsql examples import` or `train`."""
    _, _, store = _open(db)
    text = "".join(
        json.dumps({"question": p.question, "sql": p.sql}, ensure_ascii=False) + "\n" for p in store.pairs()
    )
    if out_path is None:
        sys.stdout.write(text)
        return
    from finsql.storage import write_text_atomic

    write_text_atomic(out_path, text)
    err.print(f"wrote {len(store.pairs())} pairs to {out_path}", highlight=False)
