"""Generate the demo question/SQL pairs: ``data/train.jsonl`` and the held-out ``data/eval.jsonl``.

Questions come from templates whose slots are filled with values read from the demo database built with
the default seed. Train and eval use separate template sets (different phrasing and mostly different query
shapes) and, for named entities (funds, stocks, managers, companies, industries, shareholders, bonds),
disjoint value splits: every fourth entity in sorted order is reserved for eval. Every gold SQL is checked
on the database: it must parse as one read-only SELECT, run, return a non-empty result (not a single
all-NULL row, not a lone zero) and, when ordered, have no ties that would make the expected row order
ambiguous. Failing instances are redrawn; a template that cannot produce its quota aborts the run.

Usage::

    python scripts/make_pairs.py [--out-dir DIR] [--db DEMO.duckdb] [--seed N]

The output is deterministic: the same database and seed always give byte-identical files.
"""

from __future__ import annotations

import argparse
import calendar
import json
import random
import re
import sys
import tempfile
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import duckdb
import sqlglot
from finsql.data import build_demo
from sqlglot import exp

DATA = Path(build_demo.__file__).resolve().parent
CATEGORIES = ("filter", "aggregate", "group_by", "order_limit", "join", "date_range")
EVAL_SIZE = 80
MIN_PER_CATEGORY = 10
TRAIN_RANGE = (300, 400)
DB_NAME = "demo"

DATE_COLUMNS = frozenset(c for _, _, cols, _, _ in build_demo.SCHEMA for c, t, _ in cols if t == "DATE")
YEAR_COLUMNS = frozenset({"year", "fiscal_year"})
_DATE_FUNCS = tuple(
    getattr(exp, name)
    for name in (
        "Year",
        "Month",
        "Quarter",
        "Day",
        "DayOfWeek",
        "DayOfMonth",
        "DayOfYear",
        "Week",
        "Extract",
        "DateTrunc",
        "TimestampTrunc",
        "DateDiff",
        "DateAdd",
        "DateSub",
        "TimeToStr",
        "LastDay",
    )
    if hasattr(exp, name)
)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


# --------------------------------------------------------------------------------------------
# Categories and checks
# --------------------------------------------------------------------------------------------


def _column_names(node: exp.Expression) -> set[str]:
    return {c.name.lower() for c in node.find_all(exp.Column)}


def _is_constant(node: exp.Expression | None) -> bool:
    """A literal-only expression (number, string, DATE '...', arithmetic on those)."""
    if node is None:
        return False
    return not any(isinstance(n, (exp.Column, exp.Select, exp.Subquery)) for n in node.walk())


def _date_like(node: exp.Expression) -> bool:
    """A date or year column, or a date function of a date column."""
    if isinstance(node, exp.Column):
        return node.name.lower() in DATE_COLUMNS | YEAR_COLUMNS
    return isinstance(node, _DATE_FUNCS) and bool(_column_names(node) & DATE_COLUMNS)


def _has_date_range(tree: exp.Expression) -> bool:
    for func in tree.find_all(*_DATE_FUNCS):
        if _column_names(func) & DATE_COLUMNS:
            return True
    for cmp in tree.find_all(*_COMPARISONS):
        left, right = cmp.this, cmp.expression
        if (_date_like(left) and _is_constant(right)) or (_date_like(right) and _is_constant(left)):
            return True
    for between in tree.find_all(exp.Between):
        if _date_like(between.this) and _is_constant(between.args.get("low")):
            return True
    for inn in tree.find_all(exp.In):
        if _date_like(inn.this) and inn.expressions and all(_is_constant(e) for e in inn.expressions):
            return True
    return False


