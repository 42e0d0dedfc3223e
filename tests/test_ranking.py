"""Superlatives a question states: the unranked answer ranked by the column they name, the rows asked for."""

import pytest

from finsql.ask.ranking import Ranking, ranked, reranked, stated_ranking
from finsql.db.schema import Column, Schema, Table

SCHEMA = Schema(
    [
        Table(
            "fund",
            [
                Column("fund_code", "VARCHAR", primary_key=True),
                Column("fund_name", "VARCHAR"),
                Column("management_fee", "DOUBLE"),
                Column("min_purchase", "DOUBLE"),
                Column("inception_date", "DATE"),
            ],
        ),
        Table(
            "fund_return",
            [
                Column("fund_code", "VARCHAR"),
                Column("year", "INTEGER"),
                Column("return_pct", "DOUBLE"),
                Column("excess_return_pct", "DOUBLE"),
            ],
        ),
        Table("stock", [Column("stock_name", "VARCHAR"), Column("total_shares_mn", "DOUBLE")]),
        Table("MF_Fund", [Column("FundName", "VARCHAR"), Column("ManagementFee", "DOUBLE")]),
    ]
)


@pytest.mark.parametrize(
    ("question", "descending", "rows", "time"),
    [
        ("Which fund has the highest management fee?", True, 1, False),
        ("Who runs the fund with the lowest fee?", False, 1, False),
        ("What are the three largest bonds by issue size?", True, 3, False),
        ("Which 5 companies had the largest total assets?", True, 5, False),
        ("Which is the oldest fund company?", False, 1, True),
        ("Which fund is the newest?", True, 1, True),
        ("What is the most recent NAV of fund X?", True, 1, True),
    ],
)
def test_the_ranking_a_question_states(question, descending, rows, time):
    ranking = stated_ranking(question)
    assert (ranking.descending, ranking.rows, ranking.time) == (descending, rows, time)


@pytest.mark.parametrize(
    "question",
    [
        "Which funds have the highest fees?",  # how many rows is not said
        "Which money market funds require a minimum purchase of at least 100 CNY?",
        "Which fund has the highest fee and the lowest return?",
        "Which fund has the highest fee in each year?",
        "Which fund did best?",
        "List the funds.",
        "Which stock had the biggest drop?",  # the sign of the change decides the direction
        "Who are the managers with the highest returns?",
        "Which of the top 10 holdings has the lowest weight?",
    ],
)
def test_questions_without_one_ranking(question):
    assert stated_ranking(question) is None


def test_the_words_after_the_superlative_are_kept_stemmed():
    ranking = stated_ranking("Which fund has the highest management fees of all?")
    assert ranking == Ranking(True, 1, frozenset({"management", "fee", "of", "all"}), False)


@pytest.mark.parametrize(
    ("question", "sql", "out"),
    [
        (
            "Which fund has the highest management fee?",
            "SELECT fund_name FROM fund",
            "SELECT fund_name FROM fund ORDER BY management_fee DESC LIMIT 1",
        ),
        (
            "Which is the oldest fund?",
            "SELECT fund_name FROM fund",
            "SELECT fund_name FROM fund ORDER BY inception_date ASC LIMIT 1",
        ),
        (  # the column named nowhere: the one number the answer shows
            "Which equity fund beat its benchmark by the widest margin in 2019?",
            "SELECT f.fund_name, r.excess_return_pct FROM fund_return r JOIN fund f "
            "ON r.fund_code = f.fund_code WHERE r.year = 2019",
            "SELECT f.fund_name, r.excess_return_pct FROM fund_return AS r JOIN fund AS f "
            "ON r.fund_code = f.fund_code WHERE r.year = 2019 ORDER BY r.excess_return_pct DESC LIMIT 1",
        ),
    ],
)
def test_an_unranked_answer_is_ranked(question, sql, out):
    assert ranked(question, sql, SCHEMA) == out


def test_answers_that_rank_aggregate_or_name_no_column_are_left_alone():
    question = "Which fund has the highest management fee?"
    for sql in (
        "SELECT fund_name FROM fund ORDER BY management_fee DESC LIMIT 1",
        "SELECT max(management_fee) FROM fund",
        "SELECT fund_name, count(*) FROM fund GROUP BY fund_name",
    ):
        assert ranked(question, sql, SCHEMA) is None, sql
    two_numbers = "SELECT fund_name, management_fee, min_purchase FROM fund"
    assert ranked("Which fund has the biggest edge?", two_numbers, SCHEMA) is None


def test_a_ranking_the_wrong_way_round_is_turned():
    sql = "SELECT stock_name FROM stock ORDER BY total_shares_mn ASC LIMIT 5"
    assert reranked("What are the five stocks with the most total shares?", sql, SCHEMA) == (
        "SELECT stock_name FROM stock ORDER BY total_shares_mn DESC LIMIT 5"
    )
    assert reranked("What are the five stocks with the fewest total shares?", sql, SCHEMA) is None
    other = "SELECT fund_name FROM fund ORDER BY min_purchase ASC LIMIT 1"  # not the column named
    assert reranked("Which fund has the highest management fee?", other, SCHEMA) is None


def test_camel_case_names_are_spelt_too():
    assert ranked("Which fund has the lowest management fee?", "SELECT FundName FROM MF_Fund", SCHEMA) == (
        "SELECT FundName FROM MF_Fund ORDER BY ManagementFee ASC LIMIT 1"
    )


def test_ties_kept_by_a_subquery_and_filtered_columns_are_not_ranked():
    tied = "SELECT fund_name FROM fund WHERE management_fee = (SELECT max(management_fee) FROM fund)"
    assert ranked("Which fund has the highest management fee?", tied, SCHEMA) is None
    filtered = "SELECT fund_name, management_fee FROM fund WHERE management_fee > 1"
    assert ranked("Which fund with a fee above 1% has the longest record?", filtered, SCHEMA) is None
