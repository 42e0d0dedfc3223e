"""Category labels of a query, read from its sqlglot parse tree (the demo pairs use the same names)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

LABELS = ("join", "group_by", "order_limit", "date_function", "aggregate", "filter")

_DATE_NODES = tuple(
    getattr(exp, name)
    for name in (
        "TimeToStr",
        "StrToTime",
        "CurrentDate",
        "CurrentTimestamp",
        "Interval",
        "DateTrunc",
        "TimestampTrunc",
        "DateAdd",
        "DateSub",
        "DateDiff",
        "Extract",
        "Year",
        "Month",
        "Day",
        "TsOrDsToDate",
        "TsOrDsToTimestamp",
    )
    if hasattr(exp, name)
)


def categories(query: str | exp.Expression, dialect: str = "duckdb") -> list[str]:
    """Labels among ``LABELS`` that fit a query (SQL or tree); ``["plain"]`` when none does, ``[]`` if it
    does not parse."""
    try:
        tree = sqlglot.parse_one(query, read=dialect) if isinstance(query, str) else query
    except (SqlglotError, RecursionError):
        return []
    found = {
        "join": bool(tree.find(exp.Join)),
        "group_by": bool(tree.find(exp.Group)),
        "order_limit": bool(tree.find(exp.Order) or tree.find(exp.Limit)),
        "date_function": bool(tree.find(*_DATE_NODES)),
        "aggregate": bool(tree.find(exp.AggFunc)),
        "filter": bool(tree.find(exp.Where) or tree.find(exp.Having)),
    }
    return [label for label in LABELS if found[label]] or ["plain"]
