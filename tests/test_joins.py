"""Joins nothing asks for: a table read only to join it, which the question never names, is dropped."""

import pytest

from finsql.ask.joins import unjoined
from finsql.db.sandbox import connect
from finsql.db.schema import introspect


@pytest.fixture(scope="module")
def demo(demo_db):
    con = connect(demo_db)
    return con, introspect(con)


@pytest.mark.parametrize(
    ("question", "sql", "gold"),
    [
        (  # the joined table repeats each stock once per dividend
            "What are the five stocks with the most total shares?",
            "SELECT s.stock_name FROM stock_dividend AS sd JOIN stock AS s ON sd.ticker = s.ticker "
            "ORDER BY s.total_shares_mn DESC LIMIT 5",
            "SELECT stock_name FROM stock ORDER BY total_shares_mn DESC LIMIT 5",
        ),
        (  # a joined table (not the FROM one) that gives nothing
            "List the names of all equity funds.",
            "SELECT f.fund_name FROM fund AS f JOIN fund_company AS fc ON f.company_id = fc.company_id "
            "WHERE f.fund_type = 'equity'",
            "SELECT fund_name FROM fund WHERE fund_type = 'equity'",
        ),
        (  # three tables: the leaf that only joins goes, the others stay
            "Which index fund has the lowest management fee?",
            "SELECT f.fund_name, f.management_fee FROM fund_size AS fs JOIN fund AS f ON fs.fund_code = "
            "f.fund_code JOIN fund_company AS c ON f.company_id = c.company_id WHERE c.company_name = 'x' "
            "AND f.fund_type = 'index' ORDER BY f.management_fee LIMIT 1",
            "SELECT f.fund_name, f.management_fee FROM fund AS f JOIN fund_company AS c ON f.company_id = "
            "c.company_id WHERE c.company_name = 'x' AND f.fund_type = 'index' "
            "ORDER BY f.management_fee LIMIT 1",
        ),
    ],
)
def test_a_table_read_only_to_join_it_is_dropped(demo, question, sql, gold):
    con, schema = demo
    out = unjoined(question, sql, schema)
    assert out is not None
    assert con.execute(out).fetchall() == con.execute(gold).fetchall()


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        (  # the question names the joined table: the join is the filter asked for
            "Which stocks paid a dividend?",
            "SELECT DISTINCT s.stock_name FROM stock_dividend AS d JOIN stock AS s ON d.ticker = s.ticker",
        ),
        (  # ... or one of its columns ("trading" days: trade_date)
            "How many trading days did the stocks have?",
            "SELECT count(*) FROM stock_daily_price AS p JOIN stock AS s ON p.ticker = s.ticker "
            "WHERE s.exchange = 'SSE'",
        ),
        (  # ... or its whole name, though another table shares its words
            "What were the net assets of the funds run by Jenny Fang?",
            "SELECT sum(fs.net_assets_mn) FROM fund_size AS fs JOIN fund AS f ON fs.fund_code = f.fund_code",
        ),
        (  # the joined table gives a column
            "List the stocks and their industries.",
            "SELECT s.stock_name, i.industry_name FROM stock s "
            "JOIN industry i ON s.industry_id = i.industry_id",
        ),
        (  # another join leans on the table
            "List the fund companies of the largest holdings.",
            "SELECT c.company_name FROM fund_holding h JOIN fund f ON h.fund_code = f.fund_code "
            "JOIN fund_company c ON f.company_id = c.company_id",
        ),
        (  # two tables could go: which one is no guess
            "Show them.",
            "SELECT 1 FROM fund_holding h JOIN fund f ON h.fund_code = f.fund_code",
        ),
        ("Any question?", "SELECT fund_name FROM fund"),
        ("Any question?", "not sql ("),
    ],
)
def test_a_join_the_question_or_the_answer_needs_is_kept(demo, question, sql):
    _, schema = demo
    assert unjoined(question, sql, schema) is None
