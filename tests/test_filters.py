"""Filters a question names: the one value filter an answer omits is added, and nothing else is."""

import duckdb

from finsql.ask.filters import (
    flag_filter,
    joined_filter,
    linked_filter,
    named_filter,
    stored_spelling,
    unsaid_negation,
)
from finsql.ask.sqlcheck import check_sql
from finsql.db.sandbox import connect, run_query
from finsql.db.schema import Column, Schema, Table, introspect


def test_the_named_value_is_filtered_and_the_answer_is_the_golds(demo_db):
    con = connect(demo_db)
    schema = introspect(con)
    matched = {"bond.bond_type": ["corporate"], "fund.fund_type": ["bond"]}  # "How many corporate bonds"
    added = named_filter("SELECT count(*) FROM bond", matched)
    gold = con.execute("SELECT count(*) FROM bond WHERE bond_type = 'corporate'").fetchall()
    assert run_query(con, check_sql(added, schema).sql).rows == gold
    joined = named_filter(
        "SELECT f.fund_name FROM fund f JOIN fund_company c ON f.company_id = c.company_id",
        {"fund.fund_type": ["equity"]},
    )
    assert "f.fund_type = 'equity'" in joined
    assert sorted(run_query(con, check_sql(joined, schema).sql).rows) == sorted(
        con.execute("SELECT fund_name FROM fund WHERE fund_type = 'equity'").fetchall()
    )
    kept = named_filter(
        "SELECT count(*) FROM stock WHERE employees > 10 OR board = 'x'", {"stock.exchange": ["SZSE"]}
    )
    assert kept.endswith("(employees > 10 OR board = 'x') AND stock.exchange = 'SZSE'")


def test_answers_that_use_the_column_or_value_or_are_ambiguous_are_left_alone():
    one = {"bond.bond_type": ["corporate"]}
    assert named_filter("SELECT count(*) FROM bond WHERE bond_type = 'treasury'", one) is None
    assert named_filter("SELECT bond_type, count(*) FROM bond GROUP BY bond_type", one) is None
    assert named_filter("SELECT count(*) FROM bond WHERE issuer = 'corporate'", one) is None  # value used
    assert named_filter("SELECT count(*) FROM fund", one) is None  # not a table the answer reads
    assert named_filter("SELECT count(*) FROM bond a JOIN bond b ON a.bond_code = b.bond_code", one) is None
    assert named_filter("SELECT 1 FROM bond UNION SELECT 2 FROM bond", one) is None
    two = {"stock.exchange": ["SZSE"], "stock.headquarters_city": ["Shenzhen"]}
    assert named_filter("SELECT count(*) FROM stock", two) is None  # which one the question means is unclear
    values = {"fund.status": ["open", "closed"]}  # "How many funds are open and how many are closed?"
    assert named_filter("SELECT count(*) FROM fund", values) is None
    assert named_filter("SELECT count(*) FROM fund", {}) is None


def test_a_value_inside_a_longer_named_value_does_not_count():
    matched = {"fund.fund_name": ["Harbor Growth Equity Fund"], "fund.fund_type": ["equity"]}
    added = named_filter("SELECT company_id FROM fund", matched)
    assert added == "SELECT company_id FROM fund WHERE fund.fund_name = 'Harbor Growth Equity Fund'"


def test_a_grouping_by_the_named_values_column_keeps_that_group(demo_db):
    from finsql.ask.filters import grouped_filter

    con = connect(demo_db)
    schema = introspect(con)
    named = {"bond.bond_type": ["treasury"]}  # "What is the average coupon rate of treasury bonds?"
    for per_type in (
        "SELECT avg(coupon_rate) AS avg_coupon FROM bond GROUP BY bond_type",
        "SELECT b.bond_type, avg(b.coupon_rate) FROM bond b GROUP BY b.bond_type",
    ):
        kept = grouped_filter(per_type, named)
        gold = con.execute("SELECT avg(coupon_rate) FROM bond WHERE bond_type = 'treasury'").fetchall()
        assert run_query(con, check_sql(kept, schema).sql).rows == gold
    for ranked in (
        "SELECT bond_type, avg(coupon_rate) AS a FROM bond GROUP BY bond_type ORDER BY a DESC LIMIT 1",
        "SELECT bond_type FROM bond GROUP BY bond_type",  # nothing but the key to show
        "SELECT credit_rating, avg(coupon_rate) FROM bond GROUP BY credit_rating",  # another column
        "SELECT bond_type, credit_rating, count(*) FROM bond GROUP BY bond_type, credit_rating",
    ):
        assert grouped_filter(ranked, named) is None, ranked
    assert grouped_filter(per_type, {"bond.bond_type": ["treasury", "corporate"]}) is None


