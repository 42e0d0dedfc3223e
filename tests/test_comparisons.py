"""Comparisons a question states in words: the operator the words say, on the number they bound."""

import pytest
from sqlglot import exp

from finsql.ask.comparisons import bound_operator, stated_bound, stated_bounds
from finsql.db.sandbox import connect


@pytest.mark.parametrize(
    ("question", "bounds"),
    [
        ("Which funds need at least 100 CNY?", {"100": exp.GTE}),
        ("Months with the PMI at or above 50", {"50": exp.GTE}),  # the longest wording wins over "above"
        ("managers with more than 15 years", {"15": exp.GT}),
        ("rates below 3.6%", {"3.6": exp.LT}),
        ("funds with no more than 1,000 holders", {"1000": exp.LTE}),
        ("bonds paying 3% or more", {"3": exp.GTE}),
        ("funds charging 100 CNY or less", {"100": exp.LTE}),
        ("between 2 and 5, but more than 2 and less than 2", {}),  # bounded two ways: no reading
        ("funds launched in 2019", {}),
    ],
)
def test_the_words_before_or_after_a_number_bound_it(question, bounds):
    assert stated_bounds(question) == bounds


def test_the_operator_the_question_states_is_set_and_the_answer_is_the_golds(demo_db):
    con = connect(demo_db)
    question = "Which money market funds require a minimum purchase of at least 100 CNY?"
    sql = stated_bound(
        question,
        "SELECT fund_name FROM fund WHERE min_purchase > 100 AND fund_type = 'money market'",
    )
    assert sql == "SELECT fund_name FROM fund WHERE min_purchase >= 100 AND fund_type = 'money market'"
    gold = "SELECT fund_name FROM fund WHERE fund_type = 'money market' AND min_purchase >= 100"
    assert sorted(con.execute(sql).fetchall()) == sorted(con.execute(gold).fetchall())


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT fund_name FROM fund WHERE min_purchase >= 100",  # already so
        "SELECT fund_name FROM fund WHERE min_purchase > 50",  # another number
        "SELECT fund_name FROM fund WHERE min_purchase > 100 OR fund_type = 'bond'",  # inside an OR
        "SELECT fund_name FROM fund WHERE NOT min_purchase > 100",  # negated
        "SELECT fund_name FROM fund",
        "not sql (",
    ],
)
def test_other_comparisons_are_left_alone(sql):
    assert stated_bound("Which funds need at least 100 CNY?", sql) is None


@pytest.mark.parametrize(
    ("phrase", "operator"),
    [("at least", exp.GTE), ("no more than", exp.LTE), ("at or  above", exp.GTE), ("under", exp.LT)],
)
def test_a_bounding_phrase_says_its_operator(phrase, operator):
    assert bound_operator(phrase) is operator
