"""``finsql bull``: import the BULL benchmark as DuckDB test-suite databases with question/SQL pair files."""

from __future__ import annotations

from pathlib import Path

import typer

from finsql.console import err, out

bull_app = typer.Typer(
    help="Import the BULL benchmark (schemas, questions, gold SQL) as DuckDB test-suite databases.",
    no_args_is_help=True,
)


@bull_app.command("import")
def import_cmd(
    source: Path = typer.Argument(..., help="A BULL language folder, e.g. ../shared/bull/BULL-en."),
    dest: Path = typer.Option(..., "--out", help="Folder for the databases, pair files and manifest."),
    instances: int = typer.Option(3, "--instances", min=1, max=20, help="Database instances per database."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the generated rows."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier import in the same folder."),
) -> None:
    """Build DuckDB databases with generated rows from db_info.json and transpile train/dev gold SQL."""
    from finsql.bull.importer import import_bull

    err.print(f"[dim]importing {source} into {dest}[/dim]", highlight=False)
    manifest = import_bull(source, dest, instances=instances, seed=seed, force=force)
    for line in manifest_lines(manifest):
        out.print(line, highlight=False)


def manifest_lines(manifest: dict) -> list[str]:
    """A readable account of an import: usable pairs and drops per split and database, sizes, time."""
    lines = []
    for split, databases in manifest["counts"].items():
        for name, c in databases.items():
            dropped = ", ".join(f"{c[k]} {k}" for k in ("transpile", "bind", "execution", "empty") if c[k])
            lines.append(
                f"{split:<5} {name:<12} {c['usable']:>5}/{c['total']} usable  ({dropped or 'none dropped'})"
            )
    for name, entry in manifest["databases"].items():
        size = sum(entry["bytes"]) / 1e6
        lines.append(
            f"db    {name:<12} {entry['tables']} tables, {len(entry['instances'])} instances, "
            f"{size:.1f} MB in all"
        )
    empty = sum(1 for d in manifest["dropped"] if d["stage"] == "empty")
    lines.append(
        f"{empty} gold queries are empty on every instance and left out of the pair files "
        f"(see *.dropped.jsonl); done in {manifest['seconds']:.0f}s"
    )
    return lines
