"""Reading one BULL language folder: ``db_info.json`` schemas and the ``train``/``dev`` question files."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from finsql.errors import InputError

SPLITS = ("train", "dev")
SOURCE_FILES = ("db_info.json", "train.json", "dev.json")


@dataclass(frozen=True)
class ColumnSpec:
    """One column as ``db_info.json`` describes it (MySQL type, description)."""

    name: str
    mysql_type: str
    description: str

    @cached_property
    def duck_type(self) -> str:
        """The DuckDB type: decimal keeps its precision, datetime becomes TIMESTAMP, float DOUBLE."""
        base, _, args = self.mysql_type.lower().partition("(")
        if base == "decimal":
            precision, _, scale = args.rstrip(")").partition(",")
            return f"DECIMAL({min(int(precision or 18), 38)},{int(scale or 0)})"
        return _TYPES.get(base, "VARCHAR")

    @cached_property
    def kind(self) -> str:
        """``int``, ``float``, ``timestamp`` or ``text``: what the row generator produces."""
        duck = self.duck_type
        if duck in ("INTEGER", "BIGINT"):
            return "int"
        if duck.startswith("DECIMAL") or duck == "DOUBLE":
            return "float"
        return "timestamp" if duck == "TIMESTAMP" else "text"

    @cached_property
    def max_abs(self) -> float:
        """Largest magnitude the DuckDB type holds (what generated numbers are clipped to)."""
        duck = self.duck_type
        if duck.startswith("DECIMAL"):
            precision, scale = map(int, re.findall(r"\d+", duck))
            return 10.0 ** (precision - scale) - 1
        return {"INTEGER": 2.0**31 - 1, "BIGINT": 2.0**53}.get(duck, 1e15)

    @cached_property
    def length(self) -> int | None:
        """Declared character length of a varchar column, if any."""
        match = re.match(r"varchar\((\d+)\)", self.mysql_type.lower())
        return int(match.group(1)) if match else None


_TYPES = {
    "int": "INTEGER",
    "tinyint": "INTEGER",
    "smallint": "INTEGER",
    "bigint": "BIGINT",
    "float": "DOUBLE",
    "double": "DOUBLE",
    "datetime": "TIMESTAMP",
    "date": "TIMESTAMP",
    "varchar": "VARCHAR",
    "text": "VARCHAR",
}


@dataclass
class TableSpec:
    """One table: description, columns and primary key columns."""

    name: str
    description: str
    columns: list[ColumnSpec]
    primary_key: list[str] = field(default_factory=list)

    def column(self, name: str) -> ColumnSpec | None:
        """The column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


@dataclass
class DbSpec:
    """One BULL database: its tables and the column relations of ``table_rel``."""

    name: str
    tables: list[TableSpec]
    relations: list[tuple[tuple[str, str], tuple[str, str]]]

    def table(self, name: str) -> TableSpec | None:
        """The table called ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((t for t in self.tables if t.name.lower() == low), None)

    @cached_property
    def mapping(self) -> dict[str, dict[str, str]]:
        """``{table: {column: type}}`` in lower case, as sqlglot's optimizer expects."""
        return {t.name.lower(): {c.name.lower(): c.duck_type for c in t.columns} for t in self.tables}

    @cached_property
    def timestamp_columns(self) -> frozenset[str]:
        """Lower-case names of the columns that are TIMESTAMP in every table that has them."""
        kinds: dict[str, set[str]] = {}
        for table in self.tables:
            for column in table.columns:
                kinds.setdefault(column.name.lower(), set()).add(column.kind)
        return frozenset(name for name, found in kinds.items() if found == {"timestamp"})


@dataclass(frozen=True)
class BullItem:
    """One benchmark question with its gold SQL in the SQLite dialect."""

    split: str
    q_id: int
    question: str
    db: str
    sql: str


@dataclass
class BullSource:
    """A BULL language folder read into memory, with the sha256 of each source file."""

    path: Path
    databases: list[DbSpec]
    items: list[BullItem]
    sha256: dict[str, str]


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise InputError(f"BULL file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc


def _db_spec(entry: dict) -> DbSpec:
    """A DbSpec from one ``db_info.json`` entry (keys by name: ``tables.json`` indices are off by one)."""
    described = dict((name, text) for name, text in entry["table_name"])
    keys: dict[str, list[str]] = {}
    for table, column in entry.get("primary_keys", []):
        keys.setdefault(table, []).append(column)
    tables = []
    for info in entry["column_info"]:
        columns = [
            ColumnSpec(name, mysql or "varchar(100)", text or "")
            for name, text, mysql in zip(
                info["columns"], info["column_chiName"], info["columnType_MySQL"], strict=True
            )
            if name != "*"
        ]
        name = info["table"]
        tables.append(TableSpec(name, described.get(name, ""), columns, keys.get(name, [])))
    relations = [((a[0], a[1]), (b[0], b[1])) for a, b in entry.get("table_rel", [])]
    return DbSpec(entry["db_name"], tables, relations)


def load_source(folder: str | Path) -> BullSource:
    """Read ``db_info.json``, ``train.json`` and ``dev.json`` of a BULL folder (BULL-en or BULL-cn)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"BULL folder not found: {folder}")
    try:
        databases = [_db_spec(entry) for entry in _read_json(folder / "db_info.json")]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{folder / 'db_info.json'}: not a BULL schema file ({exc})") from exc
    known = {db.name for db in databases}
    items = []
    for split in SPLITS:
        path = folder / f"{split}.json"
        for index, raw in enumerate(_read_json(path)):
            try:
                item = BullItem(split, int(raw["q_id"]), raw["question"], raw["db_name"], raw["sql_query"])
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{path}[{index}]: not a BULL item ({exc})") from exc
            if item.db not in known:
                raise InputError(f"{path}[{index}]: unknown database {item.db!r}")
            items.append(item)
    sha = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in SOURCE_FILES}
    return BullSource(folder, databases, items, sha)
