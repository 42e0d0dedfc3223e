"""Random hostile-ish SELECTs over the demo schema, for the bounds fuzz suite and ``benchmarks/bounds.py``.

Each statement mixes pieces that stress the engine where it does not check for interrupts or count its
memory: huge lists and strings, ranges, recursive CTEs that double a string, cross joins of the biggest
tables, regular expressions over long strings, nested lists. Seeded: the same seed, the same statements.
"""

from __future__ import annotations

import random

SIZES = (10, 1000, 10**6, 10**8, 2 * 10**9)
TABLES = ("fund", "stock", "bond", "stock_daily_price", "fund_holding", "exchange_rate", "macro_indicator")
COLUMNS = {
    "fund": ("fund_code", "fund_name", "management_fee"),
    "stock": ("ticker", "stock_name", "total_shares_mn"),
    "bond": ("bond_code", "bond_name", "coupon_rate"),
    "stock_daily_price": ("ticker", "close_price", "volume"),
    "fund_holding": ("fund_code", "ticker", "market_value_mn"),
    "exchange_rate": ("currency_code", "mid_rate", "rate_date"),
    "macro_indicator": ("report_month", "cpi_yoy", "m2_yoy"),
}


def _expression(rng: random.Random, column: str) -> str:
    n = rng.choice(SIZES)
    pieces = [
        f"length(list_resize([1], {n}))",
        f"len(range({n}))",
        f"length(repeat('x', {n}))",
        f"length(repeat({column}::VARCHAR, {min(n, 10**8)}))",
        f"list_sum(list_transform(range({min(n, 10**8)}), x -> x * 2))",
        f"length(string_agg(repeat('ab', {min(n, 10**7)}), ','))",
        f"regexp_matches(repeat('a', {min(n, 10**8)}), '(a+)+b')",
        f"length(md5(repeat('q', {min(n, 10**8)})))",
        f"len(list_concat(range({min(n, 10**8)}), range({min(n, 10**8)})))",
        f"len(flatten([range({min(n, 10**7)}), range({min(n, 10**7)})]))",
        f"array_length([[1, 2], [3], [{n}]])",
        f"length(lpad('z', {n}, 'y'))",
        f"count(DISTINCT {column})",
        f"{column}",
    ]
    return rng.choice(pieces)


def statement(rng: random.Random) -> str:
    """One random SELECT."""
    table = rng.choice(TABLES)
    column = rng.choice(COLUMNS[table])
    shape = rng.randrange(6)
    expr = _expression(rng, column)
    if shape == 0:
        return f"SELECT {expr} FROM {table} LIMIT {rng.choice((1, 10, 1000))}"
    if shape == 1:
        third = ", stock_daily_price c" if rng.random() < 0.5 else ""
        return f"SELECT count(*) FROM {table} a, {rng.choice(TABLES)} b{third}"
    if shape == 2:
        depth = rng.choice((10, 25, 35, 45))
        return (
            "WITH RECURSIVE t(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || s FROM t "
            f"WHERE n < {depth}) SELECT max(length(s)) FROM t"
        )
    if shape == 3:
        return f"SELECT {expr} FROM (SELECT * FROM {table} ORDER BY random()) sub LIMIT 5"
    if shape == 4:
        n = rng.choice(SIZES)
        return f"SELECT sum(x) FROM (SELECT unnest(range({n})) AS x)"
    return f"SELECT {expr}"


def statements(seed: int, count: int) -> list[str]:
    """``count`` random SELECTs drawn with ``seed``."""
    rng = random.Random(seed)
    return [statement(rng) for _ in range(count)]
