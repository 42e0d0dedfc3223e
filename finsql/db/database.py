"""Which database a command works on: the demo database, a DuckDB file, or a folder of CSV/Parquet files."""

from __future__ import annotations

import csv
import hashlib
import inspect
import os
import re
import tempfile
from pathlib import Path

import duckdb

from finsql.console import status
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.errors import DatabaseError, first_line
from finsql.locking import file_lock
from finsql.paths import cache_dir

_TABLE_FILES = (".csv", ".tsv", ".parquet")


def demo_db_path() -> Path:
    """Path of the demo database in the cache, named after the build script so edits rebuild it."""
    from finsql.data import build_demo

    digest = hashlib.sha256(inspect.getsource(build_demo).encode()).hexdigest()[:10]
    return cache_dir() / f"demo-{digest}.duckdb"


def ensure_demo_db(rebuild: bool = False) -> Path:
    """Build the demo database on first use (or when asked) and return its path."""
    from finsql.data import build_demo

    path = demo_db_path()
    if path.exists() and not rebuild:
        return path
    with file_lock(
        cache_dir() / "locks" / "demo.lock", "waiting for another finsql process to build the demo"
    ):
        if rebuild or not path.exists():  # another process may have built it while this one waited
            status(f"building the demo financial database at {path}")
            build_demo.build(path)
    return path


def demo_fingerprint() -> str | None:
    """Schema fingerprint of the demo database, or None when it has not been built."""
    path = demo_db_path()
    if not path.exists():
        return None
    con = connect(path)
    try:
        return introspect(con).fingerprint()
    finally:
        con.close()


def _table_name(file: Path) -> str:
    """A SQL identifier for a table file: its stem, lower-cased, other characters turned into '_'."""
    name = re.sub(r"\W+", "_", file.stem.lower()).strip("_") or "t"
    return f"t_{name}" if name[0].isdigit() else name


def _checked_csv(con: duckdb.DuckDBPyConnection, file: Path) -> tuple[str, str, bool]:
    """The delimiter, quote and whether there is a header, as DuckDB's sniffer finds them; DatabaseError
    naming the file and line when a record has another number of fields than the first (DuckDB would skip
    the lines before the widest record and load what is left without a word)."""
    sniffed = "SELECT Delimiter, Quote, HasHeader FROM sniff_csv(?)"
    delimiter, quote, header = con.execute(sniffed, [str(file)]).fetchone()
    quote = "" if quote == "(empty)" else quote
    with open(file, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar=quote or None)
        width = None
        for record in reader:
            if not record:
                continue
            if width is None:
                width = len(record)
            elif len(record) != width:
                raise DatabaseError(
                    f"{file} line {reader.line_num}: {len(record)} fields, but its first line has {width}; "
                    "every line of a CSV file must have as many fields as the first"
                )
    return delimiter, quote, bool(header)


def materialize_folder(folder: Path) -> Path:
    """Load the CSV/TSV/Parquet files of ``folder`` as tables of a cached DuckDB file (rebuilt on change)."""
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in _TABLE_FILES and f.is_file())
    if not files:
        raise DatabaseError(f"{folder} holds no .csv, .tsv or .parquet files")
    stamp = "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    key = hashlib.sha256(f"{folder.resolve()}|{stamp}".encode()).hexdigest()[:16]
    target = cache_dir() / "folders" / f"{key}.duckdb"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    status(f"loading {len(files)} table files from {folder}")
    fd, tmp = tempfile.mkstemp(suffix=".duckdb", dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        with duckdb.connect(tmp) as con:
            for file in files:
                if file.suffix.lower() == ".parquet":
                    con.execute(
                        f'CREATE TABLE "{_table_name(file)}" AS SELECT * FROM read_parquet(?)', [str(file)]
                    )
                    continue
                delimiter, quote, header = _checked_csv(con, file)
                con.execute(
                    f'CREATE TABLE "{_table_name(file)}" AS SELECT * FROM read_csv(?, delim = ?, quote = ?, '
                    "header = ?, skip = 0, strict_mode = true)",
                    [str(file), delimiter, quote or '"', header],
                )
        os.replace(tmp, target)
    except duckdb.Error as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DatabaseError(f"could not load {folder}: {first_line(exc)}") from exc
    return target


def resolve_database(path: str | os.PathLike | None) -> Path:
    """The DuckDB file to query: the demo database when ``path`` is None, else the user's file or folder."""
    if path is None or str(path) == "":
        return ensure_demo_db()
    target = Path(path).expanduser()
    if not target.exists():
        raise DatabaseError(f"database not found: {target}")
    if target.is_dir():
        return materialize_folder(target)
    if not os.access(target, os.R_OK):
        raise DatabaseError(f"database is not readable: {target}")
    return target
