"""What the synthesizer knows about a database: each column's role, its real values, and the join paths.

Roles decide which SQL a column may appear in: a ``measure`` is aggregated and compared, a ``category`` is
filtered on and grouped by, a ``name`` identifies one row, a ``date`` or ``year`` is filtered by period, a
``key`` only joins. Values are read from the data, so every literal of a synthesized query exists.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from finsql.db.schema import Schema, Table

ROLES = ("key", "name", "category", "ordinal", "measure", "year", "date", "bool", "text")
CATEGORY_MAX = 40
"""Text columns with at most this many distinct values (and repeated values) are categories."""
ORDINAL_MAX = 12
"""Integer columns with at most this many distinct values (quarters, ranks, terms) are ordinals."""
NAME_SAMPLE = 400
"""Names read per name column (the most frequent first, then alphabetical: deterministic)."""
DATE_SAMPLE = 200
"""Distinct dates read per date column."""
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
"""Where numeric thresholds are drawn from."""

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER")
_INTEGER = _NUMERIC + ("UBIGINT", "INT")
_FLOAT = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")
_TEXT = ("VARCHAR", "TEXT", "STRING", "CHAR")
_KEY_NAME = re.compile(r"(^id$|_id$|^code$|_code$|_no$|_key$)", re.IGNORECASE)
_NAME_NAME = re.compile(r"(name|title)$", re.IGNORECASE)
_YEAR_NAME = re.compile(r"year", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnProfile:
    """One column as the synthesizer sees it."""

    table: str
    name: str
    role: str
    values: tuple = ()
    """Categories, names, ordinals, years: distinct values; measures: quantiles; dates: distinct dates."""
    nullable: bool = False
    """Whether the column holds NULLs (then ``IS NULL`` questions make sense)."""
    comment: str = ""


@dataclass
class TableProfile:
    """One table: its columns by role and the column that names its rows, if any."""

    name: str
    alias: str
    rows: int
    columns: list[ColumnProfile]
    comment: str = ""

    def of(self, *roles: str) -> list[ColumnProfile]:
        """The columns with one of ``roles``, in table order."""
        return [c for c in self.columns if c.role in roles]

    @property
    def name_column(self) -> ColumnProfile | None:
        """The column that names a row (``stock_name``), preferring one called ``...name``."""
        names = self.of("name")
        return next((c for c in names if _NAME_NAME.search(c.name)), names[0] if names else None)


@dataclass(frozen=True)
class Edge:
    """A join from a child table's columns to the parent table's (a foreign key, declared or inferred)."""

    child: str
    child_columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass
class DatabaseProfile:
    """Every table's profile and the joins between them."""

    tables: dict[str, TableProfile]
    edges: list[Edge] = field(default_factory=list)

    def parents(self, table: str) -> list[Edge]:
        """The joins from ``table`` to the tables it references."""
        return [e for e in self.edges if e.child == table and e.parent != table]

    def paths(self, table: str, hops: int) -> Iterator[tuple[Edge, ...]]:
        """Chains of ``hops`` joins from ``table`` towards referenced tables, visiting no table twice."""

        def walk(at: str, seen: tuple[str, ...], chain: tuple[Edge, ...]) -> Iterator[tuple[Edge, ...]]:
            if len(chain) == hops:
                yield chain
                return
            for edge in self.parents(at):
                if edge.parent not in seen:
                    yield from walk(edge.parent, (*seen, edge.parent), (*chain, edge))

        yield from walk(table, (table,), ())


def _base_type(sql_type: str) -> str:
    return sql_type.upper().split("(")[0].strip()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def aliases(names: list[str]) -> dict[str, str]:
    """A short alias per table, from the initials of its words (``fund_size`` -> ``fs``), unique."""
    taken: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]
        base = "".join(w[0] for w in words).lower() or "t"
        if not base[0].isalpha():
            base = "t" + base
        alias, n = base, 1
        while alias in used or alias in _RESERVED:
            n += 1
            alias = f"{base}{n}"
        used.add(alias)
        taken[name] = alias
    return taken


_RESERVED = {
    "as",
    "at",
    "by",
    "do",
    "if",
    "in",
    "is",
    "of",
    "on",
    "or",
    "to",
    "and",
    "asc",
    "end",
    "for",
    "not",
}


