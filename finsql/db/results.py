"""Comparing query results: normalised values, multiset equality, order only when it matters."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections import Counter


def normalize_value(value: object) -> object:
    """A hashable, comparison-friendly form: numbers rounded to 6 significant digits, dates as ISO text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):  # a division by zero in DuckDB gives infinity, not an error
            return "Infinity" if number > 0 else "-Infinity"
        if number == int(number) and abs(number) < 1e15:
            return int(number)
        return float(f"{number:.6g}")
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return tuple(normalize_value(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), normalize_value(v)) for k, v in value.items()))
    return str(value)


def result_key(rows: list[tuple], ordered: bool) -> object:
    """A key equal for two results exactly when they match: a row list if ordered, else a row multiset."""
    normal = [tuple(normalize_value(v) for v in row) for row in rows]
    return tuple(normal) if ordered else frozenset(Counter(normal).items())


def results_match(gold: list[tuple], predicted: list[tuple], ordered: bool) -> bool:
    """Execution-accuracy test: same rows (as multisets; as sequences when ``ordered``)."""
    return result_key(gold, ordered) == result_key(predicted, ordered)
