"""Year bounds a question states, and the orderings on those years rewritten to them."""

import pytest

from finsql.ask.periods import stated_bounds, year_bounded


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


def test_nothing_to_rewrite_is_none():
    assert (
        year_bounded("Which stocks were listed before 2000?", "SELECT 1 FROM stock WHERE x < '2000-01-01'")
        is None
    )
    assert year_bounded("How many bonds are there?", "SELECT count(*) FROM bond") is None
    assert (
        year_bounded("Bonds issued after 2020", "SELECT 1 FROM bond WHERE issue_date = '2020-05-01'") is None
    )
    assert (
        year_bounded("Bonds issued after 2020", "SELECT 1 FROM bond WHERE issue_date > '2019-01-01'") is None
    )