def test_a_yes_no_column_the_question_names_is_filtered_on(demo_db):
    con = connect(demo_db)
    schema = introspect(con)
    held = flag_filter("How many fund managers hold the CFA?", "SELECT count(*) FROM fund_manager", schema)
    assert held == "SELECT COUNT(*) FROM fund_manager WHERE fund_manager.certified_cfa"
    assert run_query(con, check_sql(held, schema).sql).rows == (
        con.execute("SELECT count(*) FROM fund_manager WHERE certified_cfa").fetchall()
    )
    sql = "SELECT manager_name FROM fund_manager WHERE education = 'PhD'"
    assert flag_filter("Which managers have a PhD but no CFA charter?", sql, schema).endswith(
        "AND NOT fund_manager.certified_cfa"
    )
    both = "Show the average experience with and without a CFA, for CFA holders too."
    assert flag_filter(both, "SELECT avg(years_of_experience) FROM fund_manager", schema) is None
    used = "SELECT count(*) FROM fund_manager WHERE NOT certified_cfa"
    assert flag_filter("How many managers hold the CFA?", used, schema) is None
    assert flag_filter("How many managers hold the CFA?", "SELECT count(*) FROM fund", schema) is None


def test_a_negation_the_question_never_says_is_turned_round():
    sql = "SELECT bond_name FROM bond WHERE credit_rating <> 'AAA' AND term_years > 3"
    assert unsaid_negation("Which bonds are rated AAA?", sql) == (
        "SELECT bond_name FROM bond WHERE credit_rating = 'AAA' AND term_years > 3"
    )
    for said in ("Which bonds are not rated AAA?", "Bonds rated below AAA?", "Bonds other than AAA ones?"):
        assert unsaid_negation(said, sql) is None, said
    assert unsaid_negation("Which bonds are rated AA?", sql) is None  # a value the question does not name
    either = "SELECT bond_name FROM bond WHERE credit_rating <> 'AAA' OR term_years > 3"
    assert unsaid_negation("Which bonds are rated AAA?", either) is None


def test_a_word_of_the_table_name_names_no_flag():
    schema = Schema([Table("fund", [Column("fund_name", "VARCHAR"), Column("is_index_fund", "BOOLEAN")])])
    sql = "SELECT count(*) FROM fund"
    assert flag_filter("How many funds charge more than 1%?", sql, schema) is None
    assert flag_filter("How many index funds are there?", sql, schema).endswith("WHERE fund.is_index_fund")


def test_a_change_from_a_value_is_no_unsaid_negation():
    sql = "SELECT bond_name FROM bond WHERE prev_rating = 'AAA' AND rating <> 'AAA'"
    assert unsaid_negation("Which bonds were downgraded from AAA?", sql) is None


def test_a_filter_on_an_unsaid_value_becomes_the_named_value_of_a_joined_table(demo_db):
    """ "Which industry is Northwind Bank in?" answered with a sector the question never says: the named
    value's table (stock, one foreign key from industry; not bond, whose issuer is spelt the same) is
    joined and filtered on instead."""
    con = connect(demo_db)
    schema = introspect(con)
    matched = {"bond.issuer": ["Northwind Bank"], "stock.stock_name": ["Northwind Bank"]}
    question = "Which industry is Northwind Bank in?"
    sql = joined_filter(
        question, "SELECT industry_name FROM industry WHERE sector = 'Financials'", matched, schema
    )
    assert "JOIN stock ON stock.industry_id = industry.industry_id" in sql
    assert (
        run_query(con, check_sql(sql, schema).sql).rows
        == con.execute(
            "SELECT i.industry_name FROM stock s JOIN industry i ON s.industry_id = i.industry_id "
            "WHERE s.stock_name = 'Northwind Bank'"
        ).fetchall()
    )
    for kept, found in (
        ("SELECT industry_name FROM industry", matched),  # no filter to replace
        ("SELECT industry_name FROM industry WHERE sector = 'Financials'", {}),  # no named value
        (  # the value's table is read already
            "SELECT s.stock_name FROM stock s WHERE s.exchange = 'SSE'",
            {"stock.stock_name": ["Northwind Bank"]},
        ),
        (  # the value's table links to no table read
            "SELECT currency_name FROM currency WHERE currency_code = 'USD'",
            {"stock.stock_name": ["Northwind Bank"]},
        ),
    ):
        assert joined_filter(question, kept, found, schema) is None
    said = "Is Northwind Bank in the Financials sector?"  # the filter's value is the question's own
    assert joined_filter(said, "SELECT 1 FROM industry WHERE sector = 'Financials'", matched, schema) is None