def categories(sql: str) -> list[str]:
    """Category labels of a query, derived from its syntax tree."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    found = {
        "filter": tree.find(exp.Where) is not None,
        "aggregate": tree.find(exp.AggFunc) is not None,
        "group_by": tree.find(exp.Group) is not None,
        "order_limit": tree.find(exp.Limit) is not None
        or any(not isinstance(o.parent, exp.Window) for o in tree.find_all(exp.Order)),
        "join": tree.find(exp.Join) is not None,
        "date_range": _has_date_range(tree),
    }
    return [c for c in CATEGORIES if found[c]]


def _order_ambiguous(con: duckdb.DuckDBPyConnection, tree: exp.Select) -> bool:
    """Whether ties in the outermost ORDER BY leave the visible row order (or the LIMIT cut) undefined."""
    order = tree.args.get("order")
    if order is None or tree.args.get("distinct"):
        return False
    limit = tree.args.get("limit")
    k = int(limit.expression.name) if limit is not None else None
    probe = tree.copy()
    probe.set("limit", None)
    probe.set("order", None)
    width = len(tree.expressions)
    aliases = {e.alias.lower(): e.this for e in tree.expressions if isinstance(e, exp.Alias)}
    for i, ordered in enumerate(order.expressions):
        key = ordered.this
        if isinstance(key, exp.Literal) and not key.is_string:  # ORDER BY <position>
            key = tree.expressions[int(key.name) - 1]
            key = key.this if isinstance(key, exp.Alias) else key
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in aliases:
            key = aliases[key.name.lower()]
        probe.append("expressions", exp.alias_(key.copy(), f"__key{i}"))
    probe.set("order", order.copy())
    rows = con.execute(probe.sql(dialect="duckdb")).fetchall()
    window = rows if k is None else rows[: k + 1]
    return any(a[width:] == b[width:] and a[:width] != b[:width] for a, b in pairwise(window))


def check_sql(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """None if the gold SQL is usable, else the reason it is not."""
    if "\n" in sql or sql != sql.strip():
        return "not a single trimmed line"
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        return f"unparsable: {exc}"
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        return "not exactly one SELECT"
    tree = statements[0]
    if any(isinstance(n, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop)) for n in tree.walk()):
        return "not read-only"
    try:
        rows = con.execute(sql).fetchall()
    except duckdb.Error as exc:
        return f"error: {exc}"
    if not rows:
        return "empty result"
    if all(v is None for row in rows for v in row):
        return "only NULLs"
    if len(rows) == 1 and len(rows[0]) == 1 and isinstance(rows[0][0], (int, float)) and rows[0][0] == 0:
        return "lone zero"
    if any(isinstance(v, float) and v != v for row in rows for v in row):
        return "NaN in result"
    try:
        if _order_ambiguous(con, tree):
            return "ties make the order ambiguous"
    except duckdb.Error as exc:
        return f"order check failed: {exc}"
    return None


# --------------------------------------------------------------------------------------------
# Slot values
# --------------------------------------------------------------------------------------------


def _month_text(d) -> str:
    return f"{calendar.month_name[d.month]} {d.year}"


def _day_text(d) -> str:
    return f"{calendar.month_name[d.month]} {d.day}, {d.year}"


def _split(records: list[dict], key: str) -> dict[str, list[dict]]:
    """Train/eval split of an entity pool: every fourth entity (sorted by ``key``) goes to eval."""
    ordered = sorted(records, key=lambda r: r[key])
    return {
        "train": [r for i, r in enumerate(ordered) if i % 4 != 3],
        "eval": [r for i, r in enumerate(ordered) if i % 4 == 3],
    }


def _both(records: list[dict]) -> dict[str, list[dict]]:
    return {"train": records, "eval": records}


FLOW_METRICS = [
    ("revenue", "revenue"),
    ("net_profit", "net profit"),
    ("operating_profit", "operating profit"),
    ("gross_profit", "gross profit"),
    ("rd_expense", "R&D expenses"),
    ("selling_expense", "selling expenses"),
    ("admin_expense", "administrative expenses"),
    ("operating_cash_flow", "operating cash flow"),
    ("capital_expenditure", "capital expenditure"),
    ("income_tax", "income tax"),
    ("net_profit_parent", "net profit attributable to shareholders"),
]
BALANCE_METRICS = [
    ("total_assets", "total assets"),
    ("total_liabilities", "total liabilities"),
    ("cash_equivalents", "cash and cash equivalents"),
    ("inventory", "inventory"),
    ("accounts_receivable", "accounts receivable"),
    ("total_equity", "shareholders' equity"),
    ("long_term_borrowings", "long-term borrowings"),
    ("fixed_assets", "fixed assets"),
]
RATIO_METRICS = [
    ("roe", "ROE"),
    ("roa", "return on assets"),
    ("gross_margin", "gross margin"),
    ("net_margin", "net margin"),
    ("debt_to_assets", "debt-to-assets ratio"),
    ("current_ratio", "current ratio"),
    ("eps_basic", "basic EPS"),
]
MACRO_INDICATORS = [
    ("cpi_yoy", "CPI inflation rate"),
    ("core_cpi_yoy", "core CPI inflation"),
    ("food_cpi_yoy", "food CPI inflation"),
    ("ppi_yoy", "PPI year-on-year change"),
    ("pmi_manufacturing", "manufacturing PMI"),
    ("pmi_non_manufacturing", "non-manufacturing PMI"),
    ("m1_yoy", "M1 growth rate"),
    ("m2_yoy", "M2 growth rate"),
    ("new_loans_bn", "amount of new loans"),
    ("social_financing_bn", "total social financing increment"),
    ("industrial_output_yoy", "industrial output growth"),
    ("retail_sales_yoy", "retail sales growth"),
    ("exports_yoy", "export growth"),
    ("imports_yoy", "import growth"),
    ("trade_balance_bn_usd", "trade surplus"),
    ("unemployment_rate", "urban unemployment rate"),
    ("policy_rate", "policy rate"),
    ("lpr_1y", "one-year loan prime rate"),
    ("lpr_5y", "five-year loan prime rate"),
    ("rrr_large_banks", "reserve requirement ratio for large banks"),
    ("shibor_3m", "3-month SHIBOR"),
    ("cgb_10y_yield", "10-year government bond yield"),
    ("fx_reserves_bn_usd", "foreign exchange reserves"),
    ("new_home_price_yoy", "year-on-year change in new home prices"),
    ("consumer_confidence", "consumer confidence index"),
    ("m2_balance_trn", "M2 money supply"),
]


def build_pools(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, list[dict]]]:
    """Slot value pools, each with a ``train`` and an ``eval`` list of slot dicts."""

    def rows(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    pools: dict[str, dict[str, list[dict]]] = {}
    funds = [
        {"fund": n, "fund_code": c, "fund_type": t}
        for n, c, t in rows("SELECT fund_name, fund_code, fund_type FROM fund ORDER BY fund_name")
    ]
    pools["fund"] = _split(funds, "fund")
    held = {c for (c,) in rows("SELECT DISTINCT fund_code FROM fund_holding")}
    pools["hfund"] = {k: [f for f in v if f["fund_code"] in held] for k, v in pools["fund"].items()}
    stocks = [
        {"stock": n, "ticker": t, "industry": i}
        for n, t, i in rows(
            "SELECT s.stock_name, s.ticker, i.industry_name FROM stock s "
            "JOIN industry i ON s.industry_id = i.industry_id ORDER BY s.stock_name"
        )
    ]
    pools["stock"] = _split(stocks, "stock")
    issuers = {t for (t,) in rows("SELECT DISTINCT issuer_ticker FROM bond WHERE issuer_ticker IS NOT NULL")}
    pools["issuer"] = _both([s for s in stocks if s["ticker"] in issuers])
    pools["manager"] = _split(
        [{"manager": n} for (n,) in rows("SELECT manager_name FROM fund_manager ORDER BY 1")], "manager"
    )
    pools["company"] = _split(
        [{"company": n} for (n,) in rows("SELECT company_name FROM fund_company ORDER BY 1")], "company"
    )
    pools["industry"] = _split(
        [
            {"industry": n, "sector": s}
            for n, s in rows("SELECT industry_name, sector FROM industry ORDER BY 1")
        ],
        "industry",
    )
    pools["sector"] = _both(
        [{"sector": s} for (s,) in rows("SELECT DISTINCT sector FROM industry ORDER BY 1")]
    )
    pools["holder"] = _split(
        [
            {"holder": n}
            for (n,) in rows(
                "SELECT holder_name FROM stock_shareholder WHERE holder_type <> 'individual' "
                "GROUP BY holder_name HAVING count(*) >= 12 ORDER BY 1"
            )
        ],
        "holder",
    )
    pools["bond"] = _split([{"bond": n} for (n,) in rows("SELECT bond_name FROM bond ORDER BY 1")], "bond")
    pools["city_stock"] = _both(
        [
            {"city": c}
            for (c,) in rows("SELECT headquarters_city FROM stock GROUP BY 1 HAVING count(*) >= 2 ORDER BY 1")
        ]
    )
    pools["city_company"] = _both(
        [{"city": c} for (c,) in rows("SELECT DISTINCT headquarters_city FROM fund_company ORDER BY 1")]
    )
    pools["currency"] = _both(
        [
            {"code": c, "currency_name": n}
            for c, n in rows("SELECT currency_code, currency_name FROM currency ORDER BY 1")
        ]
    )

    def distinct(column: str, table: str, name: str | None = None) -> list[dict]:
        return [{name or column: v} for (v,) in rows(f"SELECT DISTINCT {column} FROM {table} ORDER BY 1")]

    pools["fund_type"] = _both(distinct("fund_type", "fund"))
    pools["risk"] = _both(distinct("risk_level", "fund", "risk"))
    pools["focus"] = _both(distinct("investment_focus", "fund", "focus"))
    pools["ownership"] = _both(distinct("ownership_type", "fund_company", "ownership"))
    pools["holder_type"] = _both(distinct("holder_type", "stock_shareholder"))
    pools["rating"] = _both(distinct("credit_rating", "bond", "rating"))
    pools["bond_type"] = _both(distinct("bond_type", "bond"))
    pools["exchange"] = _both(distinct("exchange", "stock"))
    pools["board"] = _both(
        [
            {"board": "Main Board", "board_text": "the Main Board"},
            {"board": "ChiNext", "board_text": "ChiNext"},
            {"board": "STAR Market", "board_text": "the STAR Market"},
        ]
    )
    pools["gender"] = _both(
        [{"gender": "F", "gender_text": "female"}, {"gender": "M", "gender_text": "male"}]
    )
    pools["education"] = _both(distinct("education", "fund_manager"))

    days = [d for (d,) in rows("SELECT DISTINCT trade_date FROM stock_daily_price ORDER BY 1")]
    pools["trade_date"] = _both([{"date": str(d), "date_text": _day_text(d)} for d in days[1::7]])
    weeks = []
    for i in range(5, len(days) - 5, 23):
        weeks.append(
            {
                "d1": str(days[i]),
                "d2": str(days[i + 4]),
                "d1_text": _day_text(days[i]),
                "d2_text": _day_text(days[i + 4]),
            }
        )
    pools["week"] = _both(weeks)
    months_px = sorted({(d.year, d.month) for d in days})
    pools["month_px"] = _both(
        [
            {
                "month_text": f"{calendar.month_name[m]} {y}",
                "m_start": f"{y}-{m:02d}-01",
                "m_end": f"{y}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}",
            }
            for y, m in months_px
        ]
    )
    pools["month_div"] = _both(
        [
            {
                "month_text": f"{calendar.month_name[m]} {y}",
                "m_start": f"{y}-{m:02d}-01",
                "m_end": f"{y}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}",
            }
            for y in range(2020, 2025)
            for m in (5, 6, 7)
        ]
    )
    pools["month_macro"] = _both(
        [
            {"month_text": _month_text(d), "month": str(d)}
            for (d,) in rows("SELECT report_month FROM macro_indicator ORDER BY 1")
        ]
    )
    pools["month_nav"] = _both(
        [
            {"month_text": _month_text(d), "nav_date": str(d)}
            for (d,) in rows("SELECT DISTINCT nav_date FROM fund_nav ORDER BY 1")
        ]
    )
    pools["qdate_size"] = _both(
        [
            {"qdate": str(d), "qdate_text": f"the end of {_month_text(d)}"}
            for (d,) in rows("SELECT DISTINCT report_date FROM fund_size ORDER BY 1")
        ]
    )
    pools["qdate_fin"] = _both(
        [
            {"qdate": str(d), "qdate_text": f"the end of {_month_text(d)}"}
            for (d,) in rows("SELECT DISTINCT report_date FROM stock_financials ORDER BY 1")
        ]
    )
    pools["hdate"] = _both(
        [
            {"hdate": str(d), "hdate_text": _day_text(d)}
            for (d,) in rows("SELECT DISTINCT report_date FROM fund_holding ORDER BY 1")
        ]
    )
    pools["sh_date"] = _both(
        [
            {"sh_date": str(d), "sh_date_text": _day_text(d)}
            for (d,) in rows("SELECT DISTINCT report_date FROM stock_shareholder ORDER BY 1")
        ]
    )
    pools["year_px"] = _both([{"year": y} for y in (2022, 2023, 2024)])
    pools["year_fin"] = _both([{"year": y} for y in range(2019, 2025)])
    pools["year_div"] = _both([{"year": y} for y in range(2019, 2024)])
    pools["year_ret"] = _both([{"year": y} for y in range(2019, 2025)])
    pools["year_macro"] = _both([{"year": y} for y in range(2015, 2025)])
    pools["span_ret"] = _both([{"y1": a, "y2": b} for a in range(2019, 2025) for b in range(a + 2, 2025)])
    pools["span_macro"] = _both(
        [{"y1": a, "y2": b} for a in range(2015, 2025) for b in range(a + 1, min(a + 4, 2025))]
    )
    pools["quarter"] = _both([{"q": q} for q in (1, 2, 3, 4)])
    pools["flow"] = _both([{"col": c, "metric": t} for c, t in FLOW_METRICS])
    pools["metric"] = _both(
        [{"col": c, "metric": t} for c, t in FLOW_METRICS + BALANCE_METRICS + RATIO_METRICS]
    )
    pools["ratio"] = _both([{"col": c, "metric": t} for c, t in RATIO_METRICS])
    pools["indicator"] = _both([{"col": c, "indicator": t} for c, t in MACRO_INDICATORS])
    return pools


# --------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """Question phrasings and a gold SQL with ``{slot}`` fields, drawn ``n`` times."""

    questions: tuple[str, ...]
    sql: str
    use: tuple[str, ...] = ()
    n: int = 1
    vals: dict[str, tuple] = field(default_factory=dict)


def T(questions: str | tuple[str, ...], sql: str, *use: str, n: int = 1, **vals: tuple) -> Template:
    if isinstance(questions, str):
        questions = (questions,)
    return Template(tuple(questions), sql, tuple(use), n, vals)


# Aliases used throughout: stock s, industry i, stock_daily_price p, stock_dividend d, stock_shareholder sh,
# stock_financials fin, fund f, fund_company fc, fund_manager fm, fund_manager_tenure t, fund_nav n,
# fund_return r, fund_size fs, fund_holding h, exchange_rate e, currency c, bond b.
S_JOIN = "JOIN stock s ON {a}.ticker = s.ticker"
PX = "FROM stock_daily_price p JOIN stock s ON p.ticker = s.ticker"
DIV = "FROM stock_dividend d JOIN stock s ON d.ticker = s.ticker"
SH = "FROM stock_shareholder sh JOIN stock s ON sh.ticker = s.ticker"
FIN = "FROM stock_financials fin JOIN stock s ON fin.ticker = s.ticker"
IND = "JOIN industry i ON s.industry_id = i.industry_id"
NAV = "FROM fund_nav n JOIN fund f ON n.fund_code = f.fund_code"
RET = "FROM fund_return r JOIN fund f ON r.fund_code = f.fund_code"
SIZE = "FROM fund_size fs JOIN fund f ON fs.fund_code = f.fund_code"
HOLD = "FROM fund_holding h JOIN fund f ON h.fund_code = f.fund_code JOIN stock s ON h.ticker = s.ticker"
TEN = (
    "FROM fund_manager_tenure t JOIN fund f ON t.fund_code = f.fund_code "
    "JOIN fund_manager fm ON t.manager_id = fm.manager_id"
)
FC = "JOIN fund_company fc ON f.company_id = fc.company_id"

TRAIN_TEMPLATES: list[Template] = [
    # ---- industry
    T(
        (
            "Which industries are in the {sector} sector?",
            "List the industries that belong to the {sector} sector.",
        ),
        "SELECT industry_name FROM industry WHERE sector = '{sector}'",
        "sector",
        n=2,
    ),
    T(
        ("How many industries does each sector have?", "Count the industries in every sector."),
        "SELECT sector, count(*) AS industries FROM industry GROUP BY sector",
    ),
    T(
        ("What businesses does the {industry} industry cover?", "Describe the {industry} industry."),
        "SELECT description FROM industry WHERE industry_name = '{industry}'",
        "industry",
        n=2,
    ),
    T(
        "Which sector does the {industry} industry belong to?",
        "SELECT sector FROM industry WHERE industry_name = '{industry}'",
        "industry",
        n=2,
    ),
    # ---- stock
    T(
        ("Which stocks are in the {industry} industry?", "List the companies in the {industry} industry."),
        f"SELECT s.stock_name FROM stock s {IND} WHERE i.industry_name = '{{industry}}'",
        "industry",
        n=3,
    ),
    T(
        ("What is the ticker of {stock}?", "What is the stock code of {stock}?"),
        "SELECT ticker FROM stock WHERE stock_name = '{stock}'",
        "stock",
        n=2,
    ),
    T(
        ("Which company has the ticker {ticker}?", "What is the name of stock {ticker}?"),
        "SELECT stock_name FROM stock WHERE ticker = '{ticker}'",
        "stock",
        n=2,
    ),
    T(
        ("Which listed companies are headquartered in {city}?", "List the stocks based in {city}."),
        "SELECT stock_name FROM stock WHERE headquarters_city = '{city}'",
        "city_stock",
        n=2,
    ),
    T(
        "How many stocks are listed on {board_text}?",
        "SELECT count(*) FROM stock WHERE board = '{board}'",
        "board",
        n=2,
    ),
    T(
        ("How many stocks trade on each exchange?", "Count the listed stocks by exchange."),
        "SELECT exchange, count(*) AS stocks FROM stock GROUP BY exchange",
    ),
    T(
        (
            "Which {k} companies have the most employees?",
            "List the top {k} companies by number of employees.",
        ),
        "SELECT stock_name, employees FROM stock ORDER BY employees DESC LIMIT {k}",
        n=2,
        k=(3, 5),
    ),
    T(
        "Which stocks were listed after {date_text}?",
        "SELECT stock_name, listing_date FROM stock WHERE listing_date > '{date}'",
        n=2,
        cut=(
            {"date": "2015-12-31", "date_text": "December 31, 2015"},
            {"date": "2018-06-30", "date_text": "June 30, 2018"},
            {"date": "2010-01-01", "date_text": "January 1, 2010"},
        ),
    ),
    T(
        ("How many stocks does each industry have?", "What is the number of listed companies per industry?"),
        f"SELECT i.industry_name, count(*) AS stocks FROM stock s {IND} GROUP BY i.industry_name",
    ),
    T(
        "How many employees do the listed companies in the {sector} sector have in total?",
        f"SELECT sum(s.employees) FROM stock s {IND} WHERE i.sector = '{{sector}}'",
        "sector",
        n=2,
    ),
    T(
        "Which stocks have more than {x} million free float shares?",
        "SELECT stock_name, float_shares_mn FROM stock WHERE float_shares_mn > {x}",
        n=2,
        x=(10000, 30000),
    ),
    T(
        "Which {exchange} stocks were listed before {year}?",
        "SELECT stock_name, listing_date FROM stock WHERE exchange = '{exchange}' AND listing_date < "
        "'{year}-01-01'",
        "exchange",
        n=2,
        year=(2000, 2005),
    ),
    T(
        "What is the average number of employees of companies in the {industry} industry?",
        f"SELECT avg(s.employees) FROM stock s {IND} WHERE i.industry_name = '{{industry}}'",
        "industry",
        n=2,
    ),
    T(
        ("Which industry does {stock} belong to?", "What industry is {stock} in?"),
        f"SELECT i.industry_name FROM stock s {IND} WHERE s.stock_name = '{{stock}}'",
        "stock",
        n=2,
    ),
    T(
        "What are the total and free float shares of {stock}?",
        "SELECT total_shares_mn, float_shares_mn FROM stock WHERE stock_name = '{stock}'",
        "stock",
        n=2,
    ),
    # ---- stock_daily_price
    T(
        ("What was the closing price of {stock} on {date}?", "What did {stock} close at on {date_text}?"),
        f"SELECT p.close_price {PX} WHERE s.stock_name = '{{stock}}' AND p.trade_date = '{{date}}'",
        "stock",
        "trade_date",
        n=4,
    ),
    T(
        "Show the open, high, low and close prices of ticker {ticker} on {date}.",
        "SELECT open_price, high_price, low_price, close_price FROM stock_daily_price "
        "WHERE ticker = '{ticker}' AND trade_date = '{date}'",
        "stock",
        "trade_date",
        n=2,
    ),
    T(
        (
            "What was the highest closing price of {stock} in {year}?",
            "What was {stock}'s peak close in {year}?",
        ),
        f"SELECT max(p.close_price) {PX} WHERE s.stock_name = '{{stock}}' AND year(p.trade_date) = {{year}}",
        "stock",
        "year_px",
        n=3,
    ),
    T(
        "What was the average daily trading volume of {stock} in {month_text}?",
        f"SELECT avg(p.volume) {PX} WHERE s.stock_name = '{{stock}}' "
        "AND p.trade_date BETWEEN '{m_start}' AND '{m_end}'",
        "stock",
        "month_px",
        n=2,
    ),
    T(
        "On which {k} days of {year} did {stock} gain the most?",
        f"SELECT p.trade_date, p.change_pct {PX} WHERE s.stock_name = '{{stock}}' "
        "AND year(p.trade_date) = {year} ORDER BY p.change_pct DESC LIMIT {k}",
        "stock",
        "year_px",
        n=2,
        k=(3, 5),
    ),
    T(
        (
            "Which stock had the highest turnover rate on {date}?",
            "What stock was the most actively turned over on {date_text}?",
        ),
        f"SELECT s.stock_name, p.turnover_rate {PX} WHERE p.trade_date = '{{date}}' "
        "ORDER BY p.turnover_rate DESC LIMIT 1",
        "trade_date",
        n=2,
    ),
    T(
        "On how many trading days in {year} did {stock} rise more than {x}%?",
        f"SELECT count(*) {PX} WHERE s.stock_name = '{{stock}}' AND year(p.trade_date) = {{year}} "
        "AND p.change_pct > {x}",
        "stock",
        "year_px",
        n=2,
        x=(3, 5),
    ),
    T(
        "Show the daily closing prices of ticker {ticker} from {d1} to {d2}.",
        "SELECT trade_date, close_price FROM stock_daily_price WHERE ticker = '{ticker}' "
        "AND trade_date BETWEEN '{d1}' AND '{d2}' ORDER BY trade_date",
        "stock",
        "week",
        n=2,
    ),
    T(
        "What was the total trading value of each stock in the {industry} industry in {year}?",
        f"SELECT s.stock_name, sum(p.amount_mn) AS amount_mn {PX} {IND} WHERE i.industry_name = "
        f"'{{industry}}' "
        "AND year(p.trade_date) = {year} GROUP BY s.stock_name",
        "industry",
        "year_px",
        n=2,
    ),
    T(
        ("What was the average closing price of {stock} in each year?", "Average yearly close of {stock}"),
        f"SELECT year(p.trade_date) AS year, avg(p.close_price) AS avg_close {PX} "
        "WHERE s.stock_name = '{stock}' GROUP BY year(p.trade_date) ORDER BY year",
        "stock",
        n=2,
    ),
    T(
        "What is the lowest price {stock} has traded at?",
        f"SELECT min(p.low_price) {PX} WHERE s.stock_name = '{{stock}}'",
        "stock",
        n=2,
    ),
    T(
        "Which stocks closed above {x} CNY on {date}?",
        f"SELECT s.stock_name, p.close_price {PX} WHERE p.trade_date = '{{date}}' AND p.close_price > {{x}}",
        "trade_date",
        n=2,
        x=(50, 100),
    ),
    T(
        "Which day in {month_text} had the largest trading volume for {stock}?",
        f"SELECT p.trade_date, p.volume {PX} WHERE s.stock_name = '{{stock}}' "
        "AND p.trade_date BETWEEN '{m_start}' AND '{m_end}' ORDER BY p.volume DESC LIMIT 1",
        "stock",
        "month_px",
        n=2,
    ),
    # ---- stock_dividend
    T(
        (
            "What cash dividend per share did {stock} pay for fiscal year {year}?",
            "How much was {stock}'s dividend per share for {year}?",
        ),
        f"SELECT d.cash_dividend_per_share {DIV} WHERE s.stock_name = '{{stock}}' AND d.fiscal_year = "
        f"{{year}}",
        "stock",
        "year_div",
        n=3,
    ),
    T(
        "Which {k} companies paid the most cash dividends in total for fiscal {year}?",
        f"SELECT s.stock_name, d.total_cash_dividend_mn {DIV} WHERE d.fiscal_year = {{year}} "
        "ORDER BY d.total_cash_dividend_mn DESC LIMIT {k}",
        "year_div",
        n=2,
        k=(3, 5, 10),
    ),
    T(
        "How many companies paid a dividend for fiscal year {year}?",
        "SELECT count(DISTINCT ticker) FROM stock_dividend WHERE fiscal_year = {year}",
        "year_div",
        n=2,
    ),
    T(
        "What was the average payout ratio of each industry for fiscal year {year}?",
        f"SELECT i.industry_name, avg(d.payout_ratio) AS avg_payout {DIV} {IND} WHERE d.fiscal_year = "
        f"{{year}} "
        "GROUP BY i.industry_name",
        "year_div",
        n=2,
    ),
    T(
        (
            "Which companies have given bonus shares?",
            "Which stocks have paid stock dividends (bonus shares)?",
        ),
        f"SELECT DISTINCT s.stock_name {DIV} WHERE d.bonus_shares_per_10 > 0",
    ),
    T(
        ("Show the dividend history of {stock}.", "List every dividend of {stock} by fiscal year."),
        f"SELECT d.fiscal_year, d.cash_dividend_per_share, d.payout_ratio {DIV} WHERE s.stock_name = "
        f"'{{stock}}' "
        "ORDER BY d.fiscal_year",
        "stock",
        n=2,
    ),
    T(
        "Which stocks went ex-dividend in {month_text}?",
        f"SELECT s.stock_name, d.ex_dividend_date, d.cash_dividend_per_share {DIV} "
        "WHERE d.ex_dividend_date BETWEEN '{m_start}' AND '{m_end}'",
        "month_div",
        n=2,
    ),
    T(
        "How much cash has {stock} paid out in dividends in total?",
        f"SELECT sum(d.total_cash_dividend_mn) {DIV} WHERE s.stock_name = '{{stock}}'",
        "stock",
        n=2,
    ),
    T(
        "Which dividends had a payout ratio above {x}%?",
        f"SELECT s.stock_name, d.fiscal_year, d.payout_ratio {DIV} WHERE d.payout_ratio > {{x}}",
        n=1,
        x=(60,),
    ),
    T(
        "When did {stock} announce its dividend plan for fiscal {year}?",
        f"SELECT d.announce_date {DIV} WHERE s.stock_name = '{{stock}}' AND d.fiscal_year = {{year}}",
        "stock",
        "year_div",
        n=2,
    ),
    # ---- stock_shareholder
    T(
        "Who were the top {k} shareholders of {stock} on {sh_date}?",
        f"SELECT sh.holder_name, sh.holding_pct {SH} WHERE s.stock_name = '{{stock}}' "
        "AND sh.report_date = '{sh_date}' ORDER BY sh.holder_rank LIMIT {k}",
        "stock",
        "sh_date",
        n=2,
        k=(3, 5),
    ),
    T(
        (
            "Who was the largest shareholder of {stock} on {sh_date_text}?",
            "Name the biggest holder of {stock} at {sh_date}.",
        ),
        f"SELECT sh.holder_name, sh.holding_pct {SH} WHERE s.stock_name = '{{stock}}' "
        "AND sh.report_date = '{sh_date}' AND sh.holder_rank = 1",
        "stock",
        "sh_date",
        n=2,
    ),
    T(
        "How many top-ten shareholder positions were held by {holder_type} holders on {sh_date}?",
        "SELECT count(*) FROM stock_shareholder WHERE holder_type = '{holder_type}' AND report_date = "
        "'{sh_date}'",
        "holder_type",
        "sh_date",
        n=2,
    ),
    T(
        "In which stocks was {holder} a top ten shareholder on {sh_date}?",
        f"SELECT s.stock_name, sh.holding_pct {SH} WHERE sh.holder_name = '{{holder}}' "
        "AND sh.report_date = '{sh_date}'",
        "holder",
        "sh_date",
        n=2,
    ),
    T(
        "Which shareholders of {stock} increased their holdings in the report of {sh_date}?",
        f"SELECT sh.holder_name, sh.change_mn {SH} WHERE s.stock_name = '{{stock}}' "
        "AND sh.report_date = '{sh_date}' AND sh.change_mn > 0",
        "stock",
        "sh_date",
        n=2,
    ),
    T(
        "What is the average holding percentage of each type of shareholder?",
        "SELECT holder_type, avg(holding_pct) AS avg_pct FROM stock_shareholder GROUP BY holder_type",
    ),
    # ---- stock_financials
    T(
        ("What was the {metric} of {stock} in Q{q} {year}?", "{stock} {metric} for quarter {q} of {year}"),
        f"SELECT fin.{{col}} {FIN} WHERE s.stock_name = '{{stock}}' AND fin.fiscal_year = {{year}} "
        "AND fin.fiscal_quarter = {q}",
        "stock",
        "metric",
        "year_fin",
        "quarter",
        n=6,
    ),
    T(
        (
            "What was the total {metric} of {stock} in {year}?",
            "What was the full-year {metric} of {stock} in {year}?",
        ),
        f"SELECT sum(fin.{{col}}) {FIN} WHERE s.stock_name = '{{stock}}' AND fin.fiscal_year = {{year}}",
        "stock",
        "flow",
        "year_fin",
        n=3,
    ),
    T(
        "Which {k} companies had the highest {metric} in Q{q} {year}?",
        f"SELECT s.stock_name, fin.{{col}} {FIN} WHERE fin.fiscal_year = {{year}} AND fin.fiscal_quarter = "
        f"{{q}} "
        "ORDER BY fin.{col} DESC LIMIT {k}",
        "ratio",
        "year_fin",
        "quarter",
        n=3,
        k=(3, 5),
    ),
    T(
        "What was the average {metric} of each industry in {year}?",
        f"SELECT i.industry_name, avg(fin.{{col}}) AS avg_value {FIN} {IND} WHERE fin.fiscal_year = {{year}} "
        "GROUP BY i.industry_name",
        "ratio",
        "year_fin",
        n=2,
    ),
    T(
        "Which companies had a debt-to-assets ratio above {x}% at the end of {year}?",
        f"SELECT s.stock_name, fin.debt_to_assets {FIN} WHERE fin.report_date = '{{year}}-12-31' "
        "AND fin.debt_to_assets > {x}",
        "year_fin",
        n=2,
        x=(70, 80),
    ),
    T(
        (
            "Show the quarterly revenue of {stock} in {year}.",
            "List {stock}'s revenue for each quarter of {year}.",
        ),
        f"SELECT fin.fiscal_quarter, fin.revenue {FIN} WHERE s.stock_name = '{{stock}}' AND fin.fiscal_year "
        f"= {{year}} "
        "ORDER BY fin.fiscal_quarter",
        "stock",
        "year_fin",
        n=2,
    ),
    T(
        "Which companies reported a net loss in at least one quarter of {year}?",
        f"SELECT DISTINCT s.stock_name {FIN} WHERE fin.fiscal_year = {{year}} AND fin.net_profit < 0",
        "year_fin",
        n=2,
    ),
    T(
        "What was {stock}'s annual {metric} in each year?",
        f"SELECT fin.fiscal_year, sum(fin.{{col}}) AS total {FIN} WHERE s.stock_name = '{{stock}}' "
        "GROUP BY fin.fiscal_year ORDER BY fin.fiscal_year",
        "stock",
        "flow",
        n=2,
    ),
    T(
        "In which quarter did {stock} earn its highest net profit?",
        f"SELECT fin.report_date, fin.net_profit {FIN} WHERE s.stock_name = '{{stock}}' "
        "ORDER BY fin.net_profit DESC LIMIT 1",
        "stock",
        n=2,
    ),
    T(
        "Which companies spent more than {x} million CNY on R&D in Q{q} {year}?",
        f"SELECT s.stock_name, fin.rd_expense {FIN} WHERE fin.fiscal_year = {{year}} AND fin.fiscal_quarter "
        f"= {{q}} "
        "AND fin.rd_expense > {x}",
        "year_fin",
        "quarter",
        n=2,
        x=(500, 1000),
    ),
    T(
        "What was the total revenue of the {industry} industry in {year}?",
        f"SELECT sum(fin.revenue) {FIN} {IND} WHERE i.industry_name = '{{industry}}' AND fin.fiscal_year = "
        f"{{year}}",
        "industry",
        "year_fin",
        n=2,
    ),
    T(
        "Which companies had a current ratio below 1 at {qdate_text}?",
        f"SELECT s.stock_name, fin.current_ratio {FIN} WHERE fin.report_date = '{{qdate}}' AND "
        "fin.current_ratio < 1",
        "qdate_fin",
        n=2,
    ),
    # ---- fund_company
    T(
        "Which fund companies are based in {city}?",
        "SELECT company_name FROM fund_company WHERE headquarters_city = '{city}'",
        "city_company",
        n=2,
    ),
    T(
        ("When was {company} founded?", "What is the founding date of {company}?"),
        "SELECT founded_date FROM fund_company WHERE company_name = '{company}'",
        "company",
        n=2,
    ),
    T(
        ("List the {ownership} fund companies.", "Which fund companies are {ownership}?"),
        "SELECT company_name FROM fund_company WHERE ownership_type = '{ownership}'",
        "ownership",
        n=2,
    ),
    T(
        "Which fund company has the largest registered capital?",
        "SELECT company_name, registered_capital_mn FROM fund_company ORDER BY registered_capital_mn DESC "
        "LIMIT 1",
    ),
    T(
        ("How many funds does each fund company manage?", "Count the funds of every fund company."),
        f"SELECT fc.company_name, count(*) AS funds FROM fund f {FC} GROUP BY fc.company_name",
    ),
    T(
        "What is the website of {company}?",
        "SELECT website FROM fund_company WHERE company_name = '{company}'",
        "company",
        n=2,
    ),
    T(
        "Which fund companies were founded before {year}?",
        "SELECT company_name, founded_date FROM fund_company WHERE founded_date < '{year}-01-01'",
        n=2,
        year=(2002, 2005),
    ),
    T(
        "How many employees does {company} have?",
        "SELECT employees FROM fund_company WHERE company_name = '{company}'",
        "company",
        n=2,
    ),
    # ---- fund_manager
    T(
        ("Which fund managers work at {company}?", "List the managers employed by {company}."),
        "SELECT fm.manager_name FROM fund_manager fm JOIN fund_company fc ON fm.company_id = fc.company_id "
        "WHERE fc.company_name = '{company}'",
        "company",
        n=2,
    ),
    T(
        ("How many fund managers have each education level?", "Count fund managers by highest degree."),
        "SELECT education, count(*) AS managers FROM fund_manager GROUP BY education",
    ),
    T(
        ("Which fund managers hold the CFA charter?", "List the CFA charterholders among fund managers."),
        "SELECT manager_name FROM fund_manager WHERE certified_cfa",
    ),
    T(
        "Which fund managers have more than {x} years of experience?",
        "SELECT manager_name, years_of_experience FROM fund_manager WHERE years_of_experience > {x}",
        n=2,
        x=(10, 15, 18),
    ),
    T(
        ("Who is the manager of {fund}?", "Who currently manages {fund}?"),
        "SELECT fm.manager_name FROM fund f JOIN fund_manager fm ON f.manager_id = fm.manager_id "
        "WHERE f.fund_name = '{fund}'",
        "fund",
        n=3,
    ),
    T(
        "What is the average experience of the fund managers at each company?",
        "SELECT fc.company_name, avg(fm.years_of_experience) AS avg_years FROM fund_manager fm "
        "JOIN fund_company fc ON fm.company_id = fc.company_id GROUP BY fc.company_name",
    ),
    T(
        "Which fund managers started managing funds in {year} or later?",
        "SELECT manager_name, career_start_date FROM fund_manager WHERE career_start_date >= '{year}-01-01'",
        n=2,
        year=(2013, 2016),
    ),
    T(
        "How many {gender_text} fund managers are there?",
        "SELECT count(*) FROM fund_manager WHERE gender = '{gender}'",
        "gender",
        n=2,
    ),
    T(
        "What degree does {manager} hold?",
        "SELECT education FROM fund_manager WHERE manager_name = '{manager}'",
        "manager",
        n=2,
    ),
    T(
        "Which fund managers have a {education} degree?",
        "SELECT manager_name FROM fund_manager WHERE education = '{education}'",
        "education",
        n=2,
    ),
    # ---- fund
    T(
        ("List all {fund_type} funds.", "Which funds are {fund_type} funds?"),
        "SELECT fund_name FROM fund WHERE fund_type = '{fund_type}'",
        "fund_type",
        n=2,
    ),
    T(
        ("What is the management fee of {fund}?", "How much does {fund} charge as a management fee?"),
        "SELECT management_fee FROM fund WHERE fund_name = '{fund}'",
        "fund",
        n=2,
    ),
    T(
        "Which funds have risk level {risk}?",
        "SELECT fund_name FROM fund WHERE risk_level = '{risk}'",
        "risk",
        n=2,
    ),
    T(
        ("How many funds are there of each type?", "Count the funds by fund type."),
        "SELECT fund_type, count(*) AS funds FROM fund GROUP BY fund_type",
    ),
    T(
        ("Which funds are closed to new purchases?",),
        "SELECT fund_name FROM fund WHERE status = 'closed'",
    ),
    T(
        "Which funds were launched in {year} or later?",
        "SELECT fund_name, inception_date FROM fund WHERE inception_date >= '{year}-01-01'",
        n=2,
        year=(2018, 2019, 2020),
    ),
    T(
        ("What is the average management fee for each fund type?",),
        "SELECT fund_type, avg(management_fee) AS avg_fee FROM fund GROUP BY fund_type",
    ),
    T(
        ("Which funds are run by {company}?", "List the funds managed by {company}."),
        f"SELECT f.fund_name FROM fund f {FC} WHERE fc.company_name = '{{company}}'",
        "company",
        n=2,
    ),
    T(
        "Which funds have an investment focus on {focus}?",
        "SELECT fund_name FROM fund WHERE investment_focus = '{focus}'",
        "focus",
        n=2,
    ),
    T(
        "What is the benchmark of {fund}?",
        "SELECT benchmark FROM fund WHERE fund_name = '{fund}'",
        "fund",
        n=2,
    ),
    T(
        "Which funds charge a management fee above {x}%?",
        "SELECT fund_name, management_fee FROM fund WHERE management_fee > {x}",
        n=2,
        x=(1.0, 1.2),
    ),
    T(
        "What is the fund code of {fund}?",
        "SELECT fund_code FROM fund WHERE fund_name = '{fund}'",
        "fund",
        n=2,
    ),
    T(
        "How many funds does {company} manage?",
        f"SELECT count(*) FROM fund f {FC} WHERE fc.company_name = '{{company}}'",
        "company",
        n=2,
    ),
    T(
        "When was {fund} launched?",
        "SELECT inception_date FROM fund WHERE fund_name = '{fund}'",
        "fund",
        n=2,
    ),
    T(
        "What are the total annual fees (management plus custodian) of {fund}?",
        "SELECT management_fee + custodian_fee AS total_fee FROM fund WHERE fund_name = '{fund}'",
        "fund",
        n=2,
    ),
    # ---- fund_manager_tenure
    T(
        ("Which managers have run {fund}, and when?", "Show the manager history of {fund}."),
        f"SELECT fm.manager_name, t.start_date, t.end_date {TEN} WHERE f.fund_name = '{{fund}}' ORDER BY "
        "t.start_date",
        "fund",
        n=2,
    ),
    T(
        ("Which funds has {manager} managed?", "List all funds {manager} has been in charge of."),
        f"SELECT f.fund_name {TEN} WHERE fm.manager_name = '{{manager}}'",
        "manager",
        n=2,
    ),
    T(
        "What return did {manager} achieve on each fund they managed?",
        f"SELECT f.fund_name, t.tenure_return_pct {TEN} WHERE fm.manager_name = '{{manager}}'",
        "manager",
        n=2,
    ),
    T(
        "Which managers left a fund in {year}?",
        f"SELECT fm.manager_name, f.fund_name, t.end_date {TEN} WHERE year(t.end_date) = {{year}}",
        "year_fin",
        n=2,
    ),
    T(
        ("How many managers has each fund had?",),
        "SELECT f.fund_name, count(*) AS managers FROM fund_manager_tenure t JOIN fund f ON t.fund_code = "
        "f.fund_code "
        "GROUP BY f.fund_name",
    ),
    T(
        "When did the current manager of {fund} take over?",
        f"SELECT fm.manager_name, t.start_date {TEN} WHERE f.fund_name = '{{fund}}' AND t.end_date IS NULL",
        "fund",
        n=2,
    ),
    # ---- fund_nav
    T(
        ("What was the unit NAV of {fund} at the end of {month_text}?", "Unit NAV of {fund} on {nav_date}"),
        f"SELECT n.unit_nav {NAV} WHERE f.fund_name = '{{fund}}' AND n.nav_date = '{{nav_date}}'",
        "fund",
        "month_nav",
        n=3,
    ),
    T(
        "What was the highest unit NAV of {fund} in {year}?",
        f"SELECT max(n.unit_nav) {NAV} WHERE f.fund_name = '{{fund}}' AND year(n.nav_date) = {{year}}",
        "fund",
        "year_ret",
        n=2,
    ),
    T(
        ("Show the monthly returns of {fund} in {year}.", "List {fund}'s return for every month of {year}."),
        f"SELECT n.nav_date, n.monthly_return_pct {NAV} WHERE f.fund_name = '{{fund}}' "
        "AND year(n.nav_date) = {year} ORDER BY n.nav_date",
        "fund",
        "year_ret",
        n=2,
    ),
    T(
        "What is the latest accumulated NAV of {fund}?",
        f"SELECT n.nav_date, n.accumulated_nav {NAV} WHERE f.fund_name = '{{fund}}' ORDER BY n.nav_date "
        "DESC LIMIT 1",
        "fund",
        n=2,
    ),
    T(
        "In how many months of {year} did {fund} lose money?",
        f"SELECT count(*) {NAV} WHERE f.fund_name = '{{fund}}' AND year(n.nav_date) = {{year}} "
        "AND n.monthly_return_pct < 0",
        "fund",
        "year_ret",
        n=2,
    ),
    T(
        "Which fund had the best monthly return in {month_text}?",
        f"SELECT f.fund_name, n.monthly_return_pct {NAV} WHERE n.nav_date = '{{nav_date}}' "
        "ORDER BY n.monthly_return_pct DESC LIMIT 1",
        "month_nav",
        n=2,
    ),
    T(
        "What was the average monthly return of each {fund_type} fund in {year}?",
        f"SELECT f.fund_name, avg(n.monthly_return_pct) AS avg_return {NAV} WHERE f.fund_type = "
        f"'{{fund_type}}' "
        "AND year(n.nav_date) = {year} GROUP BY f.fund_name",
        "fund_type",
        "year_ret",
        n=2,
    ),
    T(
        "Show the unit NAV of fund {fund_code} at each month end of {year}.",
        "SELECT nav_date, unit_nav FROM fund_nav WHERE fund_code = '{fund_code}' AND year(nav_date) = {year} "
        "ORDER BY nav_date",
        "fund",
        "year_ret",
        n=2,
    ),
    # ---- fund_return
    T(
        ("What was the return of {fund} in {year}?", "How did {fund} perform in {year}?"),
        f"SELECT r.return_pct {RET} WHERE f.fund_name = '{{fund}}' AND r.year = {{year}}",
        "fund",
        "year_ret",
        n=3,
    ),
    T(
        ("Which {k} funds had the highest return in {year}?", "Top {k} funds by annual return in {year}"),
        f"SELECT f.fund_name, r.return_pct {RET} WHERE r.year = {{year}} ORDER BY r.return_pct DESC LIMIT "
        f"{{k}}",
        "year_ret",
        n=2,
        k=(3, 5, 10),
    ),
    T(
        "Which {fund_type} funds beat their benchmark in {year}?",
        f"SELECT f.fund_name, r.excess_return_pct {RET} WHERE f.fund_type = '{{fund_type}}' AND r.year = "
        f"{{year}} "
        "AND r.excess_return_pct > 0",
        "fund_type",
        "year_ret",
        n=2,
    ),
    T(
        "What was the average return of each fund type in {year}?",
        f"SELECT f.fund_type, avg(r.return_pct) AS avg_return {RET} WHERE r.year = {{year}} GROUP BY "
        "f.fund_type",
        "year_ret",
        n=2,
    ),
    T(
        "Which fund had the highest Sharpe ratio in {year}?",
        f"SELECT f.fund_name, r.sharpe_ratio {RET} WHERE r.year = {{year}} ORDER BY r.sharpe_ratio DESC "
        "LIMIT 1",
        "year_ret",
        n=2,
    ),
    T(
        "Show the maximum drawdown of {fund} for each year.",
        f"SELECT r.year, r.max_drawdown_pct {RET} WHERE f.fund_name = '{{fund}}' ORDER BY r.year",
        "fund",
        n=2,
    ),
    T(
        "Which funds ranked first in their category in {year}?",
        f"SELECT f.fund_name, f.fund_type {RET} WHERE r.year = {{year}} AND r.category_rank = 1",
        "year_ret",
        n=2,
    ),
    T(
        "What was the average annual return of {fund} from {y1} to {y2}?",
        f"SELECT avg(r.return_pct) {RET} WHERE f.fund_name = '{{fund}}' AND r.year BETWEEN {{y1}} AND {{y2}}",
        "fund",
        "span_ret",
        n=2,
    ),
    T(
        "What was the volatility of fund {fund_code} in {year}?",
        "SELECT volatility_pct FROM fund_return WHERE fund_code = '{fund_code}' AND year = {year}",
        "fund",
        "year_ret",
        n=2,
    ),
    # ---- fund_size
    T(
        ("What were the net assets of {fund} at {qdate_text}?", "How large was {fund} on {qdate}?"),
        f"SELECT fs.net_assets_mn {SIZE} WHERE f.fund_name = '{{fund}}' AND fs.report_date = '{{qdate}}'",
        "fund",
        "qdate_size",
        n=3,
    ),
    T(
        "Which {k} funds were the largest by net assets at {qdate_text}?",
        f"SELECT f.fund_name, fs.net_assets_mn {SIZE} WHERE fs.report_date = '{{qdate}}' "
        "ORDER BY fs.net_assets_mn DESC LIMIT {k}",
        "qdate_size",
        n=2,
        k=(3, 5),
    ),
    T(
        "What were the total net assets of all {fund_type} funds at {qdate_text}?",
        f"SELECT sum(fs.net_assets_mn) {SIZE} WHERE f.fund_type = '{{fund_type}}' AND fs.report_date = "
        f"'{{qdate}}'",
        "fund_type",
        "qdate_size",
        n=2,
    ),
    T(
        "How did the number of holders of {fund} change during {year}?",
        f"SELECT fs.report_date, fs.num_holders {SIZE} WHERE f.fund_name = '{{fund}}' "
        "AND year(fs.report_date) = {year} ORDER BY fs.report_date",
        "fund",
        "year_ret",
        n=2,
    ),
    T(
        "How much money did each fund company manage at {qdate_text}?",
        f"SELECT fc.company_name, sum(fs.net_assets_mn) AS net_assets_mn {SIZE} {FC} "
        "WHERE fs.report_date = '{qdate}' GROUP BY fc.company_name",
        "qdate_size",
        n=2,
    ),
    T(
        "Which funds had more than {x}% of units held by institutions at {qdate_text}?",
        f"SELECT f.fund_name, fs.institutional_pct {SIZE} WHERE fs.report_date = '{{qdate}}' "
        "AND fs.institutional_pct > {x}",
        "qdate_size",
        n=2,
        x=(40, 50),
    ),
    # ---- fund_holding
    T(
        (
            "What were the top ten holdings of {fund} on {hdate}?",
            "Show {fund}'s top ten stocks as of {hdate_text}.",
        ),
        f"SELECT s.stock_name, h.pct_of_nav {HOLD} WHERE f.fund_name = '{{fund}}' AND h.report_date = "
        f"'{{hdate}}' "
        "ORDER BY h.holding_rank",
        "hfund",
        "hdate",
        n=2,
    ),
    T(
        "Which funds held {stock} on {hdate}?",
        f"SELECT f.fund_name, h.market_value_mn {HOLD} WHERE s.stock_name = '{{stock}}' AND h.report_date = "
        f"'{{hdate}}'",
        "stock",
        "hdate",
        n=2,
    ),
    T(
        "How many funds had {stock} among their top ten holdings on {hdate_text}?",
        f"SELECT count(*) {HOLD} WHERE s.stock_name = '{{stock}}' AND h.report_date = '{{hdate}}'",
        "stock",
        "hdate",
        n=2,
    ),
    T(
        "Which stocks were held by at least {k} funds on {hdate}?",
        "SELECT s.stock_name, count(*) AS funds FROM fund_holding h JOIN stock s ON h.ticker = s.ticker "
        "WHERE h.report_date = '{hdate}' GROUP BY s.stock_name HAVING count(*) >= {k}",
        "hdate",
        n=2,
        k=(4, 5, 6),
    ),
    T(
        "What was the total market value of {stock} held by funds on {hdate}?",
        f"SELECT sum(h.market_value_mn) {HOLD} WHERE s.stock_name = '{{stock}}' AND h.report_date = "
        f"'{{hdate}}'",
        "stock",
        "hdate",
        n=2,
    ),
    T(
        "What was the largest position of {fund} on {hdate}?",
        f"SELECT s.stock_name, h.pct_of_nav {HOLD} WHERE f.fund_name = '{{fund}}' AND h.report_date = "
        f"'{{hdate}}' "
        "AND h.holding_rank = 1",
        "hfund",
        "hdate",
        n=2,
    ),
    T(
        "How were the top ten holdings of {fund} spread across industries on {hdate}?",
        f"SELECT i.industry_name, sum(h.pct_of_nav) AS pct_of_nav {HOLD} {IND} WHERE f.fund_name = "
        f"'{{fund}}' "
        "AND h.report_date = '{hdate}' GROUP BY i.industry_name",
        "hfund",
        "hdate",
        n=2,
    ),
    # ---- macro_indicator
    T(
        ("What was the {indicator} in {month_text}?", "Give me the {indicator} for {month_text}."),
        "SELECT {col} FROM macro_indicator WHERE report_month = '{month}'",
        "indicator",
        "month_macro",
        n=5,
    ),
    T(
        "What was the average {indicator} in {year}?",
        "SELECT avg({col}) FROM macro_indicator WHERE year(report_month) = {year}",
        "indicator",
        "year_macro",
        n=3,
    ),
    T(
        "In which months of {year} was the manufacturing PMI below 50?",
        "SELECT report_month, pmi_manufacturing FROM macro_indicator WHERE year(report_month) = {year} "
        "AND pmi_manufacturing < 50",
        "year_macro",
        n=2,
    ),
    T(
        "What was the highest {indicator} between {y1} and {y2}?",
        "SELECT max({col}) FROM macro_indicator WHERE year(report_month) BETWEEN {y1} AND {y2}",
        "indicator",
        "span_macro",
        n=2,
    ),
    T(
        "What was the quarterly GDP growth in {year}?",
        "SELECT report_month, gdp_yoy FROM macro_indicator WHERE year(report_month) = {year} "
        "AND gdp_yoy IS NOT NULL ORDER BY report_month",
        "year_macro",
        n=2,
    ),
    T(
        "Which month had the highest {indicator}?",
        "SELECT report_month, {col} FROM macro_indicator ORDER BY {col} DESC LIMIT 1",
        "indicator",
        n=2,
    ),
    T(
        ("What was the average CPI inflation in each year?", "Show the yearly average CPI inflation rate."),
        "SELECT year(report_month) AS year, avg(cpi_yoy) AS avg_cpi FROM macro_indicator "
        "GROUP BY year(report_month) ORDER BY year",
    ),
    T(
        "What was the gap between the five-year and one-year loan prime rates in {month_text}?",
        "SELECT lpr_5y - lpr_1y AS spread FROM macro_indicator WHERE report_month = '{month}'",
        "month_macro",
        n=2,
    ),
    T(
        "In which months since {year} did exports fall year on year?",
        "SELECT report_month, exports_yoy FROM macro_indicator WHERE report_month >= '{year}-01-01' "
        "AND exports_yoy < 0",
        n=2,
        year=(2019, 2022),
    ),
    # ---- currency / exchange_rate
    T(
        "What was the {currency_name} exchange rate on {date}?",
        "SELECT e.mid_rate FROM exchange_rate e JOIN currency c ON e.currency_code = c.currency_code "
        "WHERE c.currency_name = '{currency_name}' AND e.rate_date = '{date}'",
        "currency",
        "trade_date",
        n=2,
    ),
    T(
        (
            "What was the average {code} mid rate in {year}?",
            "Average {code}/CNY central parity rate in {year}",
        ),
        "SELECT avg(mid_rate) FROM exchange_rate WHERE currency_code = '{code}' AND year(rate_date) = {year}",
        "currency",
        "year_px",
        n=2,
    ),
    T(
        "What was the highest {code}/CNY rate in {month_text}?",
        "SELECT max(mid_rate) FROM exchange_rate WHERE currency_code = '{code}' "
        "AND rate_date BETWEEN '{m_start}' AND '{m_end}'",
        "currency",
        "month_px",
        n=2,
    ),
    T(
        ("Which currencies are quoted per 100 units?",),
        "SELECT currency_code, currency_name FROM currency WHERE quote_unit = 100",
    ),
    T(
        "What was the monthly average {code} rate in {year}?",
        "SELECT month(rate_date) AS month, avg(mid_rate) AS avg_rate FROM exchange_rate "
        "WHERE currency_code = '{code}' AND year(rate_date) = {year} GROUP BY month(rate_date) ORDER BY "
        "month",
        "currency",
        "year_px",
        n=2,
    ),
    T(
        ("List the currencies with their country or region, by currency code.",),
        "SELECT currency_code, currency_name, country_or_region FROM currency ORDER BY currency_code",
    ),
    T(
        "Show the daily {code} rate from {d1} to {d2}.",
        "SELECT rate_date, mid_rate FROM exchange_rate WHERE currency_code = '{code}' "
        "AND rate_date BETWEEN '{d1}' AND '{d2}' ORDER BY rate_date",
        "currency",
        "week",
        n=2,
    ),
    # ---- bond
    T(
        ("Which bonds carry a credit rating of {rating}?", "List the bonds rated {rating}."),
        "SELECT bond_name FROM bond WHERE credit_rating = '{rating}'",
        "rating",
        n=2,
    ),
    T(
        ("What is the coupon rate of the {bond}?", "What coupon does the {bond} pay?"),
        "SELECT coupon_rate FROM bond WHERE bond_name = '{bond}'",
        "bond",
        n=2,
    ),
    T(
        ("What is the average coupon rate of each bond type?",),
        "SELECT bond_type, avg(coupon_rate) AS avg_coupon FROM bond GROUP BY bond_type",
    ),
    T(
        "Which bonds were issued in {year}?",
        "SELECT bond_name, issue_date FROM bond WHERE year(issue_date) = {year}",
        "year_fin",
        n=2,
    ),
    T(
        "Which bonds mature in {year}?",
        "SELECT bond_name, maturity_date FROM bond WHERE year(maturity_date) = {year}",
        n=2,
        year=(2025, 2026, 2027),
    ),
    T(
        "What are the {k} largest bonds by issue size?",
        "SELECT bond_name, issue_size_mn FROM bond ORDER BY issue_size_mn DESC LIMIT {k}",
        n=2,
        k=(3, 5),
    ),
    T(
        ("Which listed companies have issued bonds?",),
        "SELECT DISTINCT s.stock_name FROM bond b JOIN stock s ON b.issuer_ticker = s.ticker",
    ),
    T(
        "What is the total issue size of {bond_type} bonds?",
        "SELECT sum(issue_size_mn) FROM bond WHERE bond_type = '{bond_type}'",
        "bond_type",
        n=2,
    ),
    T(
        "Which bonds has {stock} issued?",
        "SELECT b.bond_name, b.coupon_rate FROM bond b JOIN stock s ON b.issuer_ticker = s.ticker "
        "WHERE s.stock_name = '{stock}'",
        "issuer",
        n=2,
    ),
    T(
        "Which {bond_type} bonds have a term of {term} years or more?",
        "SELECT bond_name, term_years FROM bond WHERE bond_type = '{bond_type}' AND term_years >= {term}",
        "bond_type",
        n=2,
        term=(5, 10),
    ),
    # ---- less common constructs: HAVING, subqueries, self joins, column comparisons, NOT, <>, two sort keys
    T(
        "Which industries have more than {k} listed companies?",
        f"SELECT i.industry_name, count(*) AS stocks FROM stock s {IND} GROUP BY i.industry_name HAVING "
        f"count(*) > {{k}}",
        n=2,
        k=(2, 3),
    ),
    T(
        "Which stocks paid a dividend in every fiscal year from 2019 to 2023?",
        f"SELECT s.stock_name {DIV} GROUP BY s.stock_name HAVING count(DISTINCT d.fiscal_year) = 5",
    ),
    T(
        "Which fund types have an average management fee above {x}%?",
        "SELECT fund_type, avg(management_fee) AS avg_fee FROM fund GROUP BY fund_type HAVING "
        "avg(management_fee) > {x}",
        n=2,
        x=(0.5, 1.0),
    ),
    T(
        "Which holder types held more than {k} top-ten positions on {sh_date}?",
        "SELECT holder_type, count(*) AS positions FROM stock_shareholder WHERE report_date = '{sh_date}' "
        "GROUP BY holder_type HAVING count(*) > {k}",
        "sh_date",
        n=2,
        k=(30, 40),
    ),
    T(
        "Which funds had a higher return in {year} than in {prev}?",
        "SELECT f.fund_name, a.return_pct, b.return_pct FROM fund_return a JOIN fund_return b ON "
        "a.fund_code = b.fund_code "
        "JOIN fund f ON a.fund_code = f.fund_code WHERE a.year = {year} AND b.year = {prev} "
        "AND a.return_pct > b.return_pct",
        "year_pair",
        n=2,
    ),
    T(
        (
            "Which funds charge more than the average management fee?",
            "List the funds whose management fee is above average.",
        ),
        "SELECT fund_name, management_fee FROM fund WHERE management_fee > (SELECT avg(management_fee) FROM "
        "fund)",
    ),
    T(
        "Which companies have more employees than {stock}?",
        "SELECT stock_name, employees FROM stock WHERE employees > "
        "(SELECT employees FROM stock WHERE stock_name = '{stock}')",
        "stock",
        n=2,
    ),
    T(
        "What was the {code} rate on the first trading day of {year}?",
        "SELECT rate_date, mid_rate FROM exchange_rate WHERE currency_code = '{code}' "
        "AND rate_date = (SELECT min(rate_date) FROM exchange_rate WHERE year(rate_date) = {year})",
        "currency",
        "year_px",
        n=2,
    ),
    T(
        "On how many days in {year} did {stock} open above the previous close?",
        f"SELECT count(*) {PX} WHERE s.stock_name = '{{stock}}' AND year(p.trade_date) = {{year}} "
        "AND p.open_price > p.prev_close",
        "stock",
        "year_px",
        n=2,
    ),
    T(
        "Which funds returned less than their benchmark in {year}?",
        f"SELECT f.fund_name, r.return_pct, r.benchmark_return_pct {RET} WHERE r.year = {{year}} "
        "AND r.return_pct < r.benchmark_return_pct",
        "year_ret",
        n=2,
    ),
    T(
        ("Which fund managers do not hold the CFA charter?", "List the fund managers without a CFA."),
        "SELECT manager_name FROM fund_manager WHERE NOT certified_cfa",
    ),
    T(
        ("Which bonds are not rated AAA?", "List the bonds with a rating other than AAA."),
        "SELECT bond_name, credit_rating FROM bond WHERE credit_rating <> 'AAA'",
    ),
    T(
        "Which funds other than {fund_type} funds have risk level {risk}?",
        "SELECT fund_name, fund_type FROM fund WHERE fund_type <> '{fund_type}' AND risk_level = '{risk}'",
        "fund_type",
        "risk",
        n=2,
    ),
    T(
        ("List all funds sorted by type and then by name.",),
        "SELECT fund_type, fund_name FROM fund ORDER BY fund_type, fund_name",
    ),
    T(
        ("List the fund managers with their company, sorted by company and then manager name.",),
        "SELECT fc.company_name, fm.manager_name FROM fund_manager fm JOIN fund_company fc ON fm.company_id "
        "= fc.company_id "
        "ORDER BY fc.company_name, fm.manager_name",
    ),
    T(
        "Which {k} funds had the lowest volatility in {year}?",
        f"SELECT f.fund_name, r.volatility_pct {RET} WHERE r.year = {{year}} ORDER BY r.volatility_pct "
        f"LIMIT {{k}}",
        "year_ret",
        n=2,
        k=(3, 5),
    ),
    T(
        "Which stock had the lowest closing price on {date}?",
        f"SELECT s.stock_name, p.close_price {PX} WHERE p.trade_date = '{{date}}' ORDER BY p.close_price "
        "LIMIT 1",
        "trade_date",
        n=2,
    ),
    T(
        "What was the price range (high minus low) of {stock} on {date_text}?",
        f"SELECT p.high_price - p.low_price AS price_range {PX} WHERE s.stock_name = '{{stock}}' "
        "AND p.trade_date = '{date}'",
        "stock",
        "trade_date",
        n=2,
    ),
    T(
        "How much did the {indicator} vary in {year} (maximum minus minimum)?",
        "SELECT max({col}) - min({col}) FROM macro_indicator WHERE year(report_month) = {year}",
        "indicator",
        "year_macro",
        n=2,
    ),
    T(
        "What was {stock}'s net profit as a percentage of revenue for fiscal {year}?",
        f"SELECT sum(fin.net_profit) / sum(fin.revenue) * 100 {FIN} WHERE s.stock_name = '{{stock}}' "
        "AND fin.fiscal_year = {year}",
        "stock",
        "year_fin",
        n=2,
    ),
    T(
        "What was the total revenue of each sector in {year}?",
        f"SELECT i.sector, sum(fin.revenue) AS revenue {FIN} {IND} WHERE fin.fiscal_year = {{year}} GROUP "
        "BY i.sector",
        "year_fin",
        n=2,
    ),
    T(
        "Which industry had the highest average {metric} in {year}?",
        f"SELECT i.industry_name, avg(fin.{{col}}) AS avg_value {FIN} {IND} WHERE fin.fiscal_year = {{year}} "
        "GROUP BY i.industry_name ORDER BY avg_value DESC LIMIT 1",
        "ratio",
        "year_fin",
        n=2,
    ),
    T(
        "Which fund company managed the most money at {qdate_text}?",
        f"SELECT fc.company_name, sum(fs.net_assets_mn) AS aum {SIZE} {FC} WHERE fs.report_date = "
        f"'{{qdate}}' "
        "GROUP BY fc.company_name ORDER BY aum DESC LIMIT 1",
        "qdate_size",
        n=2,
    ),
    T(
        ("How many funds are there at each risk level?", "Count the funds by risk level."),
        "SELECT risk_level, count(*) AS funds FROM fund GROUP BY risk_level ORDER BY risk_level",
    ),
    T(
        "When did {stock} first close above {x} CNY in {year}?",
        f"SELECT p.trade_date, p.close_price {PX} WHERE s.stock_name = '{{stock}}' AND year(p.trade_date) = "
        f"{{year}} "
        "AND p.close_price > {x} ORDER BY p.trade_date LIMIT 1",
        "stock",
        "year_px",
        n=2,
        x=(10, 20, 50),
    ),
    T(
        "How many trading days did {stock} have in {month_text}?",
        f"SELECT count(*) {PX} WHERE s.stock_name = '{{stock}}' AND p.trade_date BETWEEN '{{m_start}}' AND "
        f"'{{m_end}}'",
        "stock",
        "month_px",
        n=2,
    ),
    T(
        "Which managers at {company} have more than {x} years of experience?",
        "SELECT fm.manager_name, fm.years_of_experience FROM fund_manager fm "
        "JOIN fund_company fc ON fm.company_id = fc.company_id WHERE fc.company_name = '{company}' "
        "AND fm.years_of_experience > {x}",
        "company",
        n=2,
        x=(10, 12),
    ),
    T(
        "What was the total market value of the top ten holdings of {fund} on {hdate}?",
        f"SELECT sum(h.market_value_mn) {HOLD} WHERE f.fund_name = '{{fund}}' AND h.report_date = "
        f"'{{hdate}}'",
        "hfund",
        "hdate",
        n=2,
    ),
]

EVAL_TEMPLATES: list[Template] = [
    T(
        "Show me the five biggest {fund_type} funds by net assets on {qdate}, together with their fund "
        "company.",
        f"SELECT f.fund_name, fc.company_name, fs.net_assets_mn {SIZE} {FC} WHERE f.fund_type = "
        f"'{{fund_type}}' "
        "AND fs.report_date = '{qdate}' ORDER BY fs.net_assets_mn DESC LIMIT 5",
        "fund_type",
        "qdate_size",
    ),
    T(
        "Which sector has the most listed companies?",
        f"SELECT i.sector, count(*) AS stocks FROM stock s {IND} GROUP BY i.sector ORDER BY stocks DESC "
        "LIMIT 1",
    ),
    T(
        "What's the average coupon on {rating}-rated bonds?",
        "SELECT avg(coupon_rate) FROM bond WHERE credit_rating = '{rating}'",
        "rating",
    ),
    T(
        "What share of its revenue did {stock} spend on R&D in {year}, in percent?",
        f"SELECT sum(fin.rd_expense) / sum(fin.revenue) * 100 {FIN} WHERE s.stock_name = '{{stock}}' "
        "AND fin.fiscal_year = {year}",
        "stock",
        "year_fin",
        n=2,
    ),
    T(
        "Give me {fund}'s month-end unit NAV for the second half of {year}.",
        f"SELECT n.nav_date, n.unit_nav {NAV} WHERE f.fund_name = '{{fund}}' "
        "AND n.nav_date BETWEEN '{year}-07-01' AND '{year}-12-31' ORDER BY n.nav_date",
        "fund",
        "year_ret",
    ),
    T(
        "Which fund managers have a PhD but no CFA charter?",
        "SELECT manager_name FROM fund_manager WHERE education = 'PhD' AND NOT certified_cfa",
    ),
    T(
        "On how many trading days in {year} did {stock} close below its opening price?",
        f"SELECT count(*) {PX} WHERE s.stock_name = '{{stock}}' AND year(p.trade_date) = {{year}} "
        "AND p.close_price < p.open_price",
        "stock",
        "year_px",
    ),
    T(
        "Which banks had an ROE above {x}% in Q4 {year}?",
        f"SELECT s.stock_name, fin.roe {FIN} {IND} WHERE i.industry_name = 'Banking' AND fin.fiscal_year = "
        f"{{year}} "
        "AND fin.fiscal_quarter = 4 AND fin.roe > {x}",
        "year_fin",
        x=(15, 20),
    ),
    T(
        "Who issued the bond with the highest coupon rate, and what is the rate?",
        "SELECT issuer, bond_name, coupon_rate FROM bond ORDER BY coupon_rate DESC LIMIT 1",
    ),
    T(
        "In which months was the one-year loan prime rate below {x}%?",
        "SELECT report_month, lpr_1y FROM macro_indicator WHERE lpr_1y < {x}",
        x=(3.5, 3.6),
    ),
    T(
        "Count the bonds in each credit rating.",
        "SELECT credit_rating, count(*) AS bonds FROM bond GROUP BY credit_rating",
    ),
    T(
        "Which currency had the highest average central parity rate in {year}?",
        "SELECT currency_code, avg(mid_rate) AS avg_rate FROM exchange_rate WHERE year(rate_date) = {year} "
        "GROUP BY currency_code ORDER BY avg_rate DESC LIMIT 1",
        "year_px",
    ),
    T(
        "Which funds did {manager} take over after {year}?",
        f"SELECT f.fund_name, t.start_date {TEN} WHERE fm.manager_name = '{{manager}}' "
        "AND t.start_date > '{year}-12-31'",
        "manager",
        year=(2015, 2018),
    ),
    T(
        "For each fiscal year, how many companies paid a cash dividend?",
        "SELECT fiscal_year, count(DISTINCT ticker) AS companies FROM stock_dividend GROUP BY fiscal_year "
        "ORDER BY fiscal_year",
    ),
    T(
        "Which mutual funds were among the top ten holders of {stock} at the end of 2024?",
        f"SELECT sh.holder_name FROM stock_shareholder sh {S_JOIN.format(a='sh')} WHERE s.stock_name = "
        f"'{{stock}}' "
        "AND sh.report_date = '2024-12-31' AND sh.holder_type = 'mutual fund'",
        "stock",
        n=2,
    ),
    T(
        "Break down the funds of {company} by fund type.",
        f"SELECT f.fund_type, count(*) AS funds FROM fund f {FC} WHERE fc.company_name = '{{company}}' "
        "GROUP BY f.fund_type",
        "company",
        n=2,
    ),
    T(
        "Give the daily high and low of {stock} between {d1_text} and {d2_text}.",
        f"SELECT p.trade_date, p.high_price, p.low_price {PX} WHERE s.stock_name = '{{stock}}' "
        "AND p.trade_date BETWEEN '{d1}' AND '{d2}' ORDER BY p.trade_date",
        "stock",
        "week",
    ),
    T(
        "List the funds that lost money in {year}, worst first.",
        f"SELECT f.fund_name, r.return_pct {RET} WHERE r.year = {{year}} AND r.return_pct < 0 ORDER BY "
        "r.return_pct",
        year=(2022,),
    ),
    T(
        "What was the average 10-year government bond yield in each year since {year}?",
        "SELECT year(report_month) AS year, avg(cgb_10y_yield) AS avg_yield FROM macro_indicator "
        "WHERE report_month >= '{year}-01-01' GROUP BY year(report_month) ORDER BY year",
        year=(2020,),
    ),
    T(
        "Which months of {year} saw consumer prices fall year on year?",
        "SELECT report_month, cpi_yoy FROM macro_indicator WHERE year(report_month) = {year} AND cpi_yoy < 0",
        year=(2023, 2024),
    ),
    T(
        "What was the average net margin of {industry} companies in {year}?",
        f"SELECT avg(fin.net_margin) {FIN} {IND} WHERE i.industry_name = '{{industry}}' AND fin.fiscal_year "
        f"= {{year}}",
        "industry",
        "year_fin",
        n=2,
    ),
    T(
        "Which stock was the biggest position by market value in {fund} on {hdate_text}?",
        f"SELECT s.stock_name, h.market_value_mn {HOLD} WHERE f.fund_name = '{{fund}}' AND h.report_date = "
        f"'{{hdate}}' "
        "ORDER BY h.market_value_mn DESC LIMIT 1",
        "hfund",
        "hdate",
        n=2,
    ),
    T(
        "How much cash did each sector pay out in dividends for fiscal {year}?",
        f"SELECT i.sector, sum(d.total_cash_dividend_mn) AS cash_mn {DIV} {IND} WHERE d.fiscal_year = "
        f"{{year}} "
        "GROUP BY i.sector",
        "year_div",
    ),
    T(
        "Which funds have had more than two managers over their history?",
        "SELECT f.fund_name, count(*) AS managers FROM fund_manager_tenure t JOIN fund f ON t.fund_code = "
        "f.fund_code "
        "GROUP BY f.fund_name HAVING count(*) > 2",
    ),
    T(
        "Which {board} companies had quarterly revenue above {x} million CNY in Q{q} {year}?",
        f"SELECT s.stock_name, fin.revenue {FIN} WHERE s.board = '{{board}}' AND fin.fiscal_year = {{year}} "
        "AND fin.fiscal_quarter = {q} AND fin.revenue > {x}",
        "board",
        "year_fin",
        "quarter",
        x=(1000, 5000),
    ),
    T(
        "What were the three busiest trading days for {stock} in {year} by turnover amount?",
        f"SELECT p.trade_date, p.amount_mn {PX} WHERE s.stock_name = '{{stock}}' AND year(p.trade_date) = "
        f"{{year}} "
        "ORDER BY p.amount_mn DESC LIMIT 3",
        "stock",
        "year_px",
    ),
    T(
        "How many unit holders did {fund} have at the end of {year}?",
        f"SELECT fs.num_holders {SIZE} WHERE f.fund_name = '{{fund}}' AND fs.report_date = '{{year}}-12-31'",
        "fund",
        "year_ret",
    ),
    T(
        "Which index fund has the lowest management fee?",
        "SELECT fund_name, management_fee FROM fund WHERE fund_type = 'index' ORDER BY management_fee LIMIT "
        "1",
    ),
    T(
        "When did {manager} start managing {fund}?",
        f"SELECT t.start_date {TEN} WHERE fm.manager_name = '{{manager}}' AND f.fund_name = '{{fund}}'",
        "tenure_pair",
    ),
    T(
        "What was the British Pound's central parity rate on the last trading day of {year}?",
        "SELECT mid_rate FROM exchange_rate WHERE currency_code = 'GBP' "
        "AND rate_date = (SELECT max(rate_date) FROM exchange_rate WHERE year(rate_date) = {year})",
        "year_px",
    ),
    T(
        "Which bonds mature between {y1} and {y2}?",
        "SELECT bond_name, maturity_date FROM bond WHERE maturity_date BETWEEN '{y1}-01-01' AND '{y2}-12-31'",
        y1=(2025,),
        y2=(2026,),
    ),
    T(
        "Which female fund managers work at {company}?",
        "SELECT fm.manager_name FROM fund_manager fm JOIN fund_company fc ON fm.company_id = fc.company_id "
        "WHERE fc.company_name = '{company}' AND fm.gender = 'F'",
        "company",
    ),
    T(
        "Which private fund companies were founded after 2005?",
        "SELECT company_name, founded_date FROM fund_company WHERE ownership_type = 'private' "
        "AND founded_date > '2005-12-31'",
    ),
    T(
        "Compare {stock}'s operating cash flow with its net profit for each quarter of {year}.",
        f"SELECT fin.fiscal_quarter, fin.operating_cash_flow, fin.net_profit {FIN} WHERE s.stock_name = "
        f"'{{stock}}' "
        "AND fin.fiscal_year = {year} ORDER BY fin.fiscal_quarter",
        "stock",
        "year_fin",
    ),
    T(
        "Which stocks fell by more than {x}% on {date_text}?",
        f"SELECT s.stock_name, p.change_pct {PX} WHERE p.trade_date = '{{date}}' AND p.change_pct < -{{x}}",
        "trade_date",
        x=(2, 3),
    ),
    T(
        "What was the average turnover rate of each industry in {month_text}?",
        f"SELECT i.industry_name, avg(p.turnover_rate) AS avg_turnover {PX} {IND} "
        "WHERE p.trade_date BETWEEN '{m_start}' AND '{m_end}' GROUP BY i.industry_name",
        "month_px",
    ),
    T(
        "List the fund managers with more than 15 years of experience, most experienced first.",
        "SELECT manager_name, years_of_experience FROM fund_manager WHERE years_of_experience > 15 "
        "ORDER BY years_of_experience DESC, manager_name",
    ),
    T(
        "Which company issued the largest bond traded on the {market}?",
        "SELECT issuer, bond_name, issue_size_mn FROM bond WHERE market = '{market}' "
        "ORDER BY issue_size_mn DESC LIMIT 1",
        market=("SSE",),
    ),
    T(
        "What is the total issue size of bonds rated below AAA?",
        "SELECT sum(issue_size_mn) FROM bond WHERE credit_rating <> 'AAA'",
    ),
    T(
        "Which cities are home to at least two listed companies, and how many does each have?",
        "SELECT headquarters_city, count(*) AS stocks FROM stock GROUP BY headquarters_city HAVING count(*) "
        ">= 2",
    ),
    T(
        "In which year did {fund} suffer its deepest drawdown, and how deep was it?",
        f"SELECT r.year, r.max_drawdown_pct {RET} WHERE f.fund_name = '{{fund}}' "
        "ORDER BY r.max_drawdown_pct DESC LIMIT 1",
        "fund",
    ),
    T(
        "Which {fund_type} fund beat its benchmark by the widest margin in {year}?",
        f"SELECT f.fund_name, r.excess_return_pct {RET} WHERE f.fund_type = '{{fund_type}}' AND r.year = "
        f"{{year}} "
        "ORDER BY r.excess_return_pct DESC LIMIT 1",
        "fund_type",
        "year_ret",
        n=2,
    ),
    T(
        "What were the year-end {year} net assets of the funds currently run by {manager}?",
        f"SELECT f.fund_name, fs.net_assets_mn {SIZE} JOIN fund_manager fm ON f.manager_id = fm.manager_id "
        "WHERE fm.manager_name = '{manager}' AND fs.report_date = '{year}-12-31'",
        "manager",
        "year_ret",
    ),
    T(
        "What was {fund}'s average monthly return over {year}?",
        f"SELECT avg(n.monthly_return_pct) {NAV} WHERE f.fund_name = '{{fund}}' AND year(n.nav_date) = "
        f"{{year}}",
        "fund",
        "year_ret",
    ),
    T(
        "For how many months of {year} was the manufacturing PMI at or above 50?",
        "SELECT count(*) FROM macro_indicator WHERE year(report_month) = {year} AND pmi_manufacturing >= 50",
        "year_macro",
    ),
    T(
        "What was China's total nominal GDP in {year}?",
        "SELECT sum(gdp_nominal_trn) FROM macro_indicator WHERE year(report_month) = {year}",
        "year_macro",
    ),
    T(
        "How many yuan did 100 Japanese yen cost on {date_text}?",
        "SELECT mid_rate FROM exchange_rate WHERE currency_code = 'JPY' AND rate_date = '{date}'",
        "trade_date",
    ),
    T(
        "By how much did the US dollar rate swing between its high and low in {year}?",
        "SELECT max(mid_rate) - min(mid_rate) FROM exchange_rate WHERE currency_code = 'USD' "
        "AND year(rate_date) = {year}",
        "year_px",
    ),
    T(
        "Which {industry} stocks paid a dividend for fiscal {year}, and how much per share?",
        f"SELECT s.stock_name, d.cash_dividend_per_share {DIV} {IND} WHERE i.industry_name = '{{industry}}' "
        "AND d.fiscal_year = {year}",
        "industry",
        "year_div",
    ),
    T(
        "Which fund companies run at least {k} funds?",
        f"SELECT fc.company_name, count(*) AS funds FROM fund f {FC} GROUP BY fc.company_name HAVING "
        f"count(*) >= {{k}}",
        k=(4,),
    ),
    T(
        "What is the average registered capital of fund companies by ownership type?",
        "SELECT ownership_type, avg(registered_capital_mn) AS avg_capital FROM fund_company GROUP BY "
        "ownership_type",
    ),
    T(
        "Which shareholders of {stock} on {sh_date} were new to its top ten list?",
        f"SELECT sh.holder_name, sh.holding_pct {SH} WHERE s.stock_name = '{{stock}}' "
        "AND sh.report_date = '{sh_date}' AND sh.change_mn IS NULL",
        "stock",
        "sh_date",
    ),
    T(
        "What stake did the ten largest shareholders of {stock} hold together on {sh_date_text}?",
        f"SELECT sum(sh.holding_pct) {SH} WHERE s.stock_name = '{{stock}}' AND sh.report_date = "
        f"'{{sh_date}}'",
        "stock",
        "sh_date",
    ),
    T(
        "List every industry with its sector, in alphabetical order.",
        "SELECT industry_name, sector FROM industry ORDER BY industry_name",
    ),
    T(
        "What was the average closing price of each {industry} stock in {year}?",
        f"SELECT s.stock_name, avg(p.close_price) AS avg_close {PX} {IND} WHERE i.industry_name = "
        f"'{{industry}}' "
        "AND year(p.trade_date) = {year} GROUP BY s.stock_name",
        "industry",
        "year_px",
    ),
    T(
        "Which {k} companies had the largest total assets at the end of {year}?",
        f"SELECT s.stock_name, fin.total_assets {FIN} WHERE fin.report_date = '{{year}}-12-31' "
        "ORDER BY fin.total_assets DESC LIMIT {k}",
        "year_fin",
        k=(5,),
    ),
    T(
        "Which companies had higher revenue in Q4 {year} than in Q4 of the year before?",
        "SELECT s.stock_name FROM stock_financials a JOIN stock_financials b ON a.ticker = b.ticker "
        "JOIN stock s ON a.ticker = s.ticker WHERE a.report_date = '{year}-12-31' "
        "AND b.report_date = '{prev}-12-31' AND a.revenue > b.revenue",
        "year_pair",
    ),
    T(
        "Which fund managers are currently in charge of more than one fund?",
        "SELECT fm.manager_name, count(*) AS funds FROM fund f JOIN fund_manager fm ON f.manager_id = "
        "fm.manager_id "
        "GROUP BY fm.manager_name HAVING count(*) > 1",
    ),
    T(
        "What was {stock}'s opening price on its first trading day of {year}?",
        f"SELECT p.trade_date, p.open_price {PX} WHERE s.stock_name = '{{stock}}' AND year(p.trade_date) = "
        f"{{year}} "
        "ORDER BY p.trade_date LIMIT 1",
        "stock",
        "year_px",
    ),
    T(
        "How many shares changed hands across all stocks on {date_text}?",
        "SELECT sum(volume) FROM stock_daily_price WHERE trade_date = '{date}'",
        "trade_date",
    ),
    T(
        "Which money market funds require a minimum purchase of at least 100 CNY?",
        "SELECT fund_name, min_purchase FROM fund WHERE fund_type = 'money market' AND min_purchase >= 100",
    ),
    T(
        "Which policy bank bonds have a 10-year term?",
        "SELECT bond_name, issuer FROM bond WHERE bond_type = 'policy bank' AND term_years = 10",
    ),
    T(
        "How did {fund}'s return compare with its benchmark in each year?",
        f"SELECT r.year, r.return_pct, r.benchmark_return_pct {RET} WHERE f.fund_name = '{{fund}}' ORDER BY "
        "r.year",
        "fund",
    ),
    T(
        "In which months between {y1} and {y2} did new loans exceed 3000 billion yuan?",
        "SELECT report_month, new_loans_bn FROM macro_indicator WHERE new_loans_bn > 3000 "
        "AND year(report_month) BETWEEN {y1} AND {y2}",
        y1=(2018,),
        y2=(2022,),
    ),
    T(
        "Which funds launched before 2010 are still open to new investors?",
        "SELECT fund_name, inception_date FROM fund WHERE inception_date < '2010-01-01' AND status = 'open'",
    ),
    T(
        "Do CFA charterholders have more experience? Show the average years of experience with and without "
        "a CFA.",
        "SELECT certified_cfa, avg(years_of_experience) AS avg_years FROM fund_manager GROUP BY "
        "certified_cfa",
    ),
    T(
        "How many trading days were there in {year}?",
        "SELECT count(DISTINCT trade_date) FROM stock_daily_price WHERE year(trade_date) = {year}",
        "year_px",
    ),
    T(
        "Which {fund_type} funds were larger than {x} million CNY at the end of {year}?",
        f"SELECT f.fund_name, fs.net_assets_mn {SIZE} WHERE f.fund_type = '{{fund_type}}' "
        "AND fs.report_date = '{year}-12-31' AND fs.net_assets_mn > {x}",
        "fund_type",
        "year_ret",
        x=(5000, 10000),
    ),
    T(
        "What was the month-end accumulated NAV of fund {fund_code} in {month_text}?",
        "SELECT accumulated_nav FROM fund_nav WHERE fund_code = '{fund_code}' AND nav_date = '{nav_date}'",
        "fund",
        "month_nav",
    ),
    T(
        "Which stocks in the {sector} sector are headquartered in {city}?",
        f"SELECT s.stock_name FROM stock s {IND} WHERE i.sector = '{{sector}}' AND s.headquarters_city = "
        f"'{{city}}'",
        "sector",
        "city_stock",
    ),
    T(
        "Which {stock} shareholders cut their stake in the report of {sh_date_text}, and by how much?",
        f"SELECT sh.holder_name, sh.change_mn {SH} WHERE s.stock_name = '{{stock}}' "
        "AND sh.report_date = '{sh_date}' AND sh.change_mn < 0",
        "stock",
        "sh_date",
    ),
    T(
        "What was the highest close of each stock in the {industry} industry during {month_text}?",
        f"SELECT s.stock_name, max(p.close_price) AS max_close {PX} {IND} WHERE i.industry_name = "
        f"'{{industry}}' "
        "AND p.trade_date BETWEEN '{m_start}' AND '{m_end}' GROUP BY s.stock_name",
        "industry",
        "month_px",
    ),
    T(
        "How many funds held more than {x}% of their NAV in {stock} on {hdate_text}?",
        f"SELECT count(*) {HOLD} WHERE s.stock_name = '{{stock}}' AND h.report_date = '{{hdate}}' "
        "AND h.pct_of_nav > {x}",
        "stock",
        "hdate",
        x=(3, 5),
    ),
    T(
        "Which fund companies are headquartered in the same city as {company}?",
        "SELECT company_name FROM fund_company WHERE headquarters_city = "
        "(SELECT headquarters_city FROM fund_company WHERE company_name = '{company}') "
        "AND company_name <> '{company}'",
        "company",
    ),
]


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def _extra_pools(con: duckdb.DuckDBPyConnection, pools: dict[str, dict[str, list[dict]]]) -> None:
    """Pools of related values that must be drawn together."""
    eval_managers = {r["manager"] for r in pools["manager"]["eval"]}
    pairs = [
        {"manager": m, "fund": f}
        for m, f in con.execute(
            "SELECT fm.manager_name, f.fund_name FROM fund_manager_tenure t JOIN fund f ON t.fund_code = "
            "f.fund_code "
            "JOIN fund_manager fm ON t.manager_id = fm.manager_id ORDER BY 1, 2"
        ).fetchall()
    ]
    pools["tenure_pair"] = {
        "train": [p for p in pairs if p["manager"] not in eval_managers],
        "eval": [p for p in pairs if p["manager"] in eval_managers],
    }
    pools["year_pair"] = _both([{"year": y, "prev": y - 1} for y in range(2020, 2025)])


def _sql_value(v: object) -> object:
    return v.replace("'", "''") if isinstance(v, str) else v


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _instances(
    con: duckdb.DuckDBPyConnection,
    template: Template,
    pools: dict[str, dict[str, list[dict]]],
    split: str,
    rng: random.Random,
    taken_questions: set[str],
    forbidden_sql: set[str],
) -> list[dict]:
    out: list[dict] = []
    seen_sql: set[str] = set()
    reasons: set[str] = set()
    leads: set[str] = set()
    offset = rng.randrange(len(template.questions))
    for _attempt in range(60 * template.n):
        if len(out) == template.n:
            break
        slots: dict[str, object] = {}
        drawn: list[object] = []
        for name in template.use:
            drawn.append(rng.choice(pools[name][split]))
            slots.update(drawn[-1])
        for name, choices in template.vals.items():
            drawn.append(rng.choice(choices))
            slots.update(drawn[-1] if isinstance(drawn[-1], dict) else {name: drawn[-1]})
        # the first slot value (the main entity) differs between instances while the attempts allow it
        lead = repr(drawn[0])
        sql = template.sql.format(**{k: _sql_value(v) for k, v in slots.items()})
        question = template.questions[(offset + len(out)) % len(template.questions)].format(**slots)
        question = re.sub(r"(?<=s)'s\b", "'", question[0].upper() + question[1:])
        if lead in leads and _attempt < 30 * template.n:
            continue
        if sql in seen_sql or _norm(sql) in forbidden_sql or _norm(question) in taken_questions:
            continue
        reason = check_sql(con, sql)
        if reason is not None:
            reasons.add(reason)
            continue
        seen_sql.add(sql)
        leads.add(lead)
        taken_questions.add(_norm(question))
        out.append({"question": question, "sql": sql, "category": categories(sql), "db": DB_NAME})
    if len(out) < template.n:
        raise RuntimeError(
            f"template could only produce {len(out)} of {template.n} {split} items: "
            f"{template.questions[0]!r} "
            f"(rejected: {sorted(reasons)})"
        )
    return out


def _no_slot_items(con: duckdb.DuckDBPyConnection, template: Template, taken: set[str]) -> list[dict]:
    """A template without slots: one item per phrasing (all sharing the SQL)."""
    reason = check_sql(con, template.sql)
    if reason is not None:
        raise RuntimeError(f"gold SQL fails ({reason}): {template.sql}")
    out = []
    for q in template.questions:
        if _norm(q) in taken:
            raise RuntimeError(f"duplicate question: {q!r}")
        taken.add(_norm(q))
        out.append({"question": q, "sql": template.sql, "category": categories(template.sql), "db": DB_NAME})
    return out


def generate(con: duckdb.DuckDBPyConnection, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Train and eval items, checked on the open database."""
    rng = random.Random(seed)
    pools = build_pools(con)
    _extra_pools(con, pools)
    train: list[dict] = []
    taken: set[str] = set()
    for template in TRAIN_TEMPLATES:
        if not template.use and not template.vals:
            train.extend(_no_slot_items(con, template, taken))
        else:
            train.extend(_instances(con, template, pools, "train", rng, taken, set()))
    rng.shuffle(train)
    train_sql = {_norm(item["sql"]) for item in train}
    evals: list[dict] = []
    for template in EVAL_TEMPLATES:
        if not template.use and not template.vals:
            if _norm(template.sql) in train_sql:
                raise RuntimeError(f"eval SQL also in train: {template.sql}")
            items = _no_slot_items(con, template, taken)
            evals.extend(items[: template.n])
        else:
            evals.extend(_instances(con, template, pools, "eval", rng, taken, train_sql))
    _validate(train, evals)
    return train, evals


