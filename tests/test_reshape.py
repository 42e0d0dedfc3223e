"""After the vote: a named value filtered on, one figure given once, each step checked by running it."""

import pytest

from finsql.ask.generation import Candidate
from finsql.ask.reshape import asks_one_figure, one_figure_of, reshape
from finsql.ask.voting import decide
from finsql.db.sandbox import connect
from finsql.db.schema import introspect


@pytest.fixture(scope="module")
def demo(demo_db):
    con = connect(demo_db)
    schema = introspect(con)

    def run(sql):
        return decide([Candidate(sql, sql, 0.0, True)], schema, con)

    yield con, run, schema
    con.close()


@pytest.mark.parametrize(
    ("question", "once"),
    [
        ("How many currencies are quoted?", True),
        ("What is the lowest minimum purchase amount of any fund?", True),
        ("What was the highest CPI year-on-year reading?", True),
        ("How many funds are there in each fund type?", False),
        ("What is the average management fee by fund type?", False),
        ("Which fund has the highest management fee?", False),
        ("List the funds with their minimum purchase.", False),
    ],
)
def test_questions_that_ask_for_one_figure(question, once):
    assert asks_one_figure(question) is once


def test_a_figure_given_per_row_of_a_unique_key_is_given_once(demo):
    con, run, schema = demo
    per_row = "SELECT currency_name, count(*) AS n FROM currency GROUP BY currency_name"
    shaped = reshape("How many currencies are quoted?", run(per_row), {}, run, schema)
    assert shaped.grouped == per_row
    assert shaped.decision.best.result.rows == con.execute("SELECT count(*) FROM currency").fetchall()
    lowest = "SELECT fund_name, min(min_purchase) AS m FROM fund GROUP BY fund_name"
    shaped = reshape("What is the lowest minimum purchase amount of any fund?", run(lowest), {}, run, schema)
    assert shaped.decision.best.result.rows == con.execute("SELECT min(min_purchase) FROM fund").fetchall()


def test_real_groups_and_group_questions_keep_their_grouping(demo):
    _, run, schema = demo
    typed = "SELECT fund_type, count(*) FROM fund GROUP BY fund_type"  # groups of several funds
    assert reshape("How many funds are there?", run(typed), {}, run, schema).grouped is None
    per_row = "SELECT currency_name, count(*) AS n FROM currency GROUP BY currency_name"
    assert reshape("How many currencies are there per name?", run(per_row), {}, run, schema).grouped is None
    assert (
        reshape("How many currencies are quoted?", run(per_row), {}, run, schema, one_figure=False).grouped
        is None
    )
    unlabeled = "SELECT avg(management_fee) FROM fund GROUP BY fund_type"  # no key shown: one figure
    assert (
        reshape("What is the average management fee?", run(unlabeled), {}, run, schema).grouped == unlabeled
    )
    for kept in (
        "SELECT fund_name, max(management_fee) AS m FROM fund GROUP BY fund_name ORDER BY m DESC LIMIT 1",
        "SELECT fund_name FROM fund GROUP BY fund_name",
        "SELECT fund_name, count(*) FROM fund GROUP BY fund_name HAVING count(*) > 0",
    ):
        assert one_figure_of(kept) is None, kept


def test_a_named_filter_is_kept_only_when_it_returns_rows(demo):
    con, run, schema = demo
    plain = "SELECT count(*) FROM bond"
    shaped = reshape(
        "How many corporate bonds are there?", run(plain), {"bond.bond_type": ["corporate"]}, run, schema
    )
    assert shaped.unfiltered == plain
    gold = "SELECT count(*) FROM bond WHERE bond_type = 'corporate'"
    assert shaped.decision.best.result.rows == con.execute(gold).fetchall()
    listed = "SELECT bond_name FROM bond"
    nothing = reshape("Which bonds are rated ZZZ?", run(listed), {"bond.credit_rating": ["ZZZ"]}, run, schema)
    assert nothing.unfiltered is None and nothing.decision.best.candidate.sql == listed
    off = reshape(
        "How many corporate bonds?", run(plain), {"bond.bond_type": ["corporate"]}, run, schema, filters=False
    )
    assert off.unfiltered is None


@pytest.mark.parametrize(
    ("question", "sql", "gold", "field"),
    [
        (
            "What was the average unemployment rate in 2023?",
            "SELECT avg(unemployment_rate) FROM macro_indicator",
            "SELECT avg(unemployment_rate) FROM macro_indicator WHERE year(report_month) = 2023",
            "unbounded",
        ),
        (
            "How many fund managers hold the CFA?",
            "SELECT count(*) FROM fund_manager",
            "SELECT count(*) FROM fund_manager WHERE certified_cfa",
            "unfiltered",
        ),
        (
            "What is the average registered capital of fund companies by ownership type?",
            "SELECT avg(registered_capital_mn) FROM fund_company",
            "SELECT ownership_type, avg(registered_capital_mn) FROM fund_company GROUP BY ownership_type",
            "ungrouped",
        ),
        (
            "Which is the oldest fund company?",
            "SELECT company_name FROM fund_company",
            "SELECT company_name FROM fund_company ORDER BY founded_date LIMIT 1",
            "unranked",
        ),
        (  # the count and the period once the unused join to stock (a second date column) is gone
            "How many trading days were there in 2023?",
            "SELECT count(*) FROM stock_daily_price p JOIN stock s ON p.ticker = s.ticker",
            "SELECT count(DISTINCT trade_date) FROM stock_daily_price WHERE year(trade_date) = 2023",
            "unjoined",
        ),
        (
            "List every industry with its sector, in alphabetical order.",
            "SELECT industry_name FROM industry ORDER BY sector",
            "SELECT industry_name, sector FROM industry ORDER BY industry_name",
            "unlisted",
        ),
    ],
)
def test_a_period_a_flag_a_group_and_a_superlative_the_question_states_reach_the_gold(
    demo, question, sql, gold, field
):
    con, run, schema = demo
    shaped = reshape(question, run(sql), {}, run, schema)
    assert getattr(shaped, field) == sql
    assert sorted(shaped.decision.best.result.rows) == sorted(con.execute(gold).fetchall())
    off = reshape(
        question,
        run(sql),
        {},
        run,
        schema,
        bounds=False,
        filters=False,
        joins=False,
        groups=False,
        rankings=False,
        listings=False,
    )
    assert off.decision.best.candidate.sql == sql


def test_a_period_filter_that_empties_the_answer_is_not_kept(demo):
    _, run, schema = demo
    sql = "SELECT avg(unemployment_rate) FROM macro_indicator"
    shaped = reshape("What was the average unemployment rate in 2090?", run(sql), {}, run, schema)
    assert shaped.unbounded is None and shaped.decision.best.candidate.sql == sql
