"""``finsql db``: build the demo database, describe any database."""

from __future__ import annotations

import typer

from finsql.console import out
from finsql.db.database import ensure_demo_db, resolve_database
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.options import DbOption, FormatOption
from finsql.output import Format, print_rows

db_app = typer.Typer(help="Create or describe databases.", no_args_is_help=True)


@db_app.command("init")
def db_init(force: bool = typer.Option(False, "--force", help="Rebuild even if it exists.")) -> None:
    """Build the demo financial database (done automatically on first use)."""
    out.print(str(ensure_demo_db(rebuild=force)))


@db_app.command("info")
def db_info(db: str | None = DbOption, fmt: Format = FormatOption) -> None:
    """List the tables of a database with row counts, column counts and descriptions."""
    path = resolve_database(db)
    con = connect(path)
    schema = introspect(con)
    rows = [
        (t.name, con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0], len(t.columns), t.comment)
        for t in schema.tables
    ]
    if fmt is Format.table:
        out.print(f"{path}  schema fingerprint {schema.fingerprint()}", highlight=False)
    print_rows(
        ["table", "rows", "columns", "description"],
        rows,
        fmt,
        {"path": str(path), "fingerprint": schema.fingerprint()},
    )
