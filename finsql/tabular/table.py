"""Tabular tasks: rows read from a file or a database, column descriptions, the target as answer choices."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finsql.db.database import resolve_database
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.errors import InputError, UsageError, first_line
from finsql.plugins import serializers

_READERS = {".csv": "read_csv_auto", ".tsv": "read_csv_auto", ".parquet": "read_parquet"}

Serializer = Callable[[dict[str, str], int], str]


@dataclass
class ColumnInfo:
    """How a column reads in text: a description in place of its name, words in place of value codes."""

    description: str = ""
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class TabularTask:
    """Rows to classify: the features, each row's class index (-1 when unknown), the question and choices."""

    name: str
    features: Any  # a pandas DataFrame, rows numbered from 0
    labels: np.ndarray
    target: str
    question: str
    choices: list[str]
    columns: dict[str, ColumnInfo] = field(default_factory=dict)

    @functools.cached_property
    def records(self) -> list[dict[str, Any]]:
        """The feature rows as dicts, each value of its column's own type."""
        return self.features.to_dict("records")

    def texts(self, rows: Sequence[int], serializer: Serializer, seed: int = 0) -> list[str]:
        """The given rows serialized: descriptions for names, words for codes, missing values left out."""
        return [serializer(prepare_row(self.records[i], self.columns), seed) for i in rows]


def is_missing(value: Any) -> bool:
    """None, NaN, NA and blank strings."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaN, pandas NA raises TypeError on bool()
    except TypeError:
        return True


def format_value(value: Any) -> str:
    """A cell as text: whole floats without decimals, others to 2 decimals (4 significant digits below 1)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer():
            return str(int(number))
        text = f"{number:.2f}" if abs(number) >= 1 else f"{number:.4g}"
        return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value).strip()


def prepare_row(record: dict[str, Any], columns: dict[str, ColumnInfo]) -> dict[str, str]:
    """What a serializer gets: description (else name) -> value text (code mapped to its word), no missing."""
    row = {}
    for name, value in record.items():
        if is_missing(value):
            continue
        info = columns.get(name) or ColumnInfo()
        text = format_value(value)
        row[info.description or name] = info.values.get(text, text)
    return row


def get_serializer(name: str, manager: Any = None) -> Serializer:
    """The registered serializer ``name`` as ``fn(row, seed)``; the seed reaches those that take one."""
    found = serializers(manager)
    if name not in found:
        raise UsageError(f"unknown serializer {name!r}; serializers: {', '.join(found) or 'none installed'}")
    fn = found[name]
    try:
        takes_seed = "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C function: no signature to read
        takes_seed = False
    return (lambda row, seed: fn(row, seed=seed)) if takes_seed else (lambda row, seed: fn(row))


def columns_from_mapping(data: Any, where: str) -> dict[str, ColumnInfo]:
    """``{column: description}`` or ``{column: {description: ..., values: {code: word}}}`` as ColumnInfo."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of column name to description")
    columns = {}
    for name, spec in data.items():
        if isinstance(spec, str):
            columns[str(name)] = ColumnInfo(spec.strip())
            continue
        values = spec.get("values", {}) if isinstance(spec, dict) else None
        if not isinstance(values, dict) or not isinstance(spec.get("description", ""), str):
            raise InputError(f"{where}: column {name!r} needs a description or {{description, values}}")
        words = {format_value(code): str(word) for code, word in values.items()}
        columns[str(name)] = ColumnInfo(spec.get("description", "").strip(), words)
    return columns


def load_columns(path: str | Path) -> dict[str, ColumnInfo]:
    """Column descriptions from a JSON or YAML file (see ``columns_from_mapping`` for the layout)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"columns file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{path} is not valid YAML: {first_line(exc)}") from exc
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from exc
    return columns_from_mapping(data, str(path))


