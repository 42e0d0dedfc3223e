"""DuckDB DDL for a BULL database: typed columns, primary keys, key-group foreign keys, COMMENTs."""

from __future__ import annotations

from dataclasses import dataclass

from finsql.bull.keys import KeyGroup
from finsql.bull.source import DbSpec, TableSpec


@dataclass(frozen=True)
class ForeignKeyNote:
    """One ``table_rel`` link and whether it became a FOREIGN KEY (``reason`` says why not)."""

    table: str
    column: str
    ref_table: str
    ref_column: str
    declared: bool
    reason: str = ""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def foreign_keys(db: DbSpec, groups: list[KeyGroup]) -> list[ForeignKeyNote]:
    """Every member-to-master link of the key groups, declared where DuckDB allows it."""
    notes = []
    for group in groups:
        if group.master is None:
            (first, first_column), (last, last_column) = sorted(group.columns.items())[
                :: len(group.columns) - 1
            ]
            left, right = db.table(first), db.table(last)
            notes.append(
                ForeignKeyNote(
                    left.name,
                    left.column(first_column).name,
                    right.name,
                    right.column(last_column).name,
                    False,
                    "neither side is unique (no table holds each value once)",
                )
            )
            continue
        master = db.table(group.master)
        ref_column = master.column(group.columns[group.master])
        for table_name, column_name in sorted(group.columns.items()):
            if table_name == group.master:
                continue
            child = db.table(table_name)
            column = child.column(column_name)
            same = column.duck_type == ref_column.duck_type
            reason = "" if same else f"types differ ({column.duck_type} vs {ref_column.duck_type})"
            notes.append(ForeignKeyNote(child.name, column.name, master.name, ref_column.name, same, reason))
    return notes


def _creation_order(db: DbSpec, notes: list[ForeignKeyNote]) -> list[TableSpec]:
    """Tables with referenced tables first."""
    needs = {
        t.name.lower(): {
            n.ref_table.lower() for n in notes if n.declared and n.table.lower() == t.name.lower()
        }
        for t in db.tables
    }
    done: list[str] = []
    while len(done) < len(needs):
        ready = [t for t, refs in needs.items() if t not in done and refs <= set(done)]
        done.extend(ready or [t for t in needs if t not in done])
    return [db.table(t) for t in done]


def create_statements(db: DbSpec, groups: list[KeyGroup], notes: list[ForeignKeyNote]) -> list[str]:
    """CREATE TABLE statements (referenced tables first) followed by COMMENT ON statements."""
    unique = {(g.master, g.columns[g.master]) for g in groups if g.master}
    statements, comments = [], []
    for table in _creation_order(db, notes):
        low = table.name.lower()
        parts = [f"{_quote(c.name)} {c.duck_type}" for c in table.columns]
        if table.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(map(_quote, table.primary_key))})")
        parts += [f"UNIQUE ({_quote(table.column(c).name)})" for t, c in sorted(unique) if t == low]
        parts += [
            f"FOREIGN KEY ({_quote(n.column)}) REFERENCES {_quote(n.ref_table)} ({_quote(n.ref_column)})"
            for n in notes
            if n.declared and n.table.lower() == low
        ]
        statements.append(f"CREATE TABLE {_quote(table.name)} (\n  " + ",\n  ".join(parts) + "\n)")
        if table.description:
            comments.append(f"COMMENT ON TABLE {_quote(table.name)} IS {_text(table.description)}")
        comments += [
            f"COMMENT ON COLUMN {_quote(table.name)}.{_quote(c.name)} IS {_text(c.description)}"
            for c in table.columns
            if c.description
        ]
    return statements + comments


def insertion_order(db: DbSpec, notes: list[ForeignKeyNote]) -> list[str]:
    """Table names in an order that satisfies the foreign keys."""
    return [t.name for t in _creation_order(db, notes)]
