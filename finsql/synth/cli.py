"""``finsql synth``: question/SQL pairs drawn from a database alone, each one executed and checked."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from finsql.console import err
from finsql.errors import UsageError
from finsql.experts.pairs_io import write_pairs
from finsql.synth.templates import TEMPLATES

TEMPLATE_HELP = f"Only these templates (repeatable): {', '.join(TEMPLATES)}."


def add_commands(app: typer.Typer) -> None:
    """Register ``synth`` on the ``finsql`` app."""
    app.command("synth")(synth_cmd)


def synth_cmd(
    db: str | None = typer.Option(
        None, "--db", help="DuckDB file or folder of CSV/Parquet files (default: the demo database)."
    ),
    n: int = typer.Option(1000, "--n", min=1, max=200_000, help="Pairs to keep."),
    out_path: Path = typer.Option(..., "--out", help="Where to write the pairs (JSONL)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same pairs."),
    templates: list[str] = typer.Option([], "--template", help=TEMPLATE_HELP),
    paraphraser: list[str] = typer.Option(
        [],
        "--paraphraser",
        help="Add wordings from this paraphraser plugin (repeatable; see `finsql plugins`).",
    ),
    report: Path | None = typer.Option(None, "--report", help="Also write the run's report here (JSON)."),
    db_name: str = typer.Option("", "--db-name", help="Write this database name into each pair's `db`."),
) -> None:
    """Synthesize question/SQL pairs from the database itself: typed templates over its schema and values,
    each query run in the sandbox and kept only when it returns a real answer."""
    from finsql.db.database import resolve_database
    from finsql.plugins import paraphrasers
    from finsql.synth.synthesizer import synthesize_database

    registered = paraphrasers()
    missing = [name for name in paraphraser if name not in registered]
    if missing:
        raise UsageError(
            f"unknown paraphraser {missing[0]!r}; paraphrasers: {', '.join(registered) or 'none'}"
        )
    chosen = [registered[name] for name in paraphraser]
    path = resolve_database(db)
    pairs, found = synthesize_database(path, n, seed, db_name, tuple(templates) or TEMPLATES, chosen)
    write_pairs(out_path, pairs, with_db=bool(db_name))
    summary = found.to_json()
    if report is not None:
        from finsql.storage import write_json_atomic

        write_json_atomic(report, summary)
    dropped = ", ".join(f"{count} {why}" for why, count in summary["dropped"].items()) or "none"
    err.print(
        f"wrote {len(pairs)} pairs to {out_path} ({summary['kept']} synthesized, {summary['paraphrased']} "
        f"paraphrased) in {summary['seconds']:.1f} s\n"
        f"  templates covered: {len(summary['templates_covered'])}/{len(TEMPLATES)}; dropped: {dropped}",
        highlight=False,
    )
    if len(pairs) < n:
        err.print(f"  fewer than {n}: the schema gives no more distinct answerable pairs", highlight=False)
    sys.stderr.flush()
