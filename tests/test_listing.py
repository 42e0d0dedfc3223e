"""Lists a question asks for: both halves of "X with their Y" shown, "in alphabetical order" sorted so."""

import pytest

from finsql.ask.listing import alphabetical, per_period, with_their
from finsql.ask.sqlcheck import check_sql
from finsql.db.sandbox import connect, run_query
from finsql.db.schema import introspect


@pytest.fixture(scope="module")
def demo(demo_db):
    con = connect(demo_db)
    schema = introspect(con)

    def rows(sql):
        return run_query(con, check_sql(sql, schema).sql).rows

    yield con, rows, schema
    con.close()


@pytest.mark.parametrize(
    ("question", "sql", "gold"),
    [
        (  # only the names shown: the currencies themselves (their key) go before them
            "List all currencies with their names.",
            "SELECT currency_name FROM currency",
            "SELECT currency_code, currency_name FROM currency",
        ),
        (  # the sector named after "with its" joins the industries
            "List every industry with its sector.",
            "SELECT industry_name FROM industry",
            "SELECT industry_name, sector FROM industry",
        ),
        (  # two tables read: the column is qualified, the listed thing (a name column) first
            "Show the stocks along with their board, please.",
            "SELECT s.board FROM stock s JOIN industry i ON s.industry_id = i.industry_id",
            "SELECT s.stock_name, s.board FROM stock s JOIN industry i ON s.industry_id = i.industry_id",
        ),
    ],
)
def test_a_list_with_their_column_shows_both_halves_and_is_the_gold(demo, question, sql, gold):
    con, rows, schema = demo
    out = with_their(question, sql, schema)
    assert out is not None
    assert sorted(rows(out)) == sorted(con.execute(gold).fetchall())


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        ("List all currencies.", "SELECT currency_name FROM currency"),  # nothing paired
        ("Compare each fund's fee with its benchmark.", "SELECT fund_name FROM fund"),  # compared
        ("List all currencies with their names.", "SELECT currency_code, currency_name FROM currency"),
        ("List the fund managers with their company.", "SELECT manager_name FROM fund_manager"),  # a key
        ("List the funds with their zebra count.", "SELECT fund_name FROM fund"),  # names no column
        ("List the fund types with their fee.", "SELECT fund_type, avg(management_fee) FROM fund GROUP BY 1"),
        ("List the funds with their name.", "SELECT fund_name, fund_code FROM fund"),  # shown already
    ],
)
def test_nothing_is_added_where_the_list_is_whole_or_the_words_name_no_one_column(demo, question, sql):
    _, _, schema = demo
    assert with_their(question, sql, schema) is None


def test_alphabetical_order_sorts_by_the_first_text_column_shown(demo):
    con, rows, schema = demo
    question = "List every industry with its sector, in alphabetical order."
    out = alphabetical(question, "SELECT industry_name, sector FROM industry ORDER BY sector", schema)
    gold = "SELECT industry_name, sector FROM industry ORDER BY industry_name"
    assert rows(out) == con.execute(gold).fetchall()
    bonds = "SELECT coupon_rate, bond_name FROM bond"
    unordered = alphabetical("Name the bonds alphabetically.", bonds, schema)
    assert unordered.endswith("ORDER BY bond_name")
    backwards = "SELECT industry_name FROM industry ORDER BY industry_name DESC"
    descending = alphabetical(question, backwards, schema)
    assert descending.endswith("ORDER BY industry_name")
    assert alphabetical(question, "SELECT industry_name FROM industry ORDER BY industry_name", schema) is None
    assert alphabetical("List every industry.", "SELECT industry_name FROM industry", schema) is None
    assert alphabetical(question, "SELECT count(*) FROM industry", schema) is None  # no text shown


def test_a_list_for_each_quarter_shows_and_orders_the_quarter(demo):
    con, rows, schema = demo
    question = "Compare Quantum Chip Technologies' operating cash flow with its net profit for each quarter."
    sql = (
        "SELECT fin.operating_cash_flow, fin.net_profit FROM stock_financials fin JOIN stock s "
        "ON fin.ticker = s.ticker WHERE s.stock_name = 'Quantum Chip Technologies' AND fin.fiscal_year = 2021"
    )
    gold = sql.replace("SELECT fin.", "SELECT fin.fiscal_quarter, fin.") + " ORDER BY fin.fiscal_quarter"
    for before in (sql, sql + " ORDER BY fin.fiscal_year"):  # an order on the fixed year orders nothing
        assert rows(per_period(question, before, schema)) == con.execute(gold).fetchall()
    assert per_period(question, sql + " ORDER BY fin.net_profit DESC", schema) is None  # ordered otherwise
    assert per_period(question, gold, schema) is None  # shown and ordered already
    summed = "SELECT sum(net_profit) FROM stock_financials WHERE fiscal_year = 2021"
    assert per_period(question, summed, schema) is None  # one figure: grouping is another step's
    assert per_period("Show the 2021 net profit.", sql, schema) is None  # no period listed