def read_table_file(path: str | Path):
    """A CSV, TSV or Parquet file as a DataFrame (read by DuckDB)."""
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path}: expected a .csv, .tsv or .parquet file")
    try:
        with duckdb.connect() as con:
            return con.execute(f"SELECT * FROM {reader}(?)", [str(path)]).df()
    except duckdb.Error as exc:
        raise InputError(f"could not read {path}: {first_line(exc)}") from exc


def read_db_table(db: str | Path, table: str) -> tuple[Any, dict[str, ColumnInfo]]:
    """A table of a DuckDB database (read-only) and its column COMMENTs as descriptions."""
    con = connect(resolve_database(db))
    try:
        found = introspect(con).table(table)
        if found is None:
            names = ", ".join(t.name for t in introspect(con).tables) or "none"
            raise InputError(f"unknown table {table!r}; tables: {names}")
        quoted = found.name.replace('"', '""')
        frame = con.execute(f'SELECT * FROM "{quoted}"').df()
    finally:
        con.close()
    return frame, {c.name: ColumnInfo(c.comment) for c in found.columns if c.comment}


def parse_choices(text: str) -> tuple[list[str], dict[str, str]]:
    """``No,Yes`` or ``bad=No,good=Yes``: the answer choices, and target value -> choice when given."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    choices: list[str] = []
    mapping: dict[str, str] = {}
    for part in parts:
        value, sep, choice = (s.strip() for s in part.partition("="))
        if sep and not (value and choice):
            raise UsageError(f"bad choice {part!r}: expected value=choice")
        if sep:
            mapping[value] = choice
        choice = choice if sep else part
        if choice not in choices:
            choices.append(choice)
    if mapping and len(mapping) != len(parts):
        raise UsageError("give every choice as value=choice, or none")
    if len(choices) < 2:
        raise UsageError(f"give at least two answer choices (e.g. No,Yes), got {text!r}")
    return choices, mapping


def label_indices(values: Sequence[Any], choices: list[str], mapping: dict[str, str]) -> np.ndarray:
    """Each target value's choice index (-1 when missing): by ``mapping``, by name, or a code 0..n-1."""
    by_name = {choice.lower(): i for i, choice in enumerate(choices)}
    labels = np.full(len(values), -1, dtype=np.int64)
    unmatched: set[str] = set()
    for row, value in enumerate(values):
        if is_missing(value):
            continue
        text = format_value(int(value) if isinstance(value, bool | np.bool_) else value)
        if mapping:
            index = by_name.get(mapping.get(text, "").lower())
        elif text.lower() in by_name:
            index = by_name[text.lower()]
        else:
            index = int(text) if text.isdigit() and int(text) < len(choices) else None
        if index is None:
            unmatched.add(text)
        else:
            labels[row] = index
    if unmatched:
        shown = ", ".join(sorted(unmatched)[:5])
        raise InputError(
            f"target values {shown} match no choice of {','.join(choices)}; "
            "give --choices as value=choice pairs, e.g. bad=No,good=Yes"
        )
    return labels


def build_task(
    frame: Any,
    *,
    target: str,
    question: str,
    choices: str,
    columns: dict[str, ColumnInfo] | None = None,
    name: str = "table",
) -> TabularTask:
    """Check the table against the target, question, choices and descriptions; the task to classify."""
    frame = frame.rename(columns=str)
    if frame.empty:
        raise InputError(f"{name} has no rows")
    if target not in frame.columns:
        raise InputError(f"unknown column {target!r}; columns: {', '.join(frame.columns)}")
    columns = columns or {}
    unknown = [column for column in columns if column not in frame.columns]
    if unknown:
        raise InputError(f"column descriptions name unknown column(s): {', '.join(unknown)}")
    if not question.strip():
        raise InputError("the question is empty")
    choice_list, mapping = parse_choices(choices)
    labels = label_indices(frame[target].tolist(), choice_list, mapping)
    features = frame.drop(columns=[target]).reset_index(drop=True)
    if features.shape[1] == 0:
        raise InputError(f"{name} has no column besides the target {target!r}")
    return TabularTask(name, features, labels, target, question.strip(), choice_list, columns)