def test_a_named_value_of_a_table_not_read_is_joined_and_filtered_on(demo_db):
    """ "Break down the funds of Red Maple Fund Management by fund type" answered over all funds: the
    company's table, one foreign key from fund, is joined and filtered on its name."""
    con = connect(demo_db)
    schema = introspect(con)
    matched = {"fund_company.company_name": ["Red Maple Fund Management"]}
    sql = linked_filter("SELECT f.fund_type, count(*) AS n FROM fund f GROUP BY f.fund_type", matched, schema)
    gold = (
        "SELECT f.fund_type, count(*) FROM fund f JOIN fund_company fc ON f.company_id = fc.company_id "
        "WHERE fc.company_name = 'Red Maple Fund Management' GROUP BY f.fund_type"
    )
    assert sorted(run_query(con, check_sql(sql, schema).sql).rows) == sorted(con.execute(gold).fetchall())
    pound = {"currency.currency_name": ["British Pound"]}
    rates = "SELECT rate_date, mid_rate FROM exchange_rate WHERE currency_code = 'GBP'"
    shared = linked_filter(rates, pound, schema)  # currency_code, in both tables, is qualified first
    assert sorted(run_query(con, check_sql(shared, schema).sql).rows) == sorted(con.execute(rates).fetchall())
    spelt_twice = {"bond.issuer": ["Northwind Bank"], "stock.stock_name": ["Northwind Bank"]}
    assert "JOIN stock ON" in linked_filter("SELECT industry_name FROM industry", spelt_twice, schema)
    two = matched | {"fund_manager.manager_name": ["Helen Cao"]}
    for kept, found in (
        ("SELECT fund_type FROM fund", two),  # which value the answer lacks is unclear
        ("SELECT fund_type FROM fund f JOIN fund_company c ON f.company_id = c.company_id", matched),  # read
        ("SELECT bond_name FROM bond", matched),  # no key links the company to bonds
        ("SELECT fund_type FROM fund WHERE fund_name = 'Red Maple Fund Management'", matched),  # used
        ("SELECT fund_type FROM fund", {}),
    ):
        assert linked_filter(kept, found, schema) is None, kept


def test_a_value_written_in_another_case_is_spelt_as_stored(demo_db, tmp_path):
    """ "northwind bank" (or a model's 'Gujinggongjiu') matches nothing; the column stores one spelling of
    it in another case, which the answer then uses. Two stored spellings: which one is meant is unclear."""
    con = connect(demo_db)
    schema = introspect(con)

    def rows(sql):
        return run_query(con, check_sql(sql, schema).sql).rows

    typed = "SELECT ticker FROM stock s WHERE s.stock_name = 'northwind bank' AND exchange <> 'x'"
    sql = stored_spelling(typed, schema, rows)
    gold = "SELECT ticker FROM stock WHERE stock_name = 'Northwind Bank'"
    assert rows(sql) == con.execute(gold).fetchall() and rows(sql)
    assert stored_spelling(gold, schema, rows) is None  # stored as written
    assert stored_spelling("SELECT ticker FROM stock WHERE stock_name = 'Nobody'", schema, rows) is None
    assert stored_spelling("SELECT ticker FROM stock WHERE employees = 5", schema, rows) is None
    path = tmp_path / "cases.duckdb"
    with duckdb.connect(str(path)) as own:
        own.execute("CREATE TABLE r (period VARCHAR, v INTEGER)")
        own.execute("INSERT INTO r VALUES ('One Year', 1), ('one year', 2), ('Two Years', 3)")
    cases = connect(path)
    other = introspect(cases)

    def case_rows(sql):
        return run_query(cases, check_sql(sql, other).sql).rows

    assert stored_spelling("SELECT v FROM r WHERE period = 'ONE YEAR'", other, case_rows) is None  # two
    assert "'Two Years'" in stored_spelling("SELECT v FROM r WHERE period = 'two years'", other, case_rows)
