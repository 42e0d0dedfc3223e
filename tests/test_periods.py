"""Year bounds a question states, and the orderings on those years rewritten to them."""

import pytest

from finsql.ask.periods import (
    Period,
    month_narrowed,
    named_period,
    named_range,
    period_filter,
    stated_bounds,
    year_bounded,
    year_ranged,
)
from finsql.db.schema import Column, ForeignKey, Schema, Table

SCHEMA = Schema(
    [
        Table("fund", [Column("fund_code", "VARCHAR", primary_key=True), Column("inception_date", "DATE")]),
        Table(
            "fund_nav",
            [Column("fund_code", "VARCHAR"), Column("nav_date", "DATE"), Column("unit_nav", "DOUBLE")],
            foreign_keys=[ForeignKey(("fund_code",), "fund", ("fund_code",))],
        ),
        Table("stock", [Column("ticker", "VARCHAR"), Column("name", "VARCHAR"), Column("listed", "DATE")]),
        Table(
            "trade",
            [Column("ticker", "VARCHAR"), Column("traded_at", "TIMESTAMP"), Column("price", "DOUBLE")],
        ),
        Table(
            "fin",
            [
                Column("ticker", "VARCHAR"),
                Column("fiscal_year", "INTEGER"),
                Column("report_date", "DATE"),
                Column("revenue", "DOUBLE"),
                Column("term_years", "INTEGER"),
            ],
        ),
    ]
)


def test_bounds_are_the_years_named_once_with_one_word():
    assert stated_bounds("Which funds did Samuel Xie take over after 2015?") == {2015: "after"}
    assert stated_bounds("Stocks listed before 2000 or since 2020") == {2000: "before", 2020: "since"}
    assert stated_bounds("Funds launched prior to 2010") == {2010: "before"}
    assert stated_bounds("Which bonds mature between 2025 and 2026?") == {}
    assert stated_bounds("After 2015, and in 2015, how many?") == {}  # the year is named twice
    assert stated_bounds("What happened after 2015-06-30?") == {}  # a date, not a year


@pytest.mark.parametrize(
    ("question", "sql", "bounded"),
    [
        (
            "How many bonds mature after 2030?",
            "SELECT count(*) FROM bond WHERE maturity_date >= '2030-01-01'",
            "SELECT COUNT(*) FROM bond WHERE maturity_date > '2030-12-31'",
        ),
        (
            "Which private fund companies were founded after 2005?",
            "SELECT company_name FROM fund_company WHERE founded_date < '2005-01-01'",  # the wrong way round
            "SELECT company_name FROM fund_company WHERE founded_date > '2005-12-31'",
        ),
        (
            "How many funds were launched after 2015?",
            "SELECT count(*) FROM fund WHERE '2015-01-01' <= inception_date",
            "SELECT COUNT(*) FROM fund WHERE inception_date > '2015-12-31'",
        ),
        (
            "Which stocks were listed before 2000?",
            "SELECT stock_name FROM stock WHERE listing_date <= '2000-12-31'",
            "SELECT stock_name FROM stock WHERE listing_date < '2000-01-01'",
        ),
        (
            "What was the yield in each year since 2020?",
            "SELECT year(report_month), avg(y) FROM m WHERE year(report_month) > 2020 GROUP BY 1",
            "SELECT YEAR(report_month), AVG(y) FROM m WHERE YEAR(report_month) >= 2020 GROUP BY 1",
        ),
        (
            "Which companies paid dividends after 2020?",
            "SELECT ticker FROM stock_dividend WHERE fiscal_year >= 2020 AND payout_ratio > 2020",
            "SELECT ticker FROM stock_dividend WHERE fiscal_year > 2020 AND payout_ratio > 2020",
        ),
    ],
)
def test_orderings_on_a_bounded_year_take_its_bound(question, sql, bounded):
    assert year_bounded(question, sql) == bounded


def test_a_day_of_a_bounded_year_is_the_bound():  # the question names no day: the model picked one
    assert (
        year_bounded("Bonds issued after 2020", "SELECT 1 FROM bond WHERE issue_date = '2020-05-01'")
        == "SELECT 1 FROM bond WHERE issue_date > '2020-12-31'"
    )
    assert year_bounded("Yields since 2020", "SELECT 1 FROM m WHERE report_month = '2020-06-01'") == (
        "SELECT 1 FROM m WHERE report_month >= '2020-01-01'"
    )


def test_nothing_to_rewrite_is_none():
    assert (
        year_bounded("Which stocks were listed before 2000?", "SELECT 1 FROM stock WHERE x < '2000-01-01'")
        is None
    )
    assert year_bounded("How many bonds are there?", "SELECT count(*) FROM bond") is None
    assert (
        year_bounded("Bonds issued after 2020", "SELECT 1 FROM bond WHERE issue_date > '2019-01-01'") is None
    )


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("What was the average unemployment rate in 2023?", Period("year", 2023)),
        ("Which funds were launched after 2015?", Period("after", 2015)),
        ("Average turnover in March 2024?", Period("month", 2024, 3)),
        ("What was the high in Feb. 2023?", Period("month", 2023, 2)),
        ("What did fund X hold on June 30, 2024?", None),  # a day
        ("Revenue in Q3 2024?", None),
        ("Net assets at the end of 2020?", None),
        ("Closing price on 2024-09-05?", None),
        ("Months between 2018 and 2022?", None),
        ("Opening price on its first trading day of 2022?", None),
        ("How many funds are there?", None),
        ("Which funds were launched after March 2024?", None),  # a bound, not that month
        ("What will the rate be by 2030?", None),
        ("Revenue from 2015 onwards?", None),
        ("Net assets as of 2023?", None),
        ("Which funds started in the 2010s?", None),
    ],
)
def test_the_period_a_question_names(question, period):
    assert named_period(question) == period


