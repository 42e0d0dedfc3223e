"""Database schema introspection: tables, columns, types, comments and keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb


@dataclass(frozen=True)
class Column:
    """One column of a table."""

    name: str
    type: str
    comment: str = ""
    primary_key: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key from ``columns`` of the owning table to ``ref_columns`` of ``ref_table``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass
class Table:
    """One table (or view) with its columns and outgoing foreign keys."""

    name: str
    columns: list[Column]
    comment: str = ""
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


@dataclass
class Schema:
    """All user tables of one database, in definition order."""

    tables: list[Table]

    def table(self, name: str) -> Table | None:
        """The table called ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((t for t in self.tables if t.name.lower() == low), None)

    def tables_with(self, columns: Iterable[str]) -> list[Table]:
        """The tables that have every one of ``columns`` (case-insensitive)."""
        wanted = list(columns)
        return [t for t in self.tables if all(t.column(c) is not None for c in wanted)]

    def references(self, table: str, target: str) -> list[tuple[str, str]]:
        """Single-column foreign keys of ``table`` to ``target`` as ``(table column, target column)``."""
        own = self.table(table)
        if own is None:
            return []
        return [
            (fk.columns[0], fk.ref_columns[0])
            for fk in own.foreign_keys
            if fk.ref_table.lower() == target.lower() and len(fk.columns) == 1
        ]

    def key_pairs(self, table: str, other: str) -> list[tuple[str, str]]:
        """Single-column foreign keys between ``table`` and ``other``, either way, as ``(table column, other
        column)``: what a join of the two can be ``ON``."""
        return self.references(table, other) + [(b, a) for a, b in self.references(other, table)]

    def sqlglot_mapping(self) -> dict[str, dict[str, str]]:
        """``{table: {column: type}}`` as sqlglot's optimizer expects."""
        return {t.name: {c.name: c.type for c in t.columns} for t in self.tables}

    def fingerprint(self) -> str:
        """A stable hash of table names, column names and types (not comments or rows)."""
        canon = sorted(
            (t.name.lower(), sorted((c.name.lower(), c.type.upper()) for c in t.columns)) for t in self.tables
        )
        return hashlib.sha256(json.dumps(canon).encode()).hexdigest()[:16]


def introspect(con: duckdb.DuckDBPyConnection) -> Schema:
    """Read the user tables and views of the connection's main schema."""
    rows = con.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal AND schema_name = 'main' "
        "AND NOT temporary UNION ALL SELECT view_name, comment FROM duckdb_views() "
        "WHERE NOT internal AND schema_name = 'main' AND NOT temporary"
    ).fetchall()
    tables = {name: Table(name=name, columns=[], comment=comment or "") for name, comment in rows}
    pks: dict[str, set[str]] = {}
    fks: dict[str, list[ForeignKey]] = {}
    for table, ctype, cols, ref_table, ref_cols in con.execute(
        "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
        "referenced_column_names FROM duckdb_constraints() WHERE schema_name = 'main' "
        "ORDER BY table_name, constraint_index"
    ).fetchall():
        if ctype == "PRIMARY KEY":
            pks.setdefault(table, set()).update(cols)
        elif ctype == "FOREIGN KEY":
            fks.setdefault(table, []).append(ForeignKey(tuple(cols), ref_table, tuple(ref_cols)))
    for table, column, dtype, comment in con.execute(
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE NOT internal AND schema_name = 'main' ORDER BY table_oid, column_index"
    ).fetchall():
        if table in tables:
            tables[table].columns.append(
                Column(column, dtype, comment or "", column in pks.get(table, set()))
            )
    for name, table in tables.items():
        table.foreign_keys = fks.get(name, [])
    return Schema(list(tables.values()))
