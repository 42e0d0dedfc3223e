"""Sandboxed DuckDB execution: read-only, no external access, one SELECT, time and row limits.

This is the second line of defence: it must hold even for SQL that never went through ``check_sql``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from finsql.db.worker import POOL
from finsql.errors import DatabaseError, SQLRefused, first_line

_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "lock_configuration": True,
}

_HEADER_BYTES = 3 * 4096
"""A DuckDB file starts with its main header and two database headers, then ``total_blocks`` blocks: a file
shorter than that lost its end (a copy cut short, a full disk), which queries would find only one by one."""

# DuckDB's own parse tree (json_serialize_sql) of a SELECT statement may still hold data-modifying or COPY
# CTEs (INSERT/UPDATE/DELETE/COPY_QUERY_NODE) and SHOW/DESCRIBE/SUMMARIZE (SHOW_REF): only these query
# nodes are allowed.
_ALLOWED_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_SHOW_REF = "SHOW_REF"


@dataclass
class QueryResult:
    """Rows of one query, capped at ``max_rows``."""

    columns: list[str]
    rows: list[tuple]
    truncated: bool
    seconds: float


def connect(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open the database at ``path`` read-only with external access, extensions and settings locked;
    DatabaseError when it is missing, not a DuckDB file or truncated."""
    p = Path(path)
    if not p.exists():
        raise DatabaseError(f"database not found: {p}")
    if not p.is_file():
        raise DatabaseError(f"database path is not a file: {p}")
    if not os.access(p, os.R_OK):
        raise DatabaseError(f"database is not readable: {p}")
    try:
        con = duckdb.connect(str(p), read_only=True, config=locked_config())
        _, _, block_size, total_blocks, *_ = con.execute("PRAGMA database_size").fetchone()
    except duckdb.Error as e:
        raise DatabaseError(f"cannot open database {p}: {first_line(e)}") from None
    expected = _HEADER_BYTES + int(block_size) * int(total_blocks)
    if p.stat().st_size < expected:
        con.close()
        raise DatabaseError(
            f"database {p} is truncated: {p.stat().st_size:,} bytes where its header counts {expected:,}"
        )
    return con


def _walk(node: Any) -> Iterator[dict]:
    """Yield every dict in a JSON tree."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _gate(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but exactly one SELECT statement without writes or SHOW, using DuckDB's parser."""
    try:
        kinds = [statement.type for statement in con.extract_statements(sql)]
    except (duckdb.Error, ValueError) as e:  # ValueError: a statement type the Python API does not know
        raise SQLRefused(f"could not parse SQL: {first_line(e)}") from None
    if len(kinds) != 1:
        raise SQLRefused(f"expected exactly one statement, got {len(kinds)}")
    if kinds[0] != duckdb.StatementType.SELECT:
        raise SQLRefused(f"only SELECT statements are allowed, not {kinds[0].name}")
    try:
        (serialized,) = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
        tree = json.loads(serialized)
    except (duckdb.Error, ValueError, TypeError) as e:
        raise SQLRefused(f"could not inspect SQL: {first_line(e)}") from None
    if tree.get("error"):
        raise SQLRefused(f"could not inspect SQL: {tree.get('error_message', 'unknown error')}")
    for node in _walk(tree):
        node_type = node.get("type")
        if node_type == _SHOW_REF:
            raise SQLRefused("only plain queries are allowed, not SHOW/DESCRIBE/SUMMARIZE")
        if str(node_type).endswith("_NODE") and node_type not in _ALLOWED_QUERY_NODES:
            found = str(node_type).removesuffix("_QUERY_NODE")
            raise SQLRefused(f"only pure reads are allowed: found {found} inside the query")


def locked_config() -> dict[str, Any]:
    """The settings every sandboxed connection opens with: no external access or extensions, locked."""
    return dict(_CONFIG)


def database_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file of the database ``con`` has open."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if not row or not row[0]:
        raise DatabaseError("queries run only on a database file")
    return str(row[0])


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, *, timeout_s: float = 10.0, max_rows: int = 1000
) -> QueryResult:
    """Run one SELECT, checked on ``con``, in the database's worker process (``finsql.db.worker``: bounded
    memory, killed past ``timeout_s``), returning at most ``max_rows`` rows."""
    _gate(con, sql)
    columns, rows, seconds = POOL.worker(database_path(con)).run(sql, timeout_s, max_rows)
    return QueryResult(columns=columns, rows=rows[:max_rows], truncated=len(rows) > max_rows, seconds=seconds)