@pytest.mark.parametrize(
    ("question", "sql", "filtered"),
    [
        (
            "What was the average NAV of fund 1 over 2020?",
            "SELECT avg(n.unit_nav) FROM fund_nav n JOIN fund f ON n.fund_code = f.fund_code",
            "SELECT AVG(n.unit_nav) FROM fund_nav AS n JOIN fund AS f ON n.fund_code = f.fund_code "
            "WHERE n.nav_date >= '2020-01-01' AND n.nav_date < '2021-01-01'",
        ),
        (
            "Which stocks were listed before 2000?",
            "SELECT name FROM stock",
            "SELECT name FROM stock WHERE listed < '2000-01-01'",
        ),
        (
            "Which stocks had revenue above 10 in 2021?",  # a column named for years is the table's period
            "SELECT s.name FROM fin JOIN stock s ON fin.ticker = s.ticker WHERE fin.revenue > 10",
            "SELECT s.name FROM fin JOIN stock AS s ON fin.ticker = s.ticker WHERE fin.revenue > 10 "
            "AND fin.fiscal_year = 2021",
        ),
        (
            "How many funds were launched since 2019?",
            "SELECT count(*) FROM fund",
            "SELECT COUNT(*) FROM fund WHERE inception_date >= '2019-01-01'",
        ),
    ],
)
def test_a_period_the_answer_drops_is_added_on_the_one_period_column(question, sql, filtered):
    assert period_filter(question, sql, SCHEMA) == filtered


def test_no_period_is_added_when_the_answer_names_a_year_or_the_column_is_not_one():
    named = "SELECT avg(unit_nav) FROM fund_nav WHERE nav_date > '2019-06-30'"
    assert period_filter("Average NAV in 2020?", named, SCHEMA) is None
    two_dates = (
        "SELECT count(*) FROM fund_nav n JOIN fund f ON n.fund_code = f.fund_code"  # count(*) reads both
    )
    assert period_filter("How many in 2020?", two_dates, SCHEMA) is None
    assert period_filter("Revenue in March 2021?", "SELECT revenue FROM fin", SCHEMA) is None  # a year column
    assert period_filter("Which stocks?", "SELECT name FROM stock", SCHEMA) is None


def test_a_year_is_narrowed_to_the_month_named():
    sql = "SELECT max(unit_nav) FROM fund_nav WHERE year(nav_date) = 2023 AND fund_code = '1'"
    assert month_narrowed("Highest NAV during February 2023?", sql) == (
        "SELECT MAX(unit_nav) FROM fund_nav WHERE (nav_date >= '2023-02-01' AND nav_date < '2023-03-01') "
        "AND fund_code = '1'"
    )
    assert month_narrowed("Highest NAV during December 2023?", sql).count("'2024-01-01'") == 1
    assert month_narrowed("Highest NAV in 2023?", sql) is None
    assert month_narrowed("Highest NAV during February 2022?", sql) is None


def test_a_timestamp_is_bounded_by_its_year():
    assert period_filter("Trades after 2020?", "SELECT price FROM trade", SCHEMA) == (
        "SELECT price FROM trade WHERE YEAR(traded_at) > 2020"
    )
    assert period_filter("Trades in May 2021?", "SELECT price FROM trade", SCHEMA) == (
        "SELECT price FROM trade WHERE traded_at >= '2021-05-01' AND traded_at < '2021-06-01'"
    )


@pytest.mark.parametrize(
    ("question", "span"),
    [
        ("Which bonds mature between 2025 and 2026?", (2025, 2026)),
        ("Revenue from 2019 to 2021, by year", (2019, 2021)),
        ("Revenue from 2019 to 2021 in Q4", None),  # part of each year
        ("Revenue between 2021 and 2019", None),
        ("Revenue between 2019 and 2021 against 2015", None),  # another year besides
        ("Revenue in 2019", None),
    ],
)
def test_the_span_of_years_a_question_names(question, span):
    assert named_range(question) == span


@pytest.mark.parametrize(
    ("question", "sql", "ranged"),
    [
        (
            "Which stocks were listed between 2000 and 2005?",
            "SELECT name FROM stock WHERE year(listed) = 2000",
            "SELECT name FROM stock WHERE YEAR(listed) BETWEEN 2000 AND 2005",
        ),
        (
            "Revenue of stock 1 from 2019 to 2021",  # a column named for years, the other condition kept
            "SELECT revenue FROM fin WHERE ticker = '1' AND fiscal_year >= 2019 AND fiscal_year < 2021",
            "SELECT revenue FROM fin WHERE ticker = '1' AND fiscal_year BETWEEN 2019 AND 2021",
        ),
        (
            "How many funds were launched between 2010 and 2012?",  # no year at all: the one period column
            "SELECT count(*) FROM fund",
            "SELECT COUNT(*) FROM fund WHERE YEAR(inception_date) BETWEEN 2010 AND 2012",
        ),
    ],
)
def test_a_span_of_years_is_filtered_whole(question, sql, ranged):
    assert year_ranged(question, sql, SCHEMA) == ranged


def test_a_span_is_left_alone_when_the_answer_names_other_years_or_columns():
    question = "Which stocks were listed between 2000 and 2005?"
    assert year_ranged(question, "SELECT name FROM stock WHERE year(listed) = 2010", SCHEMA) is None
    two = "SELECT s.name FROM stock s JOIN fin f ON s.ticker = f.ticker WHERE s.listed > '2000-01-01' AND "
    assert year_ranged(question, two + "f.fiscal_year = 2001", SCHEMA) is None
    assert year_ranged("Stocks listed in 2000?", "SELECT name FROM stock", SCHEMA) is None
