"""Count questions answered with a number: which questions ask how many, and which SQL is counted."""

import pytest

from finsql.ask.shape import already_a_number, asks_for_count, count_answer, counted, counted_days
from finsql.ask.sqlcheck import check_sql
from finsql.db.sandbox import connect, run_query
from finsql.db.schema import introspect


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("How many fund managers hold the CFA?", True),
        ("how  many bonds were issued in 2023", True),
        ("What is the number of funds per type?", True),
        ("Count the bonds in each credit rating.", True),
        ("For how many months of 2016 was the PMI at or above 50?", True),
        ("On how many trading days did it close lower?", True),
        ("Which funds are open?", False),
        ("What is the total issue size of all bonds?", False),
        ("List how many funds each company runs", False),
    ],
)
def test_count_questions(question, asks):
    assert asks_for_count(question) is asks


def test_a_list_is_counted_and_an_aggregate_is_not(demo_db):
    con = connect(demo_db)
    schema = introspect(con)
    listed = "SELECT manager_name FROM fund_manager WHERE certified_cfa"
    wrapped = counted(listed)
    rows = run_query(con, check_sql(wrapped, schema).sql).rows
    assert rows == con.execute("SELECT count(*) FROM fund_manager WHERE certified_cfa").fetchall()
    for kept in (
        "SELECT count(*) FROM fund",
        "SELECT fund_type, count(*) FROM fund GROUP BY fund_type",
        "SELECT fund_type FROM fund GROUP BY fund_type",
        "SELECT fund_type FROM fund UNION SELECT bond_type FROM bond",
    ):
        assert counted(kept) is None, kept
    assert counted("SELECT fund_name FROM fund WHERE management_fee > (SELECT avg(management_fee) FROM fund)")


def test_one_row_of_numbers_is_already_the_answer():
    assert already_a_number([(42,)]) and already_a_number([(1.5, 2)])
    assert not already_a_number([("Harbor",)]) and not already_a_number([(1,), (2,)])
    assert not already_a_number([(True,)]) and not already_a_number([])


def test_count_answer_only_for_a_list_answering_how_many():
    listed = "SELECT manager_name FROM fund_manager WHERE certified_cfa"
    assert count_answer("How many managers hold the CFA?", listed, [("A",), ("B",)]) == counted(listed)
    assert count_answer("Which managers hold the CFA?", listed, [("A",), ("B",)]) is None
    amount = "SELECT employees FROM stock WHERE stock_name = 'Northwind Bank'"
    assert count_answer("How many employees does Northwind Bank have?", amount, [(5200,)]) is None


@pytest.mark.parametrize(
    ("question", "sql", "counted_sql"),
    [
        ("How many bond funds are there?", "SELECT count(*) FROM bond", "SELECT count(*) FROM fund"),
        ("How many funds are closed?", "SELECT count(*) FROM fund_holding", "SELECT count(*) FROM fund"),
        (
            "How many fund companies are there?",
            "SELECT count(*) FROM fund",
            "SELECT count(*) FROM fund_company",
        ),
        (
            "What is the number of currencies?",
            "SELECT count(*) FROM exchange_rate",
            "SELECT count(*) FROM currency",
        ),
        # left alone: the counted table already, a table the question names after its noun ("prices"), a
        # count with a condition, and no table named
        ("How many stocks are listed in Shenzhen?", "SELECT count(*) FROM stock", None),
        ("How many stock prices are recorded?", "SELECT count(*) FROM stock_daily_price", None),
        (  # a condition the counted table lacks goes: the later steps add the question's own
            "How many funds were launched after 2015?",
            "SELECT count(*) FROM fund_company WHERE founded_date > '2015-12-31'",
            "SELECT count(*) FROM fund",
        ),
        ("How many funds are open?", "SELECT count(*) FROM fund_holding WHERE fund_code = '1'", None),
        ("How many trading days were there?", "SELECT count(*) FROM stock_daily_price", None),
        ("Which funds are closed?", "SELECT count(*) FROM fund_holding", None),
    ],
)
def test_a_bare_count_of_another_table_counts_the_table_the_question_counts(
    demo_db, question, sql, counted_sql
):
    from finsql.ask.shape import counted_table

    schema = introspect(connect(demo_db))
    assert counted_table(question, sql, schema) == counted_sql


def test_a_count_of_days_counts_distinct_dates_and_is_the_gold(demo_db):
    """ "How many trading days were there in 2023?" answered with the rows of a table of one row per stock
    and day: the days are its distinct dates."""
    con = connect(demo_db)
    schema = introspect(con)
    question = "How many trading days were there in 2023?"
    rows = "SELECT count(*) FROM stock_daily_price WHERE year(trade_date) = 2023"
    sql = counted_days(question, rows, schema)
    gold = "SELECT count(DISTINCT trade_date) FROM stock_daily_price WHERE year(trade_date) = 2023"
    assert run_query(con, check_sql(sql, schema).sql).rows == con.execute(gold).fetchall()
    for said, kept in (
        ("How many stocks were there in 2023?", "SELECT count(*) FROM stock_daily_price"),  # not days
        (question, "SELECT count(DISTINCT trade_date) FROM stock_daily_price"),  # counts dates already
        (question, "SELECT ticker, count(*) FROM stock_daily_price GROUP BY ticker"),  # per group
        ("Which days had trades?", "SELECT count(*) FROM stock_daily_price"),  # no count question
        (question, "SELECT count(*) FROM fund_holding h JOIN stock s ON h.ticker = s.ticker"),  # two dates
    ):
        assert counted_days(said, kept, schema) is None, (said, kept)
