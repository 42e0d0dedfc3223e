"""Build the deterministic demo financial database (DuckDB).

The database holds fictional but realistic Chinese-market style finance data: listed stocks with daily
prices, dividends, top shareholders and quarterly financial statements; mutual funds with their
companies, managers, NAV history, returns, sizes and top holdings; monthly macro indicators,
exchange rates and bonds. Every table and column carries a plain English comment, and primary and
foreign keys are declared, so the schema linker has something to work with.

Usage::

    python data/build_demo.py OUT.duckdb [--seed N]

The same seed always gives the same contents. The file is written to a temporary directory next to
the target and moved into place with :func:`os.replace`, so an interrupted build never leaves a
half-written database at the target path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

START_YEAR_FUND = 2019
END_YEAR = 2024
PRICE_START = dt.date(2022, 1, 1)
PRICE_END = dt.date(2024, 12, 31)

# --------------------------------------------------------------------------------------------
# Schema: one list drives CREATE TABLE, keys and comments.
# Each table: (name, comment, [(column, type, comment)], primary key columns, [(cols, ref, ref_cols)])
# --------------------------------------------------------------------------------------------

SCHEMA: list[tuple[str, str, list[tuple[str, str, str]], tuple[str, ...], list[tuple]]] = [
    (
        "industry",
        "Industry classification of listed stocks: one row per industry with its broader sector.",
        [
            ("industry_id", "INTEGER", "Unique industry identifier"),
            ("industry_name", "VARCHAR", "Industry name, e.g. 'Banking' or 'Semiconductors'"),
            (
                "sector",
                "VARCHAR",
                "Broad sector the industry belongs to, e.g. 'Financials', 'Consumer Staples'",
            ),
            ("description", "VARCHAR", "Short description of the businesses in this industry"),
        ],
        ("industry_id",),
        [],
    ),
    (
        "stock",
        "Listed companies (A-share stocks): ticker, company name, industry, exchange, board and "
        "share counts.",
        [
            ("ticker", "VARCHAR", "Six-digit stock code, e.g. '600015'"),
            ("stock_name", "VARCHAR", "Company / stock name, e.g. 'Northwind Bank'"),
            ("industry_id", "INTEGER", "Industry of the company; references industry.industry_id"),
            ("exchange", "VARCHAR", "Stock exchange: 'SSE' (Shanghai) or 'SZSE' (Shenzhen)"),
            ("board", "VARCHAR", "Listing board: 'Main Board', 'ChiNext' or 'STAR Market'"),
            ("listing_date", "DATE", "Date the stock was first listed (IPO date)"),
            ("headquarters_city", "VARCHAR", "City where the company is headquartered"),
            ("total_shares_mn", "DOUBLE", "Total shares outstanding, in millions of shares"),
            ("float_shares_mn", "DOUBLE", "Tradable (free float) shares, in millions of shares"),
            ("employees", "INTEGER", "Number of employees at the latest annual report"),
        ],
        ("ticker",),
        [(("industry_id",), "industry", ("industry_id",))],
    ),
    (
        "stock_daily_price",
        "Daily trading data of stocks on every trading day from 2022-01-04 to 2024-12-31: "
        "open, high, low and close prices, volume and turnover.",
        [
            ("ticker", "VARCHAR", "Stock code; references stock.ticker"),
            ("trade_date", "DATE", "Trading day"),
            ("open_price", "DOUBLE", "Opening price in CNY"),
            ("high_price", "DOUBLE", "Highest price of the day in CNY"),
            ("low_price", "DOUBLE", "Lowest price of the day in CNY"),
            ("close_price", "DOUBLE", "Closing price in CNY"),
            ("prev_close", "DOUBLE", "Previous trading day's closing price in CNY"),
            ("change_pct", "DOUBLE", "Daily price change versus the previous close, in percent"),
            ("volume", "BIGINT", "Trading volume in shares"),
            ("amount_mn", "DOUBLE", "Trading value (turnover amount) in millions of CNY"),
            ("turnover_rate", "DOUBLE", "Volume as a share of float shares, in percent"),
        ],
        ("ticker", "trade_date"),
        [(("ticker",), "stock", ("ticker",))],
    ),
    (
        "stock_dividend",
        "Annual cash dividends and bonus shares paid by listed companies, per fiscal year.",
        [
            ("dividend_id", "INTEGER", "Unique dividend event identifier"),
            ("ticker", "VARCHAR", "Stock code; references stock.ticker"),
            ("fiscal_year", "INTEGER", "Fiscal year the dividend is paid for"),
            ("announce_date", "DATE", "Date the dividend plan was announced"),
            ("record_date", "DATE", "Shareholder record date"),
            ("ex_dividend_date", "DATE", "Ex-dividend date"),
            ("cash_dividend_per_share", "DOUBLE", "Cash dividend per share before tax, in CNY"),
            ("bonus_shares_per_10", "DOUBLE", "Bonus (stock dividend) shares given per 10 shares held"),
            ("total_cash_dividend_mn", "DOUBLE", "Total cash paid out, in millions of CNY"),
            ("payout_ratio", "DOUBLE", "Cash dividend as a share of annual net profit, in percent"),
        ],
        ("dividend_id",),
        [(("ticker",), "stock", ("ticker",))],
    ),
    (
        "stock_shareholder",
        "Top ten shareholders of each listed company at each semi-annual report date.",
        [
            ("ticker", "VARCHAR", "Stock code; references stock.ticker"),
            ("report_date", "DATE", "Report date of the shareholder list (June 30 or December 31)"),
            ("holder_rank", "INTEGER", "Rank of the shareholder by shares held (1 = largest)"),
            ("holder_name", "VARCHAR", "Name of the shareholder (company, fund or person)"),
            (
                "holder_type",
                "VARCHAR",
                "Shareholder type: 'parent company', 'state-owned', 'mutual fund', 'social security', "
                "'insurance', 'foreign institution', 'clearing house' or 'individual'",
            ),
            ("shares_held_mn", "DOUBLE", "Shares held, in millions of shares"),
            ("holding_pct", "DOUBLE", "Shares held as a percentage of total shares"),
            (
                "change_mn",
                "DOUBLE",
                "Change in shares held versus the previous report, in millions of shares; NULL if the holder "
                "was not in the previous top ten",
            ),
        ],
        ("ticker", "report_date", "holder_rank"),
        [(("ticker",), "stock", ("ticker",))],
    ),
    (
        "stock_financials",
        "Quarterly financial statements of listed companies (income statement, balance sheet, cash flow "
        "and ratios), 2019 Q1 to 2024 Q4. Income and cash-flow items cover the single quarter; balance "
        "sheet items are at quarter end. Amounts in millions of CNY.",
        [
            ("ticker", "VARCHAR", "Stock code; references stock.ticker"),
            ("report_date", "DATE", "Quarter end date of the report, e.g. 2024-03-31"),
            ("fiscal_year", "INTEGER", "Fiscal year of the report"),
            ("fiscal_quarter", "INTEGER", "Fiscal quarter of the report, 1 to 4"),
            ("revenue", "DOUBLE", "Operating revenue for the quarter, in millions of CNY"),
            ("operating_cost", "DOUBLE", "Cost of revenue for the quarter, in millions of CNY"),
            ("gross_profit", "DOUBLE", "Revenue minus cost of revenue, in millions of CNY"),
            ("selling_expense", "DOUBLE", "Selling and distribution expenses, in millions of CNY"),
            ("admin_expense", "DOUBLE", "General and administrative expenses, in millions of CNY"),
            ("rd_expense", "DOUBLE", "Research and development expenses, in millions of CNY"),
            ("finance_expense", "DOUBLE", "Net financial (interest) expenses, in millions of CNY"),
            ("operating_profit", "DOUBLE", "Operating profit for the quarter, in millions of CNY"),
            ("total_profit", "DOUBLE", "Profit before tax, in millions of CNY"),
            ("income_tax", "DOUBLE", "Income tax expense, in millions of CNY"),
            ("net_profit", "DOUBLE", "Net profit for the quarter, in millions of CNY"),
            (
                "net_profit_parent",
                "DOUBLE",
                "Net profit attributable to shareholders of the parent, in millions of CNY",
            ),
            ("eps_basic", "DOUBLE", "Basic earnings per share for the quarter, in CNY"),
            ("eps_diluted", "DOUBLE", "Diluted earnings per share for the quarter, in CNY"),
            ("total_assets", "DOUBLE", "Total assets at quarter end, in millions of CNY"),
            ("current_assets", "DOUBLE", "Current assets at quarter end, in millions of CNY"),
            ("cash_equivalents", "DOUBLE", "Cash and cash equivalents at quarter end, in millions of CNY"),
            ("accounts_receivable", "DOUBLE", "Accounts receivable at quarter end, in millions of CNY"),
            ("inventory", "DOUBLE", "Inventories at quarter end, in millions of CNY"),
            ("fixed_assets", "DOUBLE", "Property, plant and equipment at quarter end, in millions of CNY"),
            ("total_liabilities", "DOUBLE", "Total liabilities at quarter end, in millions of CNY"),
            ("current_liabilities", "DOUBLE", "Current liabilities at quarter end, in millions of CNY"),
            ("long_term_borrowings", "DOUBLE", "Long-term borrowings at quarter end, in millions of CNY"),
            ("total_equity", "DOUBLE", "Total shareholders' equity at quarter end, in millions of CNY"),
            ("operating_cash_flow", "DOUBLE", "Net cash flow from operating activities, in millions of CNY"),
            ("investing_cash_flow", "DOUBLE", "Net cash flow from investing activities, in millions of CNY"),
            ("financing_cash_flow", "DOUBLE", "Net cash flow from financing activities, in millions of CNY"),
            (
                "capital_expenditure",
                "DOUBLE",
                "Cash paid for fixed and intangible assets, in millions of CNY",
            ),
            ("roe", "DOUBLE", "Return on equity for the quarter (net profit / equity), in percent"),
            ("roa", "DOUBLE", "Return on assets for the quarter (net profit / total assets), in percent"),
            ("gross_margin", "DOUBLE", "Gross profit as a share of revenue, in percent"),
            ("net_margin", "DOUBLE", "Net profit as a share of revenue, in percent"),
            ("debt_to_assets", "DOUBLE", "Total liabilities as a share of total assets, in percent"),
            ("current_ratio", "DOUBLE", "Current assets divided by current liabilities (times)"),
        ],
        ("ticker", "report_date"),
        [(("ticker",), "stock", ("ticker",))],
    ),
    (
        "fund_company",
        "Fund management companies (asset managers) that run mutual funds.",
        [
            ("company_id", "INTEGER", "Unique fund company identifier"),
            ("company_name", "VARCHAR", "Company name, e.g. 'Blue Ridge Asset Management'"),
            ("founded_date", "DATE", "Date the company was founded"),
            ("headquarters_city", "VARCHAR", "City of the company's headquarters"),
            ("registered_capital_mn", "DOUBLE", "Registered capital, in millions of CNY"),
            (
                "ownership_type",
                "VARCHAR",
                "Ownership: 'state-owned', 'private', 'joint venture' or 'bank-affiliated'",
            ),
            ("employees", "INTEGER", "Number of employees"),
            ("website", "VARCHAR", "Company website address"),
        ],
        ("company_id",),
        [],
    ),
    (
        "fund_manager",
        "Portfolio managers who run funds, with their employer and background.",
        [
            ("manager_id", "INTEGER", "Unique fund manager identifier"),
            ("manager_name", "VARCHAR", "Full name of the fund manager, e.g. 'Emily Carter'"),
            ("company_id", "INTEGER", "Employer of the manager; references fund_company.company_id"),
            ("gender", "VARCHAR", "Gender: 'F' or 'M'"),
            ("education", "VARCHAR", "Highest degree: 'Bachelor', 'Master' or 'PhD'"),
            ("career_start_date", "DATE", "Date the manager started managing funds"),
            ("years_of_experience", "DOUBLE", "Years of fund management experience as of 2024-12-31"),
            ("certified_cfa", "BOOLEAN", "Whether the manager holds the CFA charter"),
        ],
        ("manager_id",),
        [(("company_id",), "fund_company", ("company_id",))],
    ),
    (
        "fund",
        "Mutual funds: name, type, managing company, current manager, inception date, fees and risk level.",
        [
            ("fund_code", "VARCHAR", "Six-digit fund code, e.g. '110011'"),
            ("fund_name", "VARCHAR", "Fund name, e.g. 'Harbor Growth Equity Fund'"),
            ("fund_type", "VARCHAR", "Fund type: 'equity', 'bond', 'hybrid', 'money market' or 'index'"),
            ("company_id", "INTEGER", "Managing fund company; references fund_company.company_id"),
            ("manager_id", "INTEGER", "Current lead fund manager; references fund_manager.manager_id"),
            ("inception_date", "DATE", "Date the fund was launched"),
            ("risk_level", "VARCHAR", "Risk rating from 'R1' (lowest) to 'R5' (highest)"),
            ("management_fee", "DOUBLE", "Annual management fee, in percent of net assets"),
            ("custodian_fee", "DOUBLE", "Annual custodian fee, in percent of net assets"),
            ("min_purchase", "DOUBLE", "Minimum initial purchase amount, in CNY"),
            ("benchmark", "VARCHAR", "Performance benchmark of the fund"),
            (
                "investment_focus",
                "VARCHAR",
                "Investment theme or style, e.g. 'technology', 'consumer', 'dividend'",
            ),
            ("status", "VARCHAR", "Subscription status: 'open' or 'closed' to new purchases"),
        ],
        ("fund_code",),
        [
            (("company_id",), "fund_company", ("company_id",)),
            (("manager_id",), "fund_manager", ("manager_id",)),
        ],
    ),
    (
        "fund_manager_tenure",
        "History of which manager ran which fund and when; end_date is NULL for the current manager.",
        [
            ("fund_code", "VARCHAR", "Fund code; references fund.fund_code"),
            ("manager_id", "INTEGER", "Fund manager; references fund_manager.manager_id"),
            ("start_date", "DATE", "Date the manager took over the fund"),
            ("end_date", "DATE", "Date the manager left the fund; NULL if still managing it"),
            (
                "tenure_return_pct",
                "DOUBLE",
                "Fund return during the manager's tenure from 2019 onwards (through 2024-12-31), in percent; "
                "NULL if the tenure ended before 2019",
            ),
        ],
        ("fund_code", "manager_id", "start_date"),
        [
            (("fund_code",), "fund", ("fund_code",)),
            (("manager_id",), "fund_manager", ("manager_id",)),
        ],
    ),
    (
        "fund_nav",
        "Month-end net asset value (NAV) history of every fund from January 2019 (or its launch) "
        "to December 2024.",
        [
            ("fund_code", "VARCHAR", "Fund code; references fund.fund_code"),
            ("nav_date", "DATE", "Month-end date of the NAV, e.g. 2024-06-30"),
            ("unit_nav", "DOUBLE", "Net asset value per fund unit, in CNY"),
            (
                "accumulated_nav",
                "DOUBLE",
                "Accumulated NAV per unit including all distributions paid, in CNY",
            ),
            ("monthly_return_pct", "DOUBLE", "Total return of the fund over the month, in percent"),
        ],
        ("fund_code", "nav_date"),
        [(("fund_code",), "fund", ("fund_code",))],
    ),
    (
        "fund_return",
        "Calendar-year performance of each fund (full years only) with benchmark, risk measures and rank "
        "within its fund type.",
        [
            ("fund_code", "VARCHAR", "Fund code; references fund.fund_code"),
            ("year", "INTEGER", "Calendar year of the performance figures"),
            ("return_pct", "DOUBLE", "Total return of the fund over the year, in percent"),
            ("benchmark_return_pct", "DOUBLE", "Return of the fund's benchmark over the year, in percent"),
            ("excess_return_pct", "DOUBLE", "Fund return minus benchmark return, in percentage points"),
            (
                "max_drawdown_pct",
                "DOUBLE",
                "Largest peak-to-trough loss during the year (month-end NAV), in percent",
            ),
            ("volatility_pct", "DOUBLE", "Annualised volatility of monthly returns, in percent"),
            ("sharpe_ratio", "DOUBLE", "Sharpe ratio for the year (risk-free rate 2%)"),
            (
                "category_rank",
                "INTEGER",
                "Rank of the fund's return among funds of the same type that year (1 = best)",
            ),
        ],
        ("fund_code", "year"),
        [(("fund_code",), "fund", ("fund_code",))],
    ),
    (
        "fund_holding",
        "Top ten stock holdings of equity, hybrid and index funds at each quarter end, 2022 to 2024.",
        [
            ("fund_code", "VARCHAR", "Fund code; references fund.fund_code"),
            ("report_date", "DATE", "Quarter end date of the holdings report"),
            ("ticker", "VARCHAR", "Stock held; references stock.ticker"),
            ("holding_rank", "INTEGER", "Rank of the position within the fund (1 = largest)"),
            ("shares_held", "BIGINT", "Number of shares held"),
            ("market_value_mn", "DOUBLE", "Market value of the position at quarter end, in millions of CNY"),
            ("pct_of_nav", "DOUBLE", "Position market value as a percentage of the fund's net assets"),
        ],
        ("fund_code", "report_date", "ticker"),
        [(("fund_code",), "fund", ("fund_code",)), (("ticker",), "stock", ("ticker",))],
    ),
    (
        "fund_size",
        "Fund size at each quarter end from 2019 (or launch) to 2024: net assets (AUM), units and holders.",
        [
            ("fund_code", "VARCHAR", "Fund code; references fund.fund_code"),
            ("report_date", "DATE", "Quarter end date"),
            ("net_assets_mn", "DOUBLE", "Net assets under management, in millions of CNY"),
            ("total_units_mn", "DOUBLE", "Fund units outstanding, in millions of units"),
            ("num_holders", "INTEGER", "Number of unit holders (investors)"),
            ("institutional_pct", "DOUBLE", "Share of units held by institutional investors, in percent"),
        ],
        ("fund_code", "report_date"),
        [(("fund_code",), "fund", ("fund_code",))],
    ),
    (
        "macro_indicator",
        "Monthly macroeconomic indicators for China, January 2015 to December 2024: prices, PMI, money "
        "supply, credit, growth, trade, employment, interest rates and FX reserves. Quarterly GDP figures "
        "appear only in the last month of each quarter (NULL in other months).",
        [
            (
                "report_month",
                "DATE",
                "Month of the observation, as the first day of the month (e.g. 2024-03-01)",
            ),
            ("cpi_yoy", "DOUBLE", "Consumer price index, year-on-year change in percent"),
            ("cpi_mom", "DOUBLE", "Consumer price index, month-on-month change in percent"),
            ("core_cpi_yoy", "DOUBLE", "Core CPI excluding food and energy, year-on-year change in percent"),
            ("food_cpi_yoy", "DOUBLE", "Food CPI, year-on-year change in percent"),
            ("ppi_yoy", "DOUBLE", "Producer price index, year-on-year change in percent"),
            ("ppi_mom", "DOUBLE", "Producer price index, month-on-month change in percent"),
            (
                "pmi_manufacturing",
                "DOUBLE",
                "Official manufacturing purchasing managers' index (50 = no change)",
            ),
            ("pmi_non_manufacturing", "DOUBLE", "Official non-manufacturing PMI (50 = no change)"),
            ("m0_yoy", "DOUBLE", "M0 (cash in circulation) growth, year-on-year in percent"),
            ("m1_yoy", "DOUBLE", "M1 money supply growth, year-on-year in percent"),
            ("m2_yoy", "DOUBLE", "M2 money supply growth, year-on-year in percent"),
            ("m2_balance_trn", "DOUBLE", "M2 money supply outstanding at month end, in trillions of CNY"),
            ("new_loans_bn", "DOUBLE", "New CNY loans issued during the month, in billions of CNY"),
            (
                "social_financing_bn",
                "DOUBLE",
                "Increment of total social financing during the month, in billions of CNY",
            ),
            (
                "gdp_yoy",
                "DOUBLE",
                "Real GDP growth of the quarter, year-on-year in percent (quarter-end months only)",
            ),
            (
                "gdp_nominal_trn",
                "DOUBLE",
                "Nominal GDP of the quarter, in trillions of CNY (quarter-end months only)",
            ),
            ("industrial_output_yoy", "DOUBLE", "Industrial value added, year-on-year growth in percent"),
            ("retail_sales_yoy", "DOUBLE", "Retail sales of consumer goods, year-on-year growth in percent"),
            (
                "fixed_asset_investment_yoy",
                "DOUBLE",
                "Fixed-asset investment, year-to-date year-on-year growth in percent",
            ),
            ("exports_yoy", "DOUBLE", "Exports in USD terms, year-on-year growth in percent"),
            ("imports_yoy", "DOUBLE", "Imports in USD terms, year-on-year growth in percent"),
            (
                "trade_balance_bn_usd",
                "DOUBLE",
                "Trade surplus (exports minus imports) for the month, in billions of USD",
            ),
            ("unemployment_rate", "DOUBLE", "Surveyed urban unemployment rate, in percent"),
            (
                "policy_rate",
                "DOUBLE",
                "7-day reverse repo rate of the central bank (policy rate), in percent",
            ),
            ("lpr_1y", "DOUBLE", "One-year loan prime rate, in percent"),
            ("lpr_5y", "DOUBLE", "Five-year loan prime rate (mortgage reference), in percent"),
            ("rrr_large_banks", "DOUBLE", "Reserve requirement ratio for large banks, in percent"),
            (
                "shibor_3m",
                "DOUBLE",
                "Three-month Shanghai interbank offered rate (monthly average), in percent",
            ),
            ("cgb_10y_yield", "DOUBLE", "Ten-year government bond yield at month end, in percent"),
            ("fx_reserves_bn_usd", "DOUBLE", "Foreign exchange reserves at month end, in billions of USD"),
            (
                "new_home_price_yoy",
                "DOUBLE",
                "New home prices in 70 large cities, year-on-year change in percent",
            ),
            ("consumer_confidence", "DOUBLE", "Consumer confidence index (100 = neutral)"),
        ],
        ("report_month",),
        [],
    ),
    (
        "currency",
        "Foreign currencies quoted against the Chinese yuan (CNY).",
        [
            ("currency_code", "VARCHAR", "ISO currency code, e.g. 'USD'"),
            ("currency_name", "VARCHAR", "Currency name, e.g. 'US Dollar'"),
            ("country_or_region", "VARCHAR", "Country or region that issues the currency"),
            ("quote_unit", "INTEGER", "Units of the foreign currency the CNY rate refers to (1 or 100)"),
        ],
        ("currency_code",),
        [],
    ),
    (
        "exchange_rate",
        "Daily central parity (mid) exchange rates of foreign currencies against CNY, 2022 to 2024.",
        [
            ("rate_date", "DATE", "Date of the rate (trading day)"),
            ("currency_code", "VARCHAR", "Foreign currency; references currency.currency_code"),
            (
                "mid_rate",
                "DOUBLE",
                "CNY per quote_unit units of the foreign currency (e.g. 7.10 CNY per 1 USD)",
            ),
        ],
        ("rate_date", "currency_code"),
        [(("currency_code",), "currency", ("currency_code",))],
    ),
    (
        "bond",
        "Bonds issued by the government, policy banks and companies: coupon, dates, size and credit rating.",
        [
            ("bond_code", "VARCHAR", "Bond code"),
            ("bond_name", "VARCHAR", "Bond name, e.g. 'Northwind Bank 2022 Tier-2 Capital Bond'"),
            ("issuer", "VARCHAR", "Name of the issuer"),
            (
                "issuer_ticker",
                "VARCHAR",
                "Stock code of a listed issuer; references stock.ticker; NULL otherwise",
            ),
            (
                "bond_type",
                "VARCHAR",
                "Type: 'treasury', 'policy bank', 'local government', 'corporate' or 'financial'",
            ),
            ("credit_rating", "VARCHAR", "Issuer credit rating, e.g. 'AAA', 'AA+', 'AA'"),
            ("coupon_rate", "DOUBLE", "Annual coupon rate, in percent"),
            ("issue_date", "DATE", "Issue date"),
            ("maturity_date", "DATE", "Maturity date"),
            ("term_years", "INTEGER", "Original term to maturity, in years"),
            ("issue_size_mn", "DOUBLE", "Amount issued, in millions of CNY"),
            ("interest_frequency", "VARCHAR", "Coupon frequency: 'annual' or 'semi-annual'"),
            ("market", "VARCHAR", "Where the bond trades: 'interbank', 'SSE' or 'SZSE'"),
        ],
        ("bond_code",),
        [(("issuer_ticker",), "stock", ("ticker",))],
    ),
]

# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------

INDUSTRIES = [
    # id, name, sector, description, typical price, annual revenue (bn CNY), gross margin, net margin
    (1, "Banking", "Financials", "Commercial and rural banks taking deposits and making loans"),
    (2, "Insurance", "Financials", "Life and property and casualty insurers"),
    (3, "Securities", "Financials", "Brokerage, investment banking and asset management firms"),
    (4, "Real Estate", "Real Estate", "Property developers and managers"),
    (5, "Liquor & Beverages", "Consumer Staples", "Makers of baijiu, beer, soft drinks and bottled water"),
    (6, "Food Products", "Consumer Staples", "Packaged food, dairy and agricultural products"),
    (7, "Pharmaceuticals & Biotech", "Health Care", "Drug makers, biotech companies and medical devices"),
    (8, "Semiconductors", "Information Technology", "Chip design, manufacturing and equipment"),
    (
        9,
        "Consumer Electronics",
        "Information Technology",
        "Phones, displays, components and home electronics",
    ),
    (10, "New Energy", "Energy", "Solar, wind and battery makers"),
    (11, "Automobiles", "Consumer Discretionary", "Car and electric vehicle makers"),
    (12, "Utilities", "Utilities", "Power generation and water utilities"),
    (13, "Telecommunications", "Communication Services", "Mobile and fixed-line network operators"),
    (14, "Software & IT Services", "Information Technology", "Enterprise software, cloud and data services"),
    (15, "Metals & Mining", "Materials", "Steel, copper, gold and other metals and mining"),
    (16, "Machinery", "Industrials", "Construction, industrial and heavy machinery"),
    (17, "Transportation", "Industrials", "Airlines, shipping, ports and logistics"),
]

# per industry: (price low, price high, annual revenue bn low, high, gross margin %, net margin %, payer prob)
INDUSTRY_PROFILE = {
    1: (4, 12, 60, 300, 65, 33, 1.0),
    2: (15, 60, 80, 500, 25, 8, 0.95),
    3: (8, 25, 10, 40, 55, 28, 0.85),
    4: (3, 15, 40, 250, 20, 4, 0.5),
    5: (40, 1800, 10, 150, 75, 35, 1.0),
    6: (15, 80, 8, 120, 30, 9, 0.9),
    7: (20, 120, 5, 40, 70, 16, 0.75),
    8: (30, 200, 3, 60, 40, 14, 0.5),
    9: (10, 60, 20, 200, 18, 5, 0.7),
    10: (20, 250, 20, 400, 22, 9, 0.7),
    11: (10, 300, 50, 600, 18, 5, 0.75),
    12: (4, 25, 20, 150, 28, 12, 1.0),
    13: (5, 100, 100, 900, 30, 10, 1.0),
    14: (20, 150, 3, 30, 55, 12, 0.6),
    15: (3, 40, 30, 300, 12, 5, 0.8),
    16: (8, 40, 15, 100, 27, 10, 0.8),
    17: (5, 25, 15, 150, 15, 6, 0.7),
}

# ticker, name, industry, city, listing date
STOCKS = [
    ("600015", "Northwind Bank", 1, "Shanghai", "2003-09-12"),
    ("601166", "Summit Commercial Bank", 1, "Beijing", "2007-02-05"),
    ("000001", "Pacific Merchants Bank", 1, "Shenzhen", "1991-04-03"),
    ("601128", "Riverbend Rural Bank", 1, "Suzhou", "2016-11-29"),
    ("601318", "Guardian Life Insurance", 2, "Shenzhen", "2007-03-01"),
    ("601601", "Beacon Property Insurance", 2, "Shanghai", "2009-12-23"),
    ("600030", "Meridian Securities", 3, "Beijing", "2003-01-06"),
    ("000776", "Keystone Securities", 3, "Guangzhou", "1997-07-09"),
    ("600048", "Skyline Properties", 4, "Beijing", "2006-07-31"),
    ("000002", "Greenfield Real Estate", 4, "Shenzhen", "1991-01-29"),
    ("600519", "Jade River Liquor", 5, "Guiyang", "2001-08-27"),
    ("000858", "Golden Crane Distillery", 5, "Yibin", "1998-04-27"),
    ("600600", "Mountain Spring Beverages", 5, "Qingdao", "1993-08-27"),
    ("600887", "Sunny Dairy", 6, "Hohhot", "1996-03-12"),
    ("603288", "Golden Harvest Foods", 6, "Foshan", "2014-02-11"),
    ("600276", "Crimson Peak Pharmaceuticals", 7, "Lianyungang", "2000-10-18"),
    ("300122", "Lotus Biotech", 7, "Chongqing", "2010-09-25"),
    ("300760", "Starling Medical Devices", 7, "Shenzhen", "2018-10-16"),
    ("688981", "Silverline Semiconductor", 8, "Shanghai", "2020-07-16"),
    ("603501", "Quantum Chip Technologies", 8, "Shanghai", "2017-05-04"),
    ("688012", "Horizon Microelectronics", 8, "Shanghai", "2019-07-22"),
    ("002475", "Nova Electronics", 9, "Dongguan", "2010-09-15"),
    ("000725", "Brightview Displays", 9, "Beijing", "2001-01-12"),
    ("300750", "Voltcore Battery", 10, "Ningde", "2018-06-11"),
    ("601012", "Solaris Energy", 10, "Xi'an", "2012-04-11"),
    ("002202", "Windstream Power Equipment", 10, "Urumqi", "2007-12-26"),
    ("002594", "Dragonfly Motors", 11, "Shenzhen", "2011-06-30"),
    ("600104", "Apex Automotive", 11, "Shanghai", "1997-11-25"),
    ("600900", "Three Rivers Power", 12, "Yichang", "2003-11-18"),
    ("600011", "Clearwater Utilities", 12, "Beijing", "2001-12-06"),
    ("600941", "Skybridge Telecom", 13, "Beijing", "2022-01-05"),
    ("601728", "Orbit Communications", 13, "Beijing", "2021-08-20"),
    ("688111", "Cloudpeak Software", 14, "Beijing", "2019-11-18"),
    ("300033", "Lattice Data Systems", 14, "Hangzhou", "2009-12-25"),
    ("600019", "Ironclad Steel", 15, "Shanghai", "2000-12-12"),
    ("601899", "Copper Ridge Mining", 15, "Longyan", "2008-04-25"),
    ("600031", "Titan Heavy Machinery", 16, "Changsha", "2003-07-03"),
    ("000425", "Atlas Construction Equipment", 16, "Xuzhou", "1996-08-28"),
    ("601919", "Harborview Shipping", 17, "Tianjin", "2007-06-26"),
    ("601111", "Pearl Airlines", 17, "Beijing", "2006-08-18"),
]

COMPANIES = [
    # id, name, founded, city, capital mn, ownership, employees, website
    (
        1,
        "Blue Ridge Asset Management",
        "1998-03-27",
        "Shanghai",
        150.0,
        "state-owned",
        820,
        "www.blueridge-am.cn",
    ),
    (
        2,
        "Harbor Fund Management",
        "2001-05-18",
        "Shenzhen",
        200.0,
        "bank-affiliated",
        760,
        "www.harborfunds.cn",
    ),
    (3, "Silver Oak Investments", "2003-10-09", "Beijing", 120.0, "private", 430, "www.silveroak-inv.cn"),
    (
        4,
        "Golden Gate Fund Management",
        "2004-06-30",
        "Shanghai",
        300.0,
        "joint venture",
        690,
        "www.goldengate-fm.cn",
    ),
    (
        5,
        "Pinecrest Capital Management",
        "2007-01-15",
        "Guangzhou",
        100.0,
        "private",
        310,
        "www.pinecrest-cm.cn",
    ),
    (
        6,
        "Evergreen Asset Management",
        "1999-12-01",
        "Beijing",
        250.0,
        "state-owned",
        910,
        "www.evergreen-am.cn",
    ),
    (7, "Red Maple Fund Management", "2011-08-22", "Hangzhou", 80.0, "private", 260, "www.redmaplefunds.cn"),
    (
        8,
        "Lighthouse Investment Management",
        "2005-04-11",
        "Shenzhen",
        180.0,
        "joint venture",
        540,
        "www.lighthouse-im.cn",
    ),
    (
        9,
        "Summit Peak Asset Management",
        "2002-09-03",
        "Shanghai",
        220.0,
        "bank-affiliated",
        640,
        "www.summitpeak-am.cn",
    ),
    (
        10,
        "Crescent Bay Fund Management",
        "2013-02-28",
        "Xiamen",
        60.0,
        "private",
        190,
        "www.crescentbay-fm.cn",
    ),
]

MANAGERS = [
    "Emily Carter",
    "Daniel Wu",
    "Sophia Lin",
    "Michael Zhang",
    "Olivia Chen",
    "James Liu",
    "Grace Wang",
    "Henry Zhao",
    "Chloe Huang",
    "Ethan Xu",
    "Lucy Sun",
    "Kevin Ma",
    "Amy Zhou",
    "Brian Guo",
    "Rachel He",
    "Jason Tang",
    "Nina Feng",
    "Victor Deng",
    "Helen Cao",
    "Oscar Peng",
    "Irene Luo",
    "Leo Yuan",
    "Fiona Jiang",
    "Samuel Xie",
    "Tina Han",
    "Andrew Song",
    "Wendy Yu",
    "Patrick Qian",
    "Clara Shen",
    "Martin Kong",
    "Jenny Fang",
    "Lucas Bai",
]
FEMALE = {
    "Emily Carter",
    "Sophia Lin",
    "Olivia Chen",
    "Grace Wang",
    "Chloe Huang",
    "Lucy Sun",
    "Amy Zhou",
    "Rachel He",
    "Nina Feng",
    "Helen Cao",
    "Irene Luo",
    "Fiona Jiang",
    "Tina Han",
    "Wendy Yu",
    "Clara Shen",
    "Jenny Fang",
}

# company id, fund name, type, focus
FUNDS = [
    (1, "Blue Ridge Value Equity Fund", "equity", "value"),
    (1, "Blue Ridge Stable Income Bond Fund", "bond", "government and policy bank bonds"),
    (1, "Blue Ridge Money Market Fund", "money market", "cash management"),
    (1, "Blue Ridge CSI 300 Index Fund", "index", "large cap"),
    (2, "Harbor Growth Equity Fund", "equity", "growth"),
    (2, "Harbor Balanced Hybrid Fund", "hybrid", "balanced"),
    (2, "Harbor Short-Term Bond Fund", "bond", "short duration"),
    (2, "Harbor Cash Reserve Money Market Fund", "money market", "cash management"),
    (3, "Silver Oak Technology Innovation Fund", "equity", "technology"),
    (3, "Silver Oak Dividend Select Fund", "equity", "dividend"),
    (3, "Silver Oak Flexible Allocation Fund", "hybrid", "flexible allocation"),
    (3, "Silver Oak Enhanced Bond Fund", "bond", "credit"),
    (4, "Golden Gate Consumer Leaders Fund", "equity", "consumer"),
    (4, "Golden Gate CSI 500 Index Fund", "index", "mid cap"),
    (4, "Golden Gate Strategic Hybrid Fund", "hybrid", "balanced"),
    (4, "Golden Gate Treasury Money Market Fund", "money market", "cash management"),
    (5, "Pinecrest Healthcare Equity Fund", "equity", "healthcare"),
    (5, "Pinecrest Pure Bond Fund", "bond", "government and policy bank bonds"),
    (5, "Pinecrest ChiNext Index Fund", "index", "growth"),
    (6, "Evergreen New Energy Fund", "equity", "new energy"),
    (6, "Evergreen Steady Return Hybrid Fund", "hybrid", "balanced"),
    (6, "Evergreen Credit Bond Fund", "bond", "credit"),
    (6, "Evergreen SSE 50 Index Fund", "index", "large cap"),
    (7, "Red Maple Small Cap Growth Fund", "equity", "growth"),
    (7, "Red Maple Quality Hybrid Fund", "hybrid", "quality"),
    (7, "Red Maple Liquidity Money Market Fund", "money market", "cash management"),
    (8, "Lighthouse Semiconductor Equity Fund", "equity", "technology"),
    (8, "Lighthouse Core Hybrid Fund", "hybrid", "flexible allocation"),
    (8, "Lighthouse Convertible Bond Fund", "bond", "convertible bonds"),
    (8, "Lighthouse STAR 50 Index Fund", "index", "technology"),
    (9, "Summit Peak Blue Chip Fund", "equity", "large cap"),
    (9, "Summit Peak Financials Equity Fund", "equity", "financials"),
    (9, "Summit Peak Income Plus Bond Fund", "bond", "credit"),
    (9, "Summit Peak Balanced Growth Fund", "hybrid", "balanced"),
    (10, "Crescent Bay Emerging Industries Fund", "equity", "new energy"),
    (10, "Crescent Bay Low Volatility Index Fund", "index", "dividend"),
    (10, "Crescent Bay Ultra Short Bond Fund", "bond", "short duration"),
    (10, "Crescent Bay Money Market Fund", "money market", "cash management"),
]

BENCHMARK = {
    "large cap": "CSI 300 Index",
    "mid cap": "CSI 500 Index",
    "growth": "ChiNext Index",
    "technology": "STAR 50 Index",
    "dividend": "CSI Dividend Index",
}

INDEX_BENCHMARK = {
    "Blue Ridge CSI 300 Index Fund": "CSI 300 Index",
    "Golden Gate CSI 500 Index Fund": "CSI 500 Index",
    "Pinecrest ChiNext Index Fund": "ChiNext Index",
    "Evergreen SSE 50 Index Fund": "SSE 50 Index",
    "Lighthouse STAR 50 Index Fund": "STAR 50 Index",
    "Crescent Bay Low Volatility Index Fund": "CSI Dividend Low Volatility Index",
}

# industries each investment focus prefers for its holdings
FOCUS_INDUSTRIES = {
    "value": [1, 2, 4, 12, 15, 16],
    "large cap": [1, 2, 3, 5, 10, 11, 12, 13],
    "mid cap": [6, 7, 9, 14, 15, 16, 17],
    "growth": [7, 8, 9, 10, 11, 14],
    "technology": [8, 9, 14, 13],
    "dividend": [1, 12, 13, 15, 5],
    "consumer": [5, 6, 11, 9],
    "healthcare": [7],
    "new energy": [10, 11, 15],
    "financials": [1, 2, 3],
    "balanced": [1, 5, 7, 8, 10, 12],
    "flexible allocation": [5, 8, 10, 11, 14],
    "quality": [5, 6, 7, 12, 13],
}

CURRENCIES = [
    ("USD", "US Dollar", "United States", 1),
    ("EUR", "Euro", "Euro area", 1),
    ("JPY", "Japanese Yen", "Japan", 100),
    ("GBP", "British Pound", "United Kingdom", 1),
    ("HKD", "Hong Kong Dollar", "Hong Kong SAR", 1),
    ("AUD", "Australian Dollar", "Australia", 1),
]

# approximate anchor levels (CNY per quote unit) at the start of each half year 2022..2025
FX_ANCHORS = {
    "USD": [6.37, 6.70, 6.90, 7.20, 7.10, 7.13, 7.19],
    "EUR": [7.20, 7.05, 7.40, 7.85, 7.75, 7.70, 7.52],
    "JPY": [5.52, 5.00, 5.15, 5.05, 4.70, 4.55, 4.62],
    "GBP": [8.60, 8.20, 8.30, 9.10, 8.95, 9.10, 9.08],
    "HKD": [0.817, 0.854, 0.880, 0.921, 0.908, 0.913, 0.925],
    "AUD": [4.62, 4.65, 4.69, 4.80, 4.75, 4.72, 4.55],
}

HOLIDAYS = [
    ("2022-01-03", "2022-01-03"),
    ("2022-01-31", "2022-02-04"),
    ("2022-04-04", "2022-04-05"),
    ("2022-05-02", "2022-05-04"),
    ("2022-06-03", "2022-06-03"),
    ("2022-09-12", "2022-09-12"),
    ("2022-10-03", "2022-10-07"),
    ("2023-01-02", "2023-01-02"),
    ("2023-01-23", "2023-01-27"),
    ("2023-04-05", "2023-04-05"),
    ("2023-05-01", "2023-05-03"),
    ("2023-06-22", "2023-06-23"),
    ("2023-09-29", "2023-09-29"),
    ("2023-10-02", "2023-10-06"),
    ("2024-01-01", "2024-01-01"),
    ("2024-02-09", "2024-02-16"),
    ("2024-04-04", "2024-04-05"),
    ("2024-05-01", "2024-05-03"),
    ("2024-06-10", "2024-06-10"),
    ("2024-09-16", "2024-09-17"),
    ("2024-10-01", "2024-10-07"),
]

# approximate CSI 300 calendar-year returns, used as the market drift
MARKET_YEAR_RETURN = {2019: 0.36, 2020: 0.27, 2021: -0.05, 2022: -0.22, 2023: -0.11, 2024: 0.15}

GDP_YOY = {
    2015: [7.0, 7.0, 6.9, 6.8],
    2016: [6.9, 6.7, 6.7, 6.8],
    2017: [6.9, 6.9, 6.8, 6.8],
    2018: [6.8, 6.7, 6.5, 6.4],
    2019: [6.3, 6.0, 5.9, 5.8],
    2020: [-6.9, 3.1, 4.8, 6.4],
    2021: [18.7, 8.3, 5.2, 4.3],
    2022: [4.8, 0.4, 3.9, 2.9],
    2023: [4.5, 6.3, 4.9, 5.2],
    2024: [5.3, 4.7, 4.6, 5.4],
}

INDIVIDUALS = [
    "Zhang Wei",
    "Li Na",
    "Wang Fang",
    "Liu Yang",
    "Chen Jie",
    "Yang Min",
    "Zhao Lei",
    "Huang Li",
    "Zhou Qiang",
    "Wu Xiu",
    "Xu Jun",
    "Sun Hong",
]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _quarter_ends(y0: int, y1: int) -> list[dt.date]:
    return [_month_end(y, m) for y in range(y0, y1 + 1) for m in (3, 6, 9, 12)]


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays between start and end minus the main exchange holidays."""
    hol: set[dt.date] = set()
    for a, b in HOLIDAYS:
        d = _d(a)
        while d <= _d(b):
            hol.add(d)
            d += dt.timedelta(days=1)
    out, d = [], start
    while d <= end:
        if d.weekday() < 5 and d not in hol:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def _interp_path(anchors: list[float], n: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Piecewise-linear path through anchors over n points plus smooth AR(1) noise."""
    xs = np.linspace(0, len(anchors) - 1, n)
    base = np.interp(xs, np.arange(len(anchors)), anchors)
    eps = rng.normal(0, noise, n)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.85 * ar[i - 1] + eps[i]
    return base + ar


def _round(a, nd: int):
    return np.round(np.asarray(a, dtype=float), nd)


# --------------------------------------------------------------------------------------------
# Table generators
# --------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.r = random.Random(seed)
        self.tables: dict[str, pd.DataFrame] = {}

    # ---- market -----------------------------------------------------------------------------
    def market(self) -> None:
        """Daily market factor 2019-2024 whose calendar-year returns match MARKET_YEAR_RETURN."""
        days = trading_days(dt.date(2019, 1, 1), dt.date(2024, 12, 31))
        rets = np.zeros(len(days))
        years = np.array([d.year for d in days])
        for y, target in MARKET_YEAR_RETURN.items():
            idx = np.where(years == y)[0]
            eps = self.rng.normal(0, 0.012, len(idx))
            eps -= eps.mean()
            rets[idx] = np.log1p(target) / len(idx) + eps
        self.mkt_days = days
        self.mkt_ret = rets
        # monthly market log returns
        self.mkt_month: dict[tuple[int, int], float] = {}
        for d, x in zip(days, rets, strict=True):
            self.mkt_month[(d.year, d.month)] = self.mkt_month.get((d.year, d.month), 0.0) + x

    # ---- industry & stock -------------------------------------------------------------------
    def industry(self) -> None:
        self.tables["industry"] = pd.DataFrame(
            INDUSTRIES, columns=["industry_id", "industry_name", "sector", "description"]
        )

    def stock(self) -> None:
        rng = self.rng
        rows = []
        self.stock_info: dict[str, dict] = {}
        for ticker, name, ind, city, listed in STOCKS:
            exch = "SSE" if ticker.startswith("6") else "SZSE"
            board = (
                "STAR Market"
                if ticker.startswith("688")
                else "ChiNext"
                if ticker.startswith("300")
                else "Main Board"
            )
            p_lo, p_hi, r_lo, r_hi, gm, nm, _ = INDUSTRY_PROFILE[ind]
            price0 = float(np.exp(rng.uniform(np.log(p_lo), np.log(p_hi))))
            revenue_bn = float(np.exp(rng.uniform(np.log(r_lo), np.log(r_hi))))
            # choose share count so that market cap is a plausible multiple of earnings
            pe = rng.uniform(6, 12) if ind in (1, 2, 12, 13, 15) else rng.uniform(15, 45)
            earnings_bn = revenue_bn * nm / 100
            mcap_bn = max(earnings_bn * pe, 8.0)
            total_mn = round(mcap_bn * 1000 / price0, 1)
            float_mn = round(total_mn * rng.uniform(0.55, 1.0), 1)
            employees = int(revenue_bn * rng.uniform(120, 600)) + 500
            rows.append((ticker, name, ind, exch, board, _d(listed), city, total_mn, float_mn, employees))
            self.stock_info[ticker] = {
                "name": name,
                "industry": ind,
                "price0": price0,
                "revenue_bn": revenue_bn,
                "total_mn": total_mn,
                "float_mn": float_mn,
                "board": board,
                "listed": _d(listed),
            }
        self.tables["stock"] = pd.DataFrame(
            rows,
            columns=[
                "ticker",
                "stock_name",
                "industry_id",
                "exchange",
                "board",
                "listing_date",
                "headquarters_city",
                "total_shares_mn",
                "float_shares_mn",
                "employees",
            ],
        )

    def stock_daily_price(self) -> None:
        rng = self.rng
        days = trading_days(PRICE_START, PRICE_END)
        day_idx = {d: i for i, d in enumerate(self.mkt_days)}
        mkt = np.array([self.mkt_ret[day_idx[d]] for d in days])
        n = len(days)
        ind_factor = {i: rng.normal(0, 0.008, n) + rng.normal(0, 0.0004) for i in INDUSTRY_PROFILE}
        frames = []
        self.close: dict[str, pd.Series] = {}
        for ticker, info in self.stock_info.items():
            limit = 0.2 if info["board"] in ("ChiNext", "STAR Market") else 0.1
            beta = rng.uniform(0.7, 1.3)
            lr = beta * mkt + ind_factor[info["industry"]] + rng.normal(0.0001, 0.014, n)
            lr = np.clip(lr, np.log(1 - limit), np.log(1 + limit))
            close = info["price0"] * np.exp(np.cumsum(lr))
            prev = np.concatenate([[info["price0"]], close[:-1]])
            gap = rng.normal(0, 0.004, n)
            open_ = prev * np.exp(gap)
            hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.008, n)))
            lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.008, n)))
            hi = np.minimum(hi, prev * (1 + limit))
            lo = np.maximum(lo, prev * (1 - limit))
            close_r, prev_r = _round(close, 2), _round(prev, 2)
            open_r = np.clip(_round(open_, 2), _round(lo, 2), _round(hi, 2))
            hi_r = np.maximum.reduce([_round(hi, 2), open_r, close_r])
            lo_r = np.minimum.reduce([_round(lo, 2), open_r, close_r])
            turnover = np.exp(rng.normal(np.log(1.2), 0.5, n)) * (1 + 8 * np.abs(lr))
            if info["industry"] in (1, 2, 12, 13):
                turnover *= 0.3
            vol = (turnover / 100 * info["float_mn"] * 1e6).astype(np.int64) // 100 * 100
            amount = vol * (open_r + close_r + hi_r + lo_r) / 4 / 1e6
            turnover_rate = vol / (info["float_mn"] * 1e6) * 100
            frames.append(
                pd.DataFrame(
                    {
                        "ticker": ticker,
                        "trade_date": days,
                        "open_price": open_r,
                        "high_price": hi_r,
                        "low_price": lo_r,
                        "close_price": close_r,
                        "prev_close": prev_r,
                        "change_pct": _round((close_r / prev_r - 1) * 100, 2),
                        "volume": vol,
                        "amount_mn": _round(amount, 2),
                        "turnover_rate": _round(turnover_rate, 3),
                    }
                )
            )
            self.close[ticker] = pd.Series(close_r, index=pd.to_datetime(days))
        df = pd.concat(frames, ignore_index=True)
        listed = df["ticker"].map({t: pd.Timestamp(i["listed"]) for t, i in self.stock_info.items()})
        self.tables["stock_daily_price"] = df[pd.to_datetime(df["trade_date"]) >= listed].reset_index(
            drop=True
        )

    def _close_on(self, ticker: str, day: dt.date) -> float:
        s = self.close[ticker]
        return float(s.loc[: pd.Timestamp(day)].iloc[-1])

    def stock_financials(self) -> None:
        rng = self.rng
        rows = []
        qends = _quarter_ends(2019, 2024)
        self.annual_profit: dict[tuple[str, int], float] = {}
        season = [0.22, 0.25, 0.25, 0.28]
        for ticker, info in self.stock_info.items():
            ind = info["industry"]
            _, _, _, _, gm, nm, _ = INDUSTRY_PROFILE[ind]
            rev_annual = info["revenue_bn"] * 1000 * rng.uniform(0.6, 0.8)  # 2019 level, millions
            growth = rng.normal(0.08, 0.08)
            gm_i = np.clip(gm + rng.normal(0, 5), 8, 92)
            nm_i = np.clip(nm + rng.normal(0, 3), 1.5, gm_i * 0.7)
            assets = rev_annual * (8 if ind in (1, 2, 3) else rng.uniform(1.2, 2.5))
            lev = rng.uniform(0.88, 0.93) if ind in (1, 2, 3) else rng.uniform(0.3, 0.75)
            shares = info["total_mn"]
            for i, qe in enumerate(qends):
                y, q = qe.year, (qe.month - 1) // 3 + 1
                yr_growth = (1 + growth + rng.normal(0, 0.05)) ** (y - 2019)
                rev = rev_annual * yr_growth * season[q - 1] * rng.uniform(0.92, 1.08)
                g_m = np.clip(gm_i + rng.normal(0, 2), 5, 95) / 100
                n_m = np.clip(nm_i + rng.normal(0, 2.5), -15, g_m * 100 * 0.8) / 100
                if (ind == 4 and y >= 2022) or rng.random() < 0.03:
                    n_m = -abs(n_m) * rng.uniform(0.3, 1.5)
                cost = rev * (1 - g_m)
                gross = rev - cost
                net = rev * n_m
                total_profit = net / 0.8 if net > 0 else net
                tax = total_profit - net
                fin = rev * rng.uniform(0.0, 0.03)
                rd_share = {8: 0.15, 14: 0.2, 7: 0.12, 9: 0.06, 10: 0.05, 11: 0.05}.get(ind, 0.01)
                rd = rev * rd_share * rng.uniform(0.7, 1.3)
                op_profit = total_profit * rng.uniform(0.97, 1.03)
                rest = max(gross - op_profit - fin - rd, rev * 0.02)
                sell = rest * rng.uniform(0.35, 0.6)
                admin = rest - sell
                assets_q = assets * (1 + 0.015 * i) * rng.uniform(0.97, 1.03)
                liab = assets_q * np.clip(lev + rng.normal(0, 0.01), 0.1, 0.97)
                equity = assets_q - liab
                cur_assets = assets_q * (0.25 if ind in (1, 12, 13) else rng.uniform(0.35, 0.7))
                cur_liab = liab * rng.uniform(0.45, 0.8)
                cash = cur_assets * rng.uniform(0.15, 0.45)
                ar = cur_assets * rng.uniform(0.05, 0.3)
                inv = 0.0 if ind in (1, 2, 3) else cur_assets * rng.uniform(0.05, 0.4)
                fixed = (assets_q - cur_assets) * rng.uniform(0.2, 0.7)
                ltb = liab * rng.uniform(0.05, 0.3)
                ocf = net * rng.uniform(0.6, 1.6) + rev * rng.normal(0, 0.03)
                capex = rev * rng.uniform(0.02, 0.15)
                icf = -capex + rev * rng.normal(0, 0.02)
                fcf = rev * rng.normal(-0.01, 0.04)
                npp = net * rng.uniform(0.85, 1.0) if net > 0 else net
                eps = npp / shares
                self.annual_profit[(ticker, y)] = self.annual_profit.get((ticker, y), 0.0) + npp
                rows.append(
                    (
                        ticker,
                        qe,
                        y,
                        q,
                        rev,
                        cost,
                        gross,
                        sell,
                        admin,
                        rd,
                        fin,
                        op_profit,
                        total_profit,
                        tax,
                        net,
                        npp,
                        eps,
                        eps * rng.uniform(0.97, 1.0),
                        assets_q,
                        cur_assets,
                        cash,
                        ar,
                        inv,
                        fixed,
                        liab,
                        cur_liab,
                        ltb,
                        equity,
                        ocf,
                        icf,
                        fcf,
                        capex,
                        net / equity * 100,
                        net / assets_q * 100,
                        gross / rev * 100,
                        net / rev * 100,
                        liab / assets_q * 100,
                        cur_assets / cur_liab,
                    )
                )
        cols = [c for c, _, _ in next(t for t in SCHEMA if t[0] == "stock_financials")[2]]
        df = pd.DataFrame(rows, columns=cols)
        for c in cols[4:]:
            df[c] = _round(df[c], 4 if c.startswith("eps") or c == "current_ratio" else 2)
        self.tables["stock_financials"] = df

    def stock_dividend(self) -> None:
        rng = self.rng
        rows, did = [], 1
        for ticker, info in self.stock_info.items():
            payer = INDUSTRY_PROFILE[info["industry"]][6]
            for fy in range(2019, 2024):
                profit = self.annual_profit[(ticker, fy)]
                if profit <= 0 or rng.random() > payer:
                    continue
                ratio = rng.uniform(25, 35) if info["industry"] == 1 else rng.uniform(15, 70)
                total = profit * ratio / 100
                dps = round(total / info["total_mn"], 3)
                if dps < 0.01:
                    continue
                total = dps * info["total_mn"]
                bonus = (
                    float(self.r.choice([0, 0, 0, 0, 0, 0, 2, 3, 4]))
                    if info["industry"] not in (1, 2)
                    else 0.0
                )
                announce = dt.date(fy + 1, 3, 15) + dt.timedelta(days=int(rng.integers(0, 45)))
                record = dt.date(fy + 1, 5, 20) + dt.timedelta(days=int(rng.integers(0, 50)))
                while record.weekday() >= 5:
                    record += dt.timedelta(days=1)
                ex = record + dt.timedelta(days=1 if record.weekday() < 4 else 3)
                rows.append(
                    (
                        did,
                        ticker,
                        fy,
                        announce,
                        record,
                        ex,
                        dps,
                        bonus,
                        round(total, 2),
                        round(total / profit * 100, 2),
                    )
                )
                did += 1
        self.tables["stock_dividend"] = pd.DataFrame(
            rows,
            columns=[
                "dividend_id",
                "ticker",
                "fiscal_year",
                "announce_date",
                "record_date",
                "ex_dividend_date",
                "cash_dividend_per_share",
                "bonus_shares_per_10",
                "total_cash_dividend_mn",
                "payout_ratio",
            ],
        )

    # ---- funds ------------------------------------------------------------------------------
    def fund_company(self) -> None:
        self.tables["fund_company"] = pd.DataFrame(
            [(i, n, _d(f), c, cap, o, e, w) for i, n, f, c, cap, o, e, w in COMPANIES],
            columns=[
                "company_id",
                "company_name",
                "founded_date",
                "headquarters_city",
                "registered_capital_mn",
                "ownership_type",
                "employees",
                "website",
            ],
        )

    def fund_manager(self) -> None:
        rng, r = self.rng, self.r
        rows = []
        comp_ids = [c[0] for c in COMPANIES]
        # at least three managers per company, the rest spread randomly
        assign = [cid for cid in comp_ids for _ in range(3)]
        assign += [r.choice(comp_ids) for _ in range(len(MANAGERS) - len(assign))]
        for mid, (name, cid) in enumerate(zip(MANAGERS, assign, strict=True), start=1):
            start = dt.date(2004, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 17)))
            years = round((dt.date(2024, 12, 31) - start).days / 365.25, 1)
            edu = r.choice(["Master", "Master", "Master", "PhD", "Bachelor"])
            rows.append(
                (mid, name, cid, "F" if name in FEMALE else "M", edu, start, years, bool(rng.random() < 0.35))
            )
        df = pd.DataFrame(
            rows,
            columns=[
                "manager_id",
                "manager_name",
                "company_id",
                "gender",
                "education",
                "career_start_date",
                "years_of_experience",
                "certified_cfa",
            ],
        )
        self.tables["fund_manager"] = df
        self.managers_by_company = {
            cid: df.loc[df.company_id == cid, "manager_id"].tolist() for cid in comp_ids
        }
        self.manager_start = dict(zip(df.manager_id, df.career_start_date, strict=True))

    def fund(self) -> None:
        rng, r = self.rng, self.r
        rows = []
        self.fund_info: dict[str, dict] = {}
        used_codes: set[str] = set()
        prefix = {"equity": "00", "hybrid": "16", "bond": "01", "money market": "00", "index": "11"}
        for cid, name, ftype, focus in FUNDS:
            while True:
                code = prefix[ftype] + f"{int(rng.integers(0, 10000)):04d}"
                if code not in used_codes:
                    used_codes.add(code)
                    break
            lo = 2008 if ftype != "index" else 2012
            inception = dt.date(lo, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * (2022 - lo))))
            risk = {
                "equity": r.choice(["R4", "R4", "R5"]),
                "index": "R4",
                "hybrid": r.choice(["R3", "R3", "R4"]),
                "bond": r.choice(["R2", "R2", "R3"]),
                "money market": "R1",
            }[ftype]
            fee = {
                "equity": r.choice([1.2, 1.5, 1.5]),
                "index": r.choice([0.5, 0.5, 0.15]),
                "hybrid": r.choice([1.2, 1.5, 1.0]),
                "bond": r.choice([0.3, 0.4, 0.6, 0.7]),
                "money market": r.choice([0.15, 0.25, 0.33]),
            }[ftype]
            cust = {"equity": 0.25, "hybrid": 0.25, "index": 0.1, "bond": 0.1, "money market": 0.05}[ftype]
            min_buy = float(r.choice([1, 10, 10, 100, 1000]))
            if ftype == "bond":
                bench = "ChinaBond Composite Index"
            elif ftype == "money market":
                bench = "7-day notice deposit rate (after tax)"
            elif ftype == "hybrid":
                bench = "CSI 300 Index x 50% + ChinaBond Composite Index x 50%"
            elif ftype == "index":
                bench = INDEX_BENCHMARK[name]
            else:
                bench = BENCHMARK.get(focus, "CSI 800 Index") + " x 80% + ChinaBond Composite Index x 20%"
            status = "closed" if rng.random() < 0.12 else "open"
            mgr = r.choice(self.managers_by_company[cid])
            rows.append(
                (code, name, ftype, cid, mgr, inception, risk, fee, cust, min_buy, bench, focus, status)
            )
            self.fund_info[code] = {
                "type": ftype,
                "focus": focus,
                "inception": inception,
                "company": cid,
                "manager": mgr,
                "name": name,
            }
        self.tables["fund"] = pd.DataFrame(
            rows,
            columns=[
                "fund_code",
                "fund_name",
                "fund_type",
                "company_id",
                "manager_id",
                "inception_date",
                "risk_level",
                "management_fee",
                "custodian_fee",
                "min_purchase",
                "benchmark",
                "investment_focus",
                "status",
            ],
        )

    def fund_nav_and_returns(self) -> None:
        rng = self.rng
        months = [(y, m) for y in range(START_YEAR_FUND, END_YEAR + 1) for m in range(1, 13)]
        nav_rows, ret_rows = [], []
        self.fund_monthly: dict[str, dict[tuple[int, int], float]] = {}
        self.fund_unit_nav: dict[str, dict[dt.date, float]] = {}
        for code, info in self.fund_info.items():
            ftype, inc = info["type"], info["inception"]
            alpha = rng.normal(0.001, 0.002)
            beta = {
                "equity": rng.uniform(0.8, 1.15),
                "index": rng.uniform(0.95, 1.05),
                "hybrid": rng.uniform(0.45, 0.75),
                "bond": 0.0,
                "money market": 0.0,
            }[ftype]
            noise = {"equity": 0.02, "index": 0.006, "hybrid": 0.015, "bond": 0.004, "money market": 0.0004}[
                ftype
            ]
            if ftype == "bond":
                alpha = rng.normal(0.0035, 0.001)
            if ftype == "money market":
                alpha = rng.normal(0.0018, 0.0002)
            if ftype in ("equity", "hybrid", "index") and inc < dt.date(2019, 1, 1):
                unit = float(rng.uniform(0.8, 3.2))
            else:
                unit = 1.0
            cum_div = 0.0 if inc >= dt.date(2019, 1, 1) else float(rng.uniform(0, 0.6))
            monthly: dict[tuple[int, int], float] = {}
            navs: dict[dt.date, float] = {}
            for y, m in months:
                me = _month_end(y, m)
                if me <= inc:
                    continue
                frac = 1.0
                if (inc.year, inc.month) == (y, m):
                    frac = (me - inc).days / me.day
                ret = (beta * self.mkt_month[(y, m)] + alpha + rng.normal(0, noise)) * frac
                if ftype == "money market":
                    ret = abs(ret)
                    cum_div += unit * ret
                    acc = unit + cum_div
                else:
                    unit *= float(np.exp(ret))
                    if ftype in ("bond", "hybrid") and m == 12 and unit > 1.05 and rng.random() < 0.5:
                        d = round(unit * rng.uniform(0.02, 0.05), 4)
                        unit -= d
                        cum_div += d
                    acc = unit + cum_div
                monthly[(y, m)] = float(np.expm1(ret))
                navs[me] = round(unit, 4)
                nav_rows.append(
                    (code, me, round(unit, 4), round(acc, 4), round(float(np.expm1(ret)) * 100, 3))
                )
            self.fund_monthly[code] = monthly
            self.fund_unit_nav[code] = navs
        self.tables["fund_nav"] = pd.DataFrame(
            nav_rows, columns=["fund_code", "nav_date", "unit_nav", "accumulated_nav", "monthly_return_pct"]
        )
        # yearly returns
        for code, info in self.fund_info.items():
            ftype = info["type"]
            for y in range(START_YEAR_FUND, END_YEAR + 1):
                if info["inception"] >= dt.date(y, 1, 1):
                    continue
                mr = np.array([self.fund_monthly[code][(y, m)] for m in range(1, 13)])
                wealth = np.cumprod(1 + mr)
                total = (wealth[-1] - 1) * 100
                peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))
                dd = max(0.0, float(((np.concatenate([[1.0], wealth]) / peak) - 1).min() * -100)) + 0.0
                vol = float(mr.std(ddof=1) * np.sqrt(12) * 100)
                mkt_y = float(np.expm1(sum(self.mkt_month[(y, m)] for m in range(1, 13)))) * 100
                bench = {
                    "equity": 0.8 * mkt_y + 0.5,
                    "index": mkt_y,
                    "hybrid": 0.5 * mkt_y + 1.7,
                    "bond": 3.0 + rng.normal(0, 0.8),
                    "money market": 1.35,
                }[ftype]
                sharpe = (total - 2.0) / vol if vol > 0.05 else 0.0
                ret_rows.append(
                    [
                        code,
                        y,
                        round(total, 2),
                        round(bench, 2),
                        round(total - bench, 2),
                        round(dd, 2),
                        round(vol, 2),
                        round(sharpe, 2),
                        ftype,
                    ]
                )
        df = pd.DataFrame(
            ret_rows,
            columns=[
                "fund_code",
                "year",
                "return_pct",
                "benchmark_return_pct",
                "excess_return_pct",
                "max_drawdown_pct",
                "volatility_pct",
                "sharpe_ratio",
                "ftype",
            ],
        )
        df["category_rank"] = (
            df.groupby(["ftype", "year"])["return_pct"].rank(ascending=False, method="min").astype(int)
        )
        self.tables["fund_return"] = df.drop(columns=["ftype"])

    def fund_manager_tenure(self) -> None:
        rng = self.rng
        rows = []
        for code, info in self.fund_info.items():
            cur = info["manager"]
            others = [m for m in self.managers_by_company[info["company"]] if m != cur]
            n_prev = int(rng.integers(0, min(3, len(others)) + 1))
            prev = list(rng.choice(others, size=n_prev, replace=False)) if n_prev else []
            chain = [int(m) for m in prev] + [cur]
            start = info["inception"]
            end_final = dt.date(2024, 12, 31)
            span = (end_final - start).days
            cuts = sorted(
                int(x) for x in rng.integers(int(span * 0.15), int(span * 0.9), size=len(chain) - 1)
            )
            bounds = [start] + [start + dt.timedelta(days=c) for c in cuts]
            for i, mid in enumerate(chain):
                s = bounds[i]
                if i > 0 and s <= bounds[i - 1]:
                    s = bounds[i - 1] + dt.timedelta(days=30)
                    bounds[i] = s
                e = bounds[i + 1] - dt.timedelta(days=1) if i + 1 < len(chain) else None
                # tenure return from monthly returns within the window (2019 onwards only)
                stop = e or end_final
                mr = [v for (y, m), v in self.fund_monthly[code].items() if s <= _month_end(y, m) <= stop]
                tr = round((float(np.prod([1 + x for x in mr])) - 1) * 100, 2) if mr else None
                rows.append((code, mid, s, e, tr))
        df = pd.DataFrame(
            rows, columns=["fund_code", "manager_id", "start_date", "end_date", "tenure_return_pct"]
        )
        df["end_date"] = df["end_date"].astype(object)
        self.tables["fund_manager_tenure"] = df
        # a manager's career cannot start after their first fund tenure
        first = df.groupby("manager_id")["start_date"].min().to_dict()
        fm = self.tables["fund_manager"]
        fm["career_start_date"] = [
            min(s, first.get(m, s)) for m, s in zip(fm.manager_id, fm.career_start_date, strict=True)
        ]
        fm["years_of_experience"] = [
            round((dt.date(2024, 12, 31) - s).days / 365.25, 1) for s in fm.career_start_date
        ]

    def fund_size(self) -> None:
        rng = self.rng
        rows = []
        self.fund_assets: dict[tuple[str, dt.date], float] = {}
        for code, info in self.fund_info.items():
            ftype = info["type"]
            size = float(
                np.exp(rng.normal({"money market": 10.0, "bond": 8.6, "index": 7.8}.get(ftype, 8.0), 0.7))
            )
            inst = {"bond": 70.0, "money market": 40.0}.get(ftype, 20.0) + rng.uniform(-15, 15)
            holders_per_mn = rng.uniform(5, 40) if ftype != "bond" else rng.uniform(0.3, 3)
            navs = self.fund_unit_nav[code]
            for qe in _quarter_ends(START_YEAR_FUND, END_YEAR):
                if qe not in navs:
                    continue
                q_ret = float(
                    np.prod(
                        [
                            1 + self.fund_monthly[code][(qe.year, m)]
                            for m in range(qe.month - 2, qe.month + 1)
                            if (qe.year, m) in self.fund_monthly[code]
                        ]
                    )
                )
                size = size * q_ret * float(np.exp(rng.normal(0.0, 0.1)))
                inst = float(np.clip(inst + rng.normal(0, 3), 1, 98))
                unit = navs[qe] if ftype != "money market" else 1.0
                holders = int(size * holders_per_mn * rng.uniform(0.9, 1.1)) + 50
                rows.append((code, qe, round(size, 2), round(size / unit, 2), holders, round(inst, 2)))
                self.fund_assets[(code, qe)] = size
        self.tables["fund_size"] = pd.DataFrame(
            rows,
            columns=[
                "fund_code",
                "report_date",
                "net_assets_mn",
                "total_units_mn",
                "num_holders",
                "institutional_pct",
            ],
        )

    def fund_holding(self) -> None:
        rng = self.rng
        rows = []
        tick_by_ind: dict[int, list[str]] = {}
        for t, info in self.stock_info.items():
            tick_by_ind.setdefault(info["industry"], []).append(t)
        all_ticks = list(self.stock_info)
        self.fund_holdings_set: dict[tuple[str, dt.date], list[str]] = {}
        for code, info in self.fund_info.items():
            if info["type"] not in ("equity", "hybrid", "index"):
                continue
            pref = [t for ind in FOCUS_INDUSTRIES[info["focus"]] for t in tick_by_ind.get(ind, [])]
            pool = list(dict.fromkeys(pref + list(rng.choice(all_ticks, size=6, replace=False))))
            pool = [t for t in pool if t in self.stock_info]
            score = {t: rng.uniform(1, 3) if t in pref else rng.uniform(0, 1.5) for t in pool}
            total_w = {"equity": (45, 70), "hybrid": (20, 40), "index": (30, 50)}[info["type"]]
            for qe in _quarter_ends(2022, 2024):
                if (code, qe) not in self.fund_assets:
                    continue
                for t in pool:
                    score[t] = max(0.05, score[t] + rng.normal(0, 0.35))
                ranked = [
                    t for t in sorted(pool, key=lambda x: -score[x]) if self.stock_info[t]["listed"] < qe
                ][:10]
                w = np.sort(rng.dirichlet(np.ones(len(ranked)) * 2.5))[::-1] * rng.uniform(*total_w)
                w = np.minimum(w, 9.9)
                assets = self.fund_assets[(code, qe)]
                self.fund_holdings_set[(code, qe)] = ranked
                for rank, (t, pct) in enumerate(zip(ranked, w, strict=True), start=1):
                    mv = assets * pct / 100
                    px = self._close_on(t, qe)
                    shares = int(mv * 1e6 / px) // 100 * 100
                    rows.append(
                        (code, qe, t, rank, shares, round(shares * px / 1e6, 3), round(float(pct), 2))
                    )
        self.tables["fund_holding"] = pd.DataFrame(
            rows,
            columns=[
                "fund_code",
                "report_date",
                "ticker",
                "holding_rank",
                "shares_held",
                "market_value_mn",
                "pct_of_nav",
            ],
        )

    def stock_shareholder(self) -> None:
        rng, r = self.rng, self.r
        rows = []
        dates = [dt.date(2023, 6, 30), dt.date(2023, 12, 31), dt.date(2024, 6, 30), dt.date(2024, 12, 31)]
        fund_name = {c: i["name"] for c, i in self.fund_info.items()}
        for ticker, info in self.stock_info.items():
            total = info["total_mn"]
            base = info["name"]
            ind = info["industry"]
            parent = (
                ("Central Huijin Investment", "state-owned")
                if ind in (1, 2, 3, 13)
                else (f"{base} Group", "parent company")
            )
            holders = [
                (parent[0], parent[1], rng.uniform(20, 55)),
                ("Hong Kong Securities Clearing Company", "clearing house", rng.uniform(2, 9)),
                ("China Securities Finance Corporation", "state-owned", rng.uniform(1, 3)),
                (
                    f"National Social Security Fund Portfolio {r.choice([101, 102, 103, 108, 113, 118])}",
                    "social security",
                    rng.uniform(0.4, 1.5),
                ),
                (
                    r.choice(["Norges Bank", "UBS AG", "GIC Private Limited", "JPMorgan Chase Bank"]),
                    "foreign institution",
                    rng.uniform(0.3, 1.8),
                ),
                (
                    r.choice(
                        [
                            "Guardian Life Insurance - Traditional Product",
                            "Beacon Property Insurance - Own Funds",
                            "Lakeshore Life Insurance - Dividend Product",
                        ]
                    ),
                    "insurance",
                    rng.uniform(0.3, 2.0),
                ),
                (r.choice(INDIVIDUALS), "individual", rng.uniform(0.2, 3.0)),
                (f"{base} Employee Stock Ownership Plan", "corporate", rng.uniform(0.2, 1.2)),
            ]
            if info["name"] == "Guardian Life Insurance":
                holders[5] = (
                    "Lakeshore Life Insurance - Dividend Product",
                    "insurance",
                    rng.uniform(0.3, 2.0),
                )
            prev: dict[str, float] = {}
            for rd in dates:
                entries = [(n, t, p * rng.uniform(0.95, 1.05)) for n, t, p in holders]
                # mutual funds holding the stock at that date
                for (code, qe), ticks in self.fund_holdings_set.items():
                    if qe == rd and ticker in ticks:
                        shares = self.tables["fund_holding"]
                        sh = shares.loc[
                            (shares.fund_code == code)
                            & (shares.report_date == qe)
                            & (shares.ticker == ticker),
                            "shares_held",
                        ].iloc[0]
                        entries.append((fund_name[code], "mutual fund", sh / 1e6 / total * 100))
                entries.sort(key=lambda e: -e[2])
                entries = entries[:10]
                for rank, (n, t, pct) in enumerate(entries, start=1):
                    sh_mn = round(total * pct / 100, 3)
                    chg = round(sh_mn - prev[n], 3) if n in prev else None
                    rows.append((ticker, rd, rank, n, t, sh_mn, round(pct, 3), chg))
                prev = {n: round(total * p / 100, 3) for n, _, p in entries}
        df = pd.DataFrame(
            rows,
            columns=[
                "ticker",
                "report_date",
                "holder_rank",
                "holder_name",
                "holder_type",
                "shares_held_mn",
                "holding_pct",
                "change_mn",
            ],
        )
        df["change_mn"] = df["change_mn"].astype(float)
        self.tables["stock_shareholder"] = df

    # ---- macro, fx, bonds ---------------------------------------------------------------------
    def macro_indicator(self) -> None:
        rng = self.rng
        months = [dt.date(y, m, 1) for y in range(2015, 2025) for m in range(1, 13)]
        n = len(months)
        yrs = 10

        def path(anchors, noise, nd=1):
            return _round(_interp_path(anchors, n, rng, noise), nd)

        def step(changes: list[tuple[str, float]]) -> np.ndarray:
            out = np.zeros(n)
            for i, mth in enumerate(months):
                v = changes[0][1]
                for when, val in changes:
                    if mth >= _d(when):
                        v = val
                out[i] = v
            return out

        cpi = path([1.2, 1.8, 1.6, 2.1, 2.9, 2.5, 0.9, 2.0, 0.2, -0.1, 0.3], 0.25)
        core = path([1.5, 1.6, 2.2, 1.9, 1.6, 0.8, 1.2, 0.8, 0.7, 0.6, 0.4], 0.1)
        ppi = path([-4.5, -5.2, 5.5, 3.5, -0.5, -1.5, 10.5, 4.0, -4.0, -2.5, -2.3], 0.6)
        pmi = path([49.8, 49.7, 51.4, 50.5, 49.6, 50.9, 50.3, 49.3, 49.8, 49.5, 49.9], 0.45)
        pmi[61] = 35.7  # February 2020 lockdown
        nonpmi = path([53.8, 53.5, 54.5, 54.6, 53.8, 55.0, 53.0, 50.5, 51.5, 50.4, 50.2], 0.6)
        nonpmi[61] = 29.6
        m2 = path([12.5, 12.0, 10.5, 8.3, 8.5, 10.4, 9.0, 11.8, 10.0, 8.0, 7.3], 0.3)
        m1 = path([4.0, 18.0, 15.0, 2.0, 4.4, 9.0, 6.0, 4.0, 1.5, -3.0, -1.0], 0.8)
        m0 = path([4.0, 6.5, 3.5, 3.5, 5.0, 9.0, 6.0, 15.0, 10.0, 12.0, 13.0], 0.6)
        m2_bal = _round(np.linspace(122.8, 313.5, n) * np.exp(rng.normal(0, 0.004, n)), 2)
        loans = _round(np.clip(np.linspace(900, 1800, n) + rng.normal(0, 450, n), 50, 4900), 1)
        jan = np.array([m.month == 1 for m in months])
        loans[jan] = _round(loans[jan] * 2.5, 1)
        sf = _round(loans * rng.uniform(1.1, 1.6, n), 1)
        ind_out = path([6.0, 6.0, 6.5, 6.2, 5.5, 2.0, 9.0, 3.5, 4.5, 5.5, 5.4], 0.8)
        retail = path([10.5, 10.4, 10.2, 9.0, 8.0, -3.0, 12.0, 0.5, 6.0, 3.5, 3.0], 1.0)
        fai = path([13.5, 9.0, 7.5, 5.8, 5.6, -1.0, 6.0, 5.0, 3.0, 3.2, 3.2], 0.3)
        exports = path([-3.0, -5.0, 8.0, 10.0, 0.5, 3.0, 25.0, 7.0, -5.0, 4.0, 6.0], 3.0)
        imports = path([-15.0, -8.0, 15.0, 15.0, -3.0, -1.0, 28.0, 1.0, -5.0, 2.0, 1.0], 3.5)
        trade = _round(np.linspace(45, 90, n) + rng.normal(0, 12, n), 1)
        unemp = path([5.1, 5.0, 4.9, 4.9, 5.2, 5.6, 5.1, 5.6, 5.2, 5.1, 5.1], 0.1)
        for i, mth in enumerate(months):
            if mth == dt.date(2020, 2, 1):
                unemp[i] = 6.2
            if mth == dt.date(2022, 4, 1):
                unemp[i] = 6.1
        unemp[:36] = np.nan  # surveyed rate published from 2018
        policy = step(
            [
                ("2015-01-01", 2.25),
                ("2017-02-01", 2.35),
                ("2017-03-01", 2.45),
                ("2017-12-01", 2.5),
                ("2018-03-01", 2.55),
                ("2019-11-01", 2.5),
                ("2020-02-01", 2.4),
                ("2020-03-01", 2.2),
                ("2022-01-01", 2.1),
                ("2022-08-01", 2.0),
                ("2023-06-01", 1.9),
                ("2023-08-01", 1.8),
                ("2024-07-01", 1.7),
                ("2024-09-01", 1.5),
            ]
        )
        lpr1 = step(
            [
                ("2015-01-01", 4.31),
                ("2019-09-01", 4.2),
                ("2019-11-01", 4.15),
                ("2020-02-01", 4.05),
                ("2020-04-01", 3.85),
                ("2021-12-01", 3.8),
                ("2022-01-01", 3.7),
                ("2022-08-01", 3.65),
                ("2023-06-01", 3.55),
                ("2023-08-01", 3.45),
                ("2024-07-01", 3.35),
                ("2024-10-01", 3.1),
            ]
        )
        lpr5 = step(
            [
                ("2015-01-01", 4.9),
                ("2019-09-01", 4.85),
                ("2019-11-01", 4.8),
                ("2020-02-01", 4.75),
                ("2020-04-01", 4.65),
                ("2022-01-01", 4.6),
                ("2022-05-01", 4.45),
                ("2022-08-01", 4.3),
                ("2023-06-01", 4.2),
                ("2024-02-01", 3.95),
                ("2024-07-01", 3.85),
                ("2024-10-01", 3.6),
            ]
        )
        rrr = step(
            [
                ("2015-01-01", 20.0),
                ("2015-02-01", 19.5),
                ("2015-04-01", 18.5),
                ("2015-09-01", 18.0),
                ("2015-10-01", 17.5),
                ("2016-03-01", 17.0),
                ("2018-04-01", 16.0),
                ("2018-07-01", 15.5),
                ("2018-10-01", 14.5),
                ("2019-01-01", 13.5),
                ("2019-09-01", 13.0),
                ("2020-01-01", 12.5),
                ("2021-07-01", 12.0),
                ("2021-12-01", 11.5),
                ("2022-04-01", 11.25),
                ("2022-12-01", 11.0),
                ("2023-03-01", 10.75),
                ("2023-09-01", 10.5),
                ("2024-02-01", 10.0),
                ("2024-09-01", 9.5),
            ]
        )
        shibor = _round(policy + path([1.5, 0.4, 1.9, 1.9, 0.5, -0.1, 0.4, 0.0, 0.4, 0.4, 0.2], 0.12, 3), 3)
        cgb = path([3.6, 2.9, 3.0, 3.9, 3.3, 3.1, 3.1, 2.8, 2.8, 2.5, 1.7], 0.06, 3)
        fxres = _round(
            _interp_path([3840, 3330, 3010, 3140, 3070, 3100, 3200, 3250, 3130, 3240, 3200], n, rng, 15), 1
        )
        home = path([-5.0, 4.0, 10.0, 6.0, 9.5, 6.0, 4.5, 1.5, -2.0, -0.5, -5.5], 0.3)
        conf = path([105.0, 103.0, 110.0, 122.0, 122.0, 119.0, 122.0, 105.0, 88.0, 88.0, 86.0], 1.2)
        food = _round(cpi + path([1.0, 2.0, 2.5, -3.0, 1.0, 9.0, 2.0, -2.5, 0.0, -2.5, -1.0], 0.8), 1)
        cpi_mom = _round(np.concatenate([[0.3], np.diff(cpi) / 2 + rng.normal(0.1, 0.2, n - 1)]), 1)
        ppi_mom = _round(np.concatenate([[-0.2], np.diff(ppi) / 3 + rng.normal(0.0, 0.15, n - 1)]), 1)
        gdp = np.full(n, np.nan)
        gdp_nom = np.full(n, np.nan)
        level = 15.9
        for i, mth in enumerate(months):
            if mth.month in (3, 6, 9, 12):
                q = mth.month // 3
                gdp[i] = GDP_YOY[mth.year][q - 1]
                seas = [0.88, 0.98, 1.02, 1.12][q - 1]
                gdp_nom[i] = round(
                    level * seas * (1.085 ** (mth.year - 2015)) * (0.93 if mth.year == 2020 else 1), 2
                )
        del yrs, level
        self.tables["macro_indicator"] = pd.DataFrame(
            {
                "report_month": months,
                "cpi_yoy": cpi,
                "cpi_mom": cpi_mom,
                "core_cpi_yoy": core,
                "food_cpi_yoy": food,
                "ppi_yoy": ppi,
                "ppi_mom": ppi_mom,
                "pmi_manufacturing": pmi,
                "pmi_non_manufacturing": nonpmi,
                "m0_yoy": m0,
                "m1_yoy": m1,
                "m2_yoy": m2,
                "m2_balance_trn": m2_bal,
                "new_loans_bn": loans,
                "social_financing_bn": sf,
                "gdp_yoy": gdp,
                "gdp_nominal_trn": gdp_nom,
                "industrial_output_yoy": ind_out,
                "retail_sales_yoy": retail,
                "fixed_asset_investment_yoy": fai,
                "exports_yoy": exports,
                "imports_yoy": imports,
                "trade_balance_bn_usd": trade,
                "unemployment_rate": unemp,
                "policy_rate": policy,
                "lpr_1y": lpr1,
                "lpr_5y": lpr5,
                "rrr_large_banks": rrr,
                "shibor_3m": shibor,
                "cgb_10y_yield": cgb,
                "fx_reserves_bn_usd": fxres,
                "new_home_price_yoy": home,
                "consumer_confidence": conf,
            }
        )

    def currency_and_rates(self) -> None:
        rng = self.rng
        self.tables["currency"] = pd.DataFrame(
            CURRENCIES, columns=["currency_code", "currency_name", "country_or_region", "quote_unit"]
        )
        days = trading_days(PRICE_START, PRICE_END)
        frames = []
        for code, *_ in CURRENCIES:
            anchors = FX_ANCHORS[code]
            scale = anchors[0]
            p = _interp_path(anchors, len(days), rng, scale * 0.0025)
            frames.append(pd.DataFrame({"rate_date": days, "currency_code": code, "mid_rate": _round(p, 4)}))
        df = pd.concat(frames, ignore_index=True).sort_values(["rate_date", "currency_code"], kind="stable")
        self.tables["exchange_rate"] = df.reset_index(drop=True)

    def bond(self) -> None:
        rng, r = self.rng, self.r
        rows = []
        seq = 0

        def add(name, issuer, ticker, btype, rating, issue, term, size, freq, market, coupon):
            nonlocal seq
            seq += 1
            prefix = {
                "treasury": "019",
                "policy bank": "018",
                "local government": "147",
                "corporate": "143",
                "financial": "2128",
            }[btype]
            code = f"{prefix}{issue.year % 100:02d}{seq:03d}"
            mat = dt.date(issue.year + term, issue.month, min(issue.day, 28))
            rows.append(
                (
                    code,
                    name,
                    issuer,
                    ticker,
                    btype,
                    rating,
                    round(coupon, 2),
                    issue,
                    mat,
                    term,
                    float(size),
                    freq,
                    market,
                )
            )

        def rand_date(y):
            return dt.date(y, int(rng.integers(1, 13)), int(rng.integers(1, 29)))

        base_yield = {2018: 3.6, 2019: 3.2, 2020: 3.0, 2021: 3.0, 2022: 2.8, 2023: 2.7, 2024: 2.3}
        for y in range(2018, 2025):
            for n, term in enumerate(r.sample([2, 3, 5, 7, 10, 30], 2), start=1):
                cp = base_yield[y] - 0.6 + 0.06 * term + rng.normal(0, 0.05)
                add(
                    f"{y} Treasury Bond {n:02d}",
                    "Ministry of Finance",
                    None,
                    "treasury",
                    "AAA",
                    rand_date(y),
                    term,
                    rng.integers(50, 150) * 1000,
                    "annual" if term < 10 else "semi-annual",
                    "interbank",
                    cp,
                )
        for y in (2019, 2021, 2022, 2023, 2024):
            term = r.choice([3, 5, 10])
            issuer = r.choice(
                ["National Development Bank", "Agricultural Development Bank", "Export-Import Bank"]
            )
            add(
                f"{issuer} {y}-{r.randint(1, 20):02d}",
                issuer,
                None,
                "policy bank",
                "AAA",
                rand_date(y),
                term,
                rng.integers(20, 80) * 1000,
                "annual",
                "interbank",
                base_yield[y] - 0.3 + 0.05 * term,
            )
        for prov in ("Guangdong", "Zhejiang", "Sichuan", "Jiangsu"):
            y = int(rng.integers(2019, 2025))
            term = r.choice([5, 10, 15])
            add(
                f"{y} {prov} Special Bond {r.randint(1, 40):02d}",
                f"{prov} Provincial Government",
                None,
                "local government",
                "AAA",
                rand_date(y),
                term,
                rng.integers(5, 40) * 1000,
                "annual",
                "interbank",
                base_yield[y] - 0.2 + 0.05 * term,
            )
        issuers = [(t, i) for t, i in self.stock_info.items() if i["industry"] not in (5,)]
        picks = r.sample(issuers, 14)
        for t, info in picks:
            y = int(rng.integers(2018, 2025))
            ind = info["industry"]
            if ind in (1, 2, 3):
                kind, label, term = (
                    "financial",
                    "Tier-2 Capital Bond" if ind == 1 else "Subordinated Bond",
                    10,
                )
                rating = "AAA"
            else:
                kind, label, term = (
                    "corporate",
                    r.choice(["Medium-Term Note", "Corporate Bond", "Green Bond"]),
                    r.choice([3, 5, 7]),
                )
                rating = (
                    r.choice(["AAA", "AAA", "AA+", "AA+", "AA"])
                    if ind != 4
                    else r.choice(["AA", "AA-", "A+"])
                )
            spread = {"AAA": 0.5, "AA+": 0.9, "AA": 1.4, "AA-": 2.3, "A+": 3.5}[rating]
            add(
                f"{info['name']} {y} {label}",
                info["name"],
                t,
                kind,
                rating,
                rand_date(y),
                term,
                rng.integers(10, 300) * 10,
                "annual",
                "interbank" if kind == "financial" else ("SSE" if t.startswith("6") else "SZSE"),
                base_yield[y] + spread + rng.normal(0, 0.15),
            )
        self.tables["bond"] = pd.DataFrame(
            rows,
            columns=[
                "bond_code",
                "bond_name",
                "issuer",
                "issuer_ticker",
                "bond_type",
                "credit_rating",
                "coupon_rate",
                "issue_date",
                "maturity_date",
                "term_years",
                "issue_size_mn",
                "interest_frequency",
                "market",
            ],
        )

    def run(self) -> dict[str, pd.DataFrame]:
        self.market()
        self.industry()
        self.stock()
        self.stock_daily_price()
        self.stock_financials()
        self.stock_dividend()
        self.fund_company()
        self.fund_manager()
        self.fund()
        self.fund_nav_and_returns()
        self.fund_manager_tenure()
        self.fund_size()
        self.fund_holding()
        self.stock_shareholder()
        self.macro_indicator()
        self.currency_and_rates()
        self.bond()
        return self.tables


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def create_statements() -> list[str]:
    """CREATE TABLE and COMMENT statements for the whole schema, in dependency order."""
    out = []
    for name, comment, cols, pk, fks in SCHEMA:
        parts = [f"{c} {t}" + (" NOT NULL" if c in pk else "") for c, t, _ in cols]
        parts.append(f"PRIMARY KEY ({', '.join(pk)})")
        for fcols, ref, rcols in fks:
            parts.append(f"FOREIGN KEY ({', '.join(fcols)}) REFERENCES {ref} ({', '.join(rcols)})")
        out.append(f"CREATE TABLE {name} (\n    " + ",\n    ".join(parts) + "\n)")
        out.append(f"COMMENT ON TABLE {name} IS {_sql_str(comment)}")
        for c, _, cc in cols:
            out.append(f"COMMENT ON COLUMN {name}.{c} IS {_sql_str(cc)}")
    return out


def _write(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    for stmt in create_statements():
        con.execute(stmt)
    for name, _, cols, _, _ in SCHEMA:
        df = tables[name][[c for c, _, _ in cols]]
        con.register("_src", df)
        con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _src")
        con.unregister("_src")


def build(path: str | os.PathLike, seed: int = 7) -> None:
    """Build the demo database at ``path`` (replaced atomically if it exists)."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tables = _Builder(seed).run()
    tmpdir = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        tmp = Path(tmpdir) / target.name
        con = duckdb.connect(str(tmp))
        try:
            _write(con, tables)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        stale_wal = target.with_name(target.name + ".wal")
        if stale_wal.exists():  # a WAL left by an older database must not be replayed onto this one
            stale_wal.unlink()
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the deterministic demo financial DuckDB database.")
    ap.add_argument("out", help="output .duckdb path")
    ap.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = ap.parse_args(argv)
    build(args.out, seed=args.seed)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