def _role(con: duckdb.DuckDBPyConnection, table: Table, column, keys: set[str], rows: int) -> ColumnProfile:
    """Decide ``column``'s role from its type, name, key status and distinct values; read its values."""
    base = _base_type(column.type)
    q_table, q_col = _quoted(table.name), _quoted(column.name)
    distinct, nulls = con.execute(
        f"SELECT count(DISTINCT {q_col}), count(*) - count({q_col}) FROM {q_table}"
    ).fetchone()
    make = lambda role, values=(): ColumnProfile(  # noqa: E731 - a local shorthand
        table.name, column.name, role, tuple(values), nulls > 0, column.comment
    )
    if distinct == 0:
        return make("text")
    if base == "BOOLEAN":
        return make("bool")
    if base.startswith(("DATE", "TIMESTAMP")):
        found = con.execute(
            f"SELECT DISTINCT CAST({q_col} AS DATE) AS d FROM {q_table} WHERE {q_col} IS NOT NULL "
            f"ORDER BY d LIMIT {DATE_SAMPLE}"
        ).fetchall()
        return make("date", [r[0] for r in found])
    is_key = column.name in keys or column.primary_key or bool(_KEY_NAME.search(column.name))
    if base in _INTEGER or base.startswith(_FLOAT):
        if is_key:
            return make("key")
        if base in _INTEGER and _YEAR_NAME.search(column.name):
            years = con.execute(
                f"SELECT DISTINCT {q_col} FROM {q_table} WHERE {q_col} BETWEEN 1800 AND 2200 ORDER BY 1"
            ).fetchall()
            if years:
                return make("year", [r[0] for r in years])
        if base in _INTEGER and distinct <= ORDINAL_MAX and distinct < rows:
            found = con.execute(
                f"SELECT DISTINCT {q_col} FROM {q_table} WHERE {q_col} IS NOT NULL ORDER BY 1"
            ).fetchall()
            return make("ordinal", [r[0] for r in found])
        if distinct < 3:
            return make("text")
        marks = ", ".join(str(q) for q in QUANTILES)
        (found,) = con.execute(f"SELECT quantile_cont({q_col}, [{marks}]) FROM {q_table}").fetchone()
        return make("measure", [float(v) for v in found])
    if not base.startswith(_TEXT):
        return make("text")
    if is_key and not _NAME_NAME.search(column.name):
        return make("key")
    if distinct <= CATEGORY_MAX and distinct < rows and not _NAME_NAME.search(column.name):
        found = con.execute(
            f"SELECT {q_col} FROM {q_table} WHERE {q_col} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1"
        ).fetchall()
        return make("category", [r[0] for r in found if 0 < len(r[0]) <= 60])
    (avg_len,) = con.execute(f"SELECT avg(length({q_col})) FROM {q_table}").fetchone()
    if (_NAME_NAME.search(column.name) or distinct >= rows * 0.9) and (avg_len or 0) <= 60:
        found = con.execute(
            f"SELECT {q_col} FROM {q_table} WHERE {q_col} IS NOT NULL AND length({q_col}) BETWEEN 2 AND 60 "
            f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {NAME_SAMPLE}"
        ).fetchall()
        return make("name", [r[0] for r in found])
    return make("text")


def _inferred_edges(schema: Schema, profiles: dict[str, TableProfile], con) -> list[Edge]:
    """Joins for a database that declares no foreign keys (CSV folders): a column named like another
    table's unique column, of the same type, whose values all appear there."""
    unique: dict[str, list[tuple[str, str]]] = {}
    for table in schema.tables:
        for column in table.columns:
            q_table, q_col = _quoted(table.name), _quoted(column.name)
            distinct, total = con.execute(
                f"SELECT count(DISTINCT {q_col}), count({q_col}) FROM {q_table}"
            ).fetchone()
            if total and distinct == total and profiles[table.name].rows == total:
                unique.setdefault(column.name.lower(), []).append((table.name, column.type))
    edges = []
    for table in schema.tables:
        for column in table.columns:
            for parent, ptype in unique.get(column.name.lower(), []):
                if parent == table.name or ptype != column.type:
                    continue
                pcol = next(
                    c.name for c in schema.table(parent).columns if c.name.lower() == column.name.lower()
                )
                child = _quoted(column.name)
                (missing,) = con.execute(
                    f"SELECT count(*) FROM {_quoted(table.name)} WHERE {child} IS NOT NULL "
                    f"AND {child} NOT IN (SELECT {_quoted(pcol)} FROM {_quoted(parent)})"
                ).fetchone()
                if missing == 0:
                    edges.append(Edge(table.name, (column.name,), parent, (pcol,)))
    return edges


def profile_database(con: duckdb.DuckDBPyConnection, schema: Schema) -> DatabaseProfile:
    """Profile every table of ``schema`` on ``con``: roles, values, aliases and joins."""
    names = aliases([t.name for t in schema.tables])
    profiles: dict[str, TableProfile] = {}
    declared = [
        Edge(t.name, fk.columns, fk.ref_table, fk.ref_columns) for t in schema.tables for fk in t.foreign_keys
    ]
    for table in schema.tables:
        keys = {c for e in declared if e.child == table.name for c in e.child_columns}
        keys |= {c for e in declared if e.parent == table.name for c in e.parent_columns}
        (rows,) = con.execute(f"SELECT count(*) FROM {_quoted(table.name)}").fetchone()
        columns = [_role(con, table, column, keys, rows) for column in table.columns]
        if any(c.role == "name" and _NAME_NAME.search(c.name) for c in columns):
            # a table with a ``...name`` column is named by it; other unique text (websites) is plain text
            columns = [
                dataclasses.replace(c, role="text")
                if c.role == "name" and not _NAME_NAME.search(c.name)
                else c
                for c in columns
            ]
        profiles[table.name] = TableProfile(table.name, names[table.name], rows, columns, table.comment)
    edges = declared or _inferred_edges(schema, profiles, con)
    return DatabaseProfile(profiles, edges)
