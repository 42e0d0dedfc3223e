"""Random column values with realistic ranges, chosen from the column's name, description and type."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from finsql.bull.source import ColumnSpec

NULL_SHARE = 0.02
_CATEGORY_WORDS = re.compile(
    r"type|category|class|level|state|province|city|area|region|industry|sector|period|interval|cycle|"
    r"currency|market|sex|gender|education|status|nationality|form|mode|method|unit|caliber|standard|"
    r"index|title|degree|position|kind|style|flag|grade|rating|scope|item|subject|cycle|range",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"rate|ratio|pct|percent|proportion|growth|yoy|qoq|return|yield|%|change|margin", re.I)
_PRICE = re.compile(r"price|\bnv\b|nav|net value|unitnv|\bpe\b|\bpb\b|ps\b|multiple", re.I)
_COUNT = re.compile(r"vol|shares|quantity|number|num\b|count|holders|accounts|people|employees", re.I)
_INDEX = re.compile(r"cpi|ppi|pmi|index", re.I)


def _words(column: ColumnSpec) -> str:
    """Name split at case changes plus description, for keyword tests."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column.name) + " " + column.description


def is_categorical(column: ColumnSpec) -> bool:
    """Whether a text column takes few distinct values (a type, a province...) rather than names."""
    return bool(_CATEGORY_WORDS.search(_words(column))) or (column.length or 100) <= 20


def is_code(column: ColumnSpec) -> bool:
    """Whether a column holds codes (``SecuCode``, ``CompanyCode``...)."""
    return column.name.lower().endswith("code")


class Sampler:
    """Draws values of one column: numbers in a range fitting its meaning, dates over ``years``, or text
    from ``domain`` (values the gold SQL names) mixed with synthetic values."""

    def __init__(self, column: ColumnSpec, years: tuple[int, int], domain: list[str] | None = None) -> None:
        self.column = column
        self.years = years
        self.domain = sorted(set(domain or ()))
        self.categorical = is_categorical(column)

    def synthetic_text(self, numbers: np.ndarray) -> list[str]:
        """Synthetic text values for the given numbers: digit codes or ``Name 12``."""
        column = self.column
        if is_code(column):
            width = min(column.length or 6, 6)
            return [str(int(n) % 10**width).zfill(width) for n in numbers]
        label = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column.name)
        return [f"{label} {int(n)}" for n in numbers]

    def sample(self, n: int, rng: np.random.Generator) -> list:
        """``n`` random values (no NULLs)."""
        kind = self.column.kind
        if kind == "timestamp":
            return self._dates(n, rng)
        if kind in ("int", "float"):
            values = self._numbers(n, rng)
            return [int(v) for v in values] if kind == "int" else [float(v) for v in values]
        pool = 8 if self.categorical else max(n, 50)
        values = self.synthetic_text(rng.integers(0, pool, n) + (0 if is_code(self.column) else 1))
        if self.domain:
            picks = rng.integers(0, len(self.domain), n)
            use = rng.random(n) < 0.4
            values = [self.domain[p] if u else v for v, p, u in zip(values, picks, use, strict=True)]
        return values

    def _dates(self, n: int, rng: np.random.Generator) -> list:
        start = dt.date(self.years[0], 1, 1).toordinal()
        end = min(dt.date(self.years[1], 12, 31), dt.date.today()).toordinal()
        days = rng.integers(start, end + 1, n)
        return [dt.datetime.fromordinal(int(d)) for d in days]

    def _numbers(self, n: int, rng: np.random.Generator) -> np.ndarray:
        words, name = _words(self.column), self.column.name.lower()
        integer = self.column.kind == "int"
        if integer and is_code(self.column):
            values = rng.integers(1, 13, n)
        elif "year" in name and integer:
            values = rng.integers(self.years[0], self.years[1] + 1, n)
        elif "rank" in name:
            values = rng.integers(1, 500, n)
        elif _INDEX.search(words) and not integer:
            values = rng.uniform(80, 120, n)
        elif _PERCENT.search(words):
            values = rng.uniform(-30, 60, n)
        elif _PRICE.search(words):
            values = np.exp(rng.uniform(np.log(0.5), np.log(200), n))
        elif _COUNT.search(words) or integer:
            values = np.exp(rng.uniform(0, np.log(5e7), n))
        else:
            values = np.exp(rng.uniform(np.log(100), np.log(5e9), n))
        limit = self.column.max_abs
        values = np.clip(values, -limit, limit)
        return np.round(values) if integer else np.round(values, 4)
