"""Query results on stdout: a rich table for people, JSON or CSV for programs."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum

from rich.table import Table

from finsql.console import out
from finsql.storage import jsonable


class Format(str, Enum):
    """Output formats of query results."""

    table = "table"
    json = "json"
    csv = "csv"


def print_rows(columns: list[str], rows: list[tuple], fmt: Format, extra: dict | None = None) -> None:
    """Print a result as a rich table, a JSON object (with ``extra`` keys) or CSV."""
    if fmt is Format.json:
        payload = {"columns": columns, "rows": [[jsonable(v) for v in row] for row in rows], **(extra or {})}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([[jsonable(v) for v in row] for row in rows])
    else:
        table = Table(*columns, show_lines=False)
        for row in rows:
            table.add_row(*["NULL" if v is None else str(v) for v in row])
        out.print(table)
