"""Values that satisfy a column's predicates: proposals guided by the predicates' constants, checked by
DuckDB itself (so the semantics are exactly those the gold query will be run with)."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import re

import duckdb
import numpy as np

from finsql.bull.constraints import Predicate
from finsql.bull.samplers import Sampler

_YEAR = re.compile(r"^(19|20)\d\d")
_MAX_VALUES = 16


class CandidateFinder:
    """Finds, once per distinct (column type, predicates), the proposals that DuckDB says satisfy them."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.con = duckdb.connect(config={"threads": 1})
        self.rng = rng
        self._constants: dict[str, object] = {}
        self._found: dict[tuple, list] = {}

    def constant(self, sql: str) -> object:
        """The value of a column-free SQL expression (None when it does not evaluate)."""
        if sql not in self._constants:
            try:
                self._constants[sql] = self.con.execute(f"SELECT {sql}").fetchone()[0]
            except duckdb.Error:
                self._constants[sql] = None
        return self._constants[sql]

    def satisfying(self, sampler: Sampler, predicates: list[Predicate]) -> list:
        """Up to 16 distinct values of the column that make every predicate true (empty if none found)."""
        column = sampler.column
        key = (column.duck_type, column.name.lower(), tuple(sorted(p.sql for p in predicates)))
        if key not in self._found:
            values = [self.constant(c) for p in predicates for c in p.constants]
            proposals = _typed(self._proposals(sampler, values), column.kind, column.max_abs)
            self._found[key] = self._check(column.duck_type, predicates, proposals)
        return self._found[key]

    def _check(self, duck_type: str, predicates: list[Predicate], proposals: list) -> list:
        if not proposals:
            return []
        where = " AND ".join(f"({p.sql})" for p in predicates)
        try:
            values = f"SELECT unnest(?::{duck_type}[]) AS v"
            rows = self.con.execute(
                f"SELECT DISTINCT v FROM ({values}) WHERE {where} LIMIT {_MAX_VALUES}", [proposals]
            ).fetchall()
        except (duckdb.Error, ValueError, TypeError):
            return []
        return [float(v) if isinstance(v, decimal.Decimal) else v for (v,) in rows]

    def _proposals(self, sampler: Sampler, constants: list[object]) -> list:
        kind, rng = sampler.column.kind, self.rng
        randoms = sampler.sample(12, rng)
        if kind == "timestamp":
            return _date_proposals(constants, sampler.years, rng) + randoms
        if kind in ("int", "float"):
            numbers = [n for n in map(_number, constants) if n is not None]
            near = [f(n) for n in numbers for f in _NUMBER_MOVES]
            return near + randoms
        texts = [str(c) for c in constants if c is not None]
        fills = [_like_fill(t, rng) for t in texts if "%" in t or "_" in t]
        together = [" ".join(t.replace("%", "").replace("_", "") for t in texts)] if len(texts) > 1 else []
        return texts + fills + together + randoms


_NUMBER_MOVES = (
    lambda n: n,
    lambda n: n + 1,
    lambda n: n - 1,
    lambda n: n + 0.5,
    lambda n: n - 0.5,
    lambda n: n * 1.5 + 1,
    lambda n: n * 0.5 - 1,
    lambda n: n * 3 + 10,
    lambda n: -abs(n) - 1,
)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _like_fill(pattern: str, rng: np.random.Generator) -> str:
    """A string matching a LIKE pattern: ``%`` becomes a short word or nothing, ``_`` a digit."""
    out = []
    for char in pattern:
        if char == "%":
            out.append(rng.choice(["", "", "A", "Fund", "2020"]))
        elif char == "_":
            out.append(str(rng.integers(0, 10)))
        else:
            out.append(char)
    return "".join(out)


def _date_proposals(constants: list[object], years: tuple[int, int], rng: np.random.Generator) -> list:
    """Dates near the constants' dates, in the years they name, in the months/days they name."""
    dates, found_years, parts = [], set(), set()
    for value in constants:
        if isinstance(value, dt.datetime):
            dates.append(value)
        elif isinstance(value, dt.date):
            dates.append(dt.datetime(value.year, value.month, value.day))
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value).strip()
            if _YEAR.match(text):
                found_years.add(int(text[:4]))
                with contextlib.suppress(ValueError):
                    dates.append(dt.datetime.fromisoformat(text[:10]))
            elif text.isdigit() and 1 <= int(text) <= 31:
                parts.add(int(text))
    found_years |= {d.year for d in dates}
    year_list = sorted(found_years | {y + s for y in found_years for s in (-1, 1)}) or [
        int(y) for y in rng.integers(years[0], years[1] + 1, 3)
    ]
    months = range(1, 13)
    days = sorted(parts | {1, 15, 28})
    out = [d + dt.timedelta(days=int(s)) for d in dates for s in (0, 1, -1, 20, -20, 200, -200, 400, -400)]
    for year in year_list[:8]:
        for month in months:
            for day in days[:4]:
                try:
                    out.append(dt.datetime(year, month, day))
                except ValueError:
                    out.append(dt.datetime(year, month, 28))
    return out


def _typed(values: list, kind: str, limit: float) -> list:
    """Proposals converted to the column's Python type (unconvertible or too large ones dropped)."""
    out: list = []
    for value in values:
        if value is None:
            continue
        if kind in ("int", "float"):
            number = _number(value)
            if number is not None and np.isfinite(number) and abs(number) <= limit:
                out.append(int(round(number)) if kind == "int" else number)
        elif kind == "timestamp":
            if isinstance(value, dt.datetime):
                out.append(value)
        else:
            out.append(value if isinstance(value, str) else str(value))
    return out