def _validate(train: list[dict], evals: list[dict]) -> None:
    if not TRAIN_RANGE[0] <= len(train) <= TRAIN_RANGE[1]:
        raise RuntimeError(f"train has {len(train)} items, expected {TRAIN_RANGE}")
    if len(evals) != EVAL_SIZE:
        raise RuntimeError(f"eval has {len(evals)} items, expected {EVAL_SIZE}")
    counts = category_counts(evals)
    short = {c: n for c, n in counts.items() if n < MIN_PER_CATEGORY}
    if short:
        raise RuntimeError(f"eval categories below {MIN_PER_CATEGORY}: {short}")
    unlabelled = [i["question"] for i in train + evals if not i["category"]]
    if unlabelled:
        raise RuntimeError(f"items without a category: {unlabelled[:3]}")
    overlap = {_norm(i["question"]) for i in train} & {_norm(i["question"]) for i in evals}
    if overlap:
        raise RuntimeError(f"eval questions found in train: {sorted(overlap)[:3]}")


def category_counts(items: list[dict]) -> dict[str, int]:
    return {c: sum(c in item["category"] for item in items) for c in CATEGORIES}


def skeleton(sql: str) -> str:
    """The SQL with literals masked, for comparing query shapes."""
    masked = re.sub(r"'(?:[^']|'')*'", "'?'", sql)
    return _norm(re.sub(r"\b\d+(?:\.\d+)?\b", "?", masked))


def _dump(items: list[dict]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the demo train/eval question-SQL pairs.")
    ap.add_argument("--out-dir", default=str(DATA), help="where to write train.jsonl and eval.jsonl")
    ap.add_argument("--db", help="an existing default-seed demo database (built into a temp dir if omitted)")
    ap.add_argument("--seed", type=int, default=0, help="random seed for drawing slot values (default 0)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="finsql-pairs-") as tmp:
        db = args.db
        if db is None:
            db = str(Path(tmp) / "demo.duckdb")
            build_demo.build(db)
        con = duckdb.connect(db, read_only=True)
        try:
            train, evals = generate(con, args.seed)
        finally:
            con.close()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.jsonl").write_text(_dump(train), encoding="utf-8")
    (out / "eval.jsonl").write_text(_dump(evals), encoding="utf-8")
    train_shapes = {skeleton(i["sql"]) for i in train}
    shared = sum(skeleton(i["sql"]) in train_shapes for i in evals)
    print(f"train: {len(train)} pairs {category_counts(train)}")
    print(f"eval:  {len(evals)} pairs {category_counts(evals)}")
    print(f"eval items whose SQL shape also occurs in train: {shared}/{len(evals)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
