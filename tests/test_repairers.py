"""The built-in closest-name SQL repairer, on the demo schema, checked with the real validator."""

import math

import pytest

from finsql.ask.sqlcheck import check_sql
from finsql.ask.voting import Decision, assess
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.errors import SQLRefused
from finsql.plugins import sql_repairers


@pytest.fixture(scope="module")
def schema(demo_db):
    return introspect(connect(demo_db))


@pytest.fixture(scope="module")
def repair():
    return sql_repairers()["closest-names"]


@pytest.mark.parametrize(
    ("broken", "expected_fragment"),
    [
        ("SELECT fund_name FROM funds", "FROM fund"),
        ("SELECT fund_nme FROM fund", "SELECT fund_name FROM fund"),
        ("SELECT x.close_price FROM stock_daily_price AS p", "p.close_price"),
        (
            "SELECT s.stock_nam, p.close_price FROM stock AS s "
            "JOIN stock_daily_price AS p ON s.ticker = p.ticker",
            "s.stock_name",
        ),
        (
            "SELECT count(*) FROM stock_daily_price AS p JOIN stock AS s ON p.ticker = s.ticker "
            "WHERE p.stock_name = 'Brightview Displays' AND p.close_price < p.open_price",
            "WHERE s.stock_name = 'Brightview Displays' AND p.close_price < p.open_price",
        ),
        (  # a date column of another table: the one date column of the query's table
            "SELECT year(maturity_date) AS yr, avg(cgb_10y_yield) FROM macro_indicator GROUP BY yr",
            "SELECT YEAR(report_month) AS yr",
        ),
    ],
)
def test_repairs_make_sql_valid(schema, repair, broken, expected_fragment):
    with pytest.raises(SQLRefused):
        check_sql(broken, schema)
    fixed = repair(broken, schema)
    assert expected_fragment in fixed
    check_sql(fixed, schema)


def test_valid_and_hopeless_sql_left_alone(schema, repair):
    good = "SELECT fund_type, count(*) AS n FROM fund GROUP BY fund_type ORDER BY n DESC"
    assert repair(good, schema) == good
    assert repair("SELECT zzzzqqq FROM fund", schema) == "SELECT zzzzqqq FROM fund"
    two_dates = "SELECT bond_name, year(report_month) FROM bond"  # issue_date, maturity_date: which?
    assert repair(two_dates, schema) == two_dates
    assert repair("not sql at all (", schema) == "not sql at all ("


def test_decoder_repairs_then_votes(demo_db, schema):
    """A misspelt candidate is repaired and joins the vote; a hopeless one stays refused."""
    from finsql.ask.generation import Candidate
    from finsql.ask.voting import decide

    con = connect(demo_db)
    candidates = [
        Candidate("", "SELECT count(*) FROM fund", -0.5, greedy=True),
        Candidate("", "SELECT count(*) FROM funds", -0.4, greedy=False),
        Candidate("", "SELECT count(*) FROM bond", -0.1, greedy=False),
        Candidate("", "SELECT nonsense_zz FROM fund", -0.2, greedy=False),
    ]
    decision = decide(candidates, schema, con, repairers=list(sql_repairers().items()))
    statuses = [a.status for a in decision.attempts]
    assert statuses == ["ok", "ok", "ok", "refused"]
    assert decision.attempts[1].repaired_by == ["closest-names"]
    assert decision.best.candidate.sql == "SELECT count(*) FROM fund"
    assert decision.confidence == 0.5
    assert decision.attempts[0].group == decision.attempts[1].group != decision.attempts[2].group
    assessment = assess(decision)  # half the vote, times the winner's per-token likelihood exp(-0.5)
    assert assessment.confidence == pytest.approx(0.5 * math.exp(-0.5))
    assert assessment.low and assessment.warnings == (
        "the candidates disagree (2 of 4 agree)",
        "the model is unsure (30%)",
    )


def test_confidence_of_a_lone_answer_and_of_an_empty_result(demo_db, schema):
    """One greedy answer is scored by its likelihood; an empty result is flagged whatever the score."""
    from finsql.ask.generation import Candidate
    from finsql.ask.voting import decide

    con = connect(demo_db)
    sure = assess(decide([Candidate("", "SELECT count(*) FROM fund", -0.05, greedy=True)], schema, con))
    assert sure.confidence == pytest.approx(math.exp(-0.05)) and not sure.low and sure.warnings == ()
    empty = "SELECT fund_name FROM fund WHERE fund_type = 'none'"
    nothing = assess(decide([Candidate("", empty, -0.01, greedy=True)], schema, con))
    assert nothing.low and nothing.warnings == ("the result is empty",)
    assert assess(decide([Candidate("", "SELECT nope FROM fund", 0.0, greedy=True)], schema, con)).low


def test_sql_nested_too_deep_is_left_to_the_checker(schema, repair):
    """A run-on of parentheses must not crash the decoder: the repairer leaves it, the checker refuses."""
    deep = "SELECT " + "(" * 3000 + "1" + ")" * 3000 + " FROM fund"
    assert repair(deep, schema) == deep


@pytest.mark.parametrize(
    ("broken", "trimmed"),
    [
        ('SELECT count(*) FROM fund WHERE gender = "YEAR"', "SELECT count(*) FROM fund"),
        (
            "SELECT education, count(*) AS n FROM fund_manager GROUP BY education, risk_level, risk_level",
            "SELECT education, count(*) AS n FROM fund_manager GROUP BY education",
        ),
        (
            "SELECT count(*) FROM fund WHERE fund_type = 'bond' AND code.fund_code = (SELECT code.x FROM (",
            "SELECT count(*) FROM fund WHERE fund_type = 'bond'",
        ),
        (
            "SELECT fund_name FROM fund WHERE fund_name = 'a, b WHERE c' OR zzz ORDER BY",
            "SELECT fund_name FROM fund WHERE fund_name = 'a, b WHERE c'",
        ),
    ],
)
def test_trimming_keeps_the_longest_valid_prefix(schema, broken, trimmed):
    """A statement broken after its first clauses is cut at the last top-level boundary that validates
    (never inside a string or parentheses)."""
    trim = sql_repairers()["trim-clauses"]
    with pytest.raises(SQLRefused):
        check_sql(broken, schema)
    assert trim(broken, schema) == check_sql(trimmed, schema).sql


def test_trimming_leaves_valid_and_hopeless_sql_alone(schema):
    trim = sql_repairers()["trim-clauses"]
    good = "SELECT fund_type, count(*) AS n FROM fund WHERE fund_type <> 'bond' GROUP BY fund_type"
    assert trim(good, schema) == good
    for hopeless in ("SELECT s.stock_name, s.ticker", "SELECT zzz FROM fund WHERE x", "not sql ("):
        assert trim(hopeless, schema) == hopeless


def test_a_one_table_query_moves_to_the_table_that_has_its_columns(schema):
    from finsql_plugins.repair_names import repair_owning_table as owning

    broken = "SELECT avg(management_fee) AS fee FROM fund_company f WHERE f.fund_type = 'bond'"
    with pytest.raises(SQLRefused):
        check_sql(broken, schema)
    fixed = owning(broken, schema)
    assert "FROM fund AS f" in fixed
    check_sql(fixed, schema)
    # Columns several tables have, joins and valid queries are left to the other repairs.
    for kept in (
        "SELECT fund_code FROM bond",
        "SELECT f.management_fee FROM fund_company f JOIN fund g ON f.company_id = g.company_id",
        "SELECT fund_name FROM fund",
    ):
        assert owning(kept, schema) == kept


def run_repaired(demo_db, schema, broken: str):
    """``broken`` checked, repaired and run by every registered repairer, as ``ask`` runs a candidate."""
    from finsql.ask.generation import Candidate
    from finsql.ask.voting import run_candidate

    return run_candidate(
        Candidate(broken, broken, -1.0, True),
        schema,
        connect(demo_db),
        10.0,
        100,
        list(sql_repairers().items()),
    )


@pytest.mark.parametrize(
    ("broken", "grouped"),
    [
        ("SELECT fund_type, count(*) AS n FROM fund", "GROUP BY fund_type"),
        (
            "SELECT year(inception_date) AS y, avg(management_fee) FROM fund ORDER BY y",
            "GROUP BY YEAR(inception_date)",
        ),
    ],
)
def test_an_aggregate_with_plain_columns_is_grouped_by_them(demo_db, schema, broken, grouped):
    """DuckDB's binder refuses these at execution; the candidate is repaired then and runs."""
    attempt = run_repaired(demo_db, schema, broken)
    assert attempt.status == "ok" and attempt.repaired_by == ["group-by-columns"]
    assert grouped in attempt.candidate.sql
    add = sql_repairers()["group-by-columns"]
    for kept in (
        "SELECT count(*) FROM fund",
        "SELECT fund_type, count(*) OVER () FROM fund",
        "SELECT fund_name FROM fund",
    ):
        assert add(kept, schema) == kept


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        (  # no aggregate anywhere: the GROUP BY was a stray
            "SELECT f.fund_name, s.net_assets_mn FROM fund_size s JOIN fund f ON s.fund_code = f.fund_code "
            "GROUP BY f.fund_name ORDER BY s.net_assets_mn DESC LIMIT 3",
            "SELECT f.fund_name, s.net_assets_mn FROM fund_size AS s JOIN fund AS f ON s.fund_code = "
            "f.fund_code ORDER BY s.net_assets_mn DESC LIMIT 3",
        ),
        (  # one row: nothing to order
            "SELECT count(*) FROM fund_manager WHERE years_of_experience > 1 ORDER BY years_of_experience",
            "SELECT COUNT(*) FROM fund_manager WHERE years_of_experience > 1",
        ),
    ],
)
def test_a_grouping_that_leaves_a_shown_column_out_is_mended(demo_db, schema, broken, fixed):
    """DuckDB's binder refuses these at execution; the candidate is repaired then and runs."""
    attempt = run_repaired(demo_db, schema, broken)
    assert attempt.status == "ok" and attempt.repaired_by == ["ungrouped-columns"]
    assert attempt.candidate.sql == fixed
    regroup = sql_repairers()["ungrouped-columns"]
    for kept in (
        "SELECT fund_type, count(*) AS n FROM fund GROUP BY fund_type ORDER BY n DESC",
        "SELECT year(nav_date) AS y, avg(unit_nav) FROM fund_nav GROUP BY year(nav_date) ORDER BY y",
        "SELECT year(nav_date), avg(unit_nav) FROM fund_nav GROUP BY 1",
        "SELECT fund_type, count(*) FROM fund GROUP BY fund_type ORDER BY management_fee",  # no better guess
        "SELECT education, count(*) FROM fund_manager GROUP BY gender",  # which one was meant: no guess
        "SELECT fund_type FROM fund GROUP BY fund_type",
    ):
        assert regroup(kept, schema) == kept


@pytest.mark.parametrize(
    ("broken", "join"),
    [
        ("SELECT f.fund_name, unit_nav FROM fund f WHERE f.fund_type = 'bond'", "JOIN fund_nav"),
        (
            "SELECT s.stock_name, p.close_price FROM stock_daily_price p",
            "JOIN stock AS s ON s.ticker = p.ticker",
        ),
        ("SELECT f.unit_nav FROM fund f", "JOIN fund_nav AS fund_nav ON fund_nav.fund_code = f.fund_code"),
        (  # a second column joined through the table the first one brought
            "SELECT s.stock_name, turnover_rate FROM stock_shareholder",
            "JOIN stock AS s ON s.ticker = stock_shareholder.ticker "
            "JOIN stock_daily_price AS stock_daily_price ON stock_daily_price.ticker = s.ticker",
        ),
        (  # under the alias of a table that lacks it; the same column in ORDER BY follows
            "SELECT s.stock_name, f.market_value_mn FROM stock_dividend f "
            "JOIN stock s ON f.ticker = s.ticker ORDER BY f.market_value_mn DESC",
            "JOIN fund_holding AS fund_holding ON fund_holding.ticker = s.ticker "
            "ORDER BY fund_holding.market_value_mn DESC",
        ),
    ],
)
def test_a_column_of_a_table_never_joined_is_joined_along_its_foreign_key(demo_db, schema, broken, join):
    from finsql_plugins.repair_names import repair_missing_join

    with pytest.raises(SQLRefused):
        check_sql(broken, schema)
    fixed = repair_missing_join(broken, schema)
    assert join in fixed
    check_sql(fixed, schema)
    assert connect(demo_db).execute(fixed).fetchall()
    # A column several unjoined tables could bring (fund_code), or another table of the query has, is left
    # alone (the closest-name repair moves it).
    for kept in (
        "SELECT b.bond_name, fund_code FROM bond b",
        "SELECT f.fund_name, n.fund_name FROM fund f JOIN fund_nav n ON f.fund_code = n.fund_code",
        'SELECT count(*) FROM fund WHERE gender = "year"',  # a filter that broke down: trimmed instead
    ):
        assert repair_missing_join(kept, schema) == kept


def test_a_select_list_that_never_reached_from_reads_the_one_table_with_its_columns(demo_db, schema):
    """The model repeated its select list to the token limit: what it named before the first repeat is
    read from the one table that has it, run through every repairer as ``ask`` does."""
    attempt = run_repaired(demo_db, schema, "SELECT report_month, cpi_yoy, cpi_yoy, cpi_yoy, cpi_y")
    assert attempt.status == "ok" and "select-list-from" in attempt.repaired_by
    assert attempt.candidate.sql == "SELECT report_month, cpi_yoy FROM macro_indicator"
    flagged = assess(Decision(attempt, [attempt], 1.0))  # a run-on is likely text: say it was repaired
    assert flagged.low and any("repaired (" in w and "select-list-from" in w for w in flagged.warnings)
    add = sql_repairers()["select-list-from"]
    assert add("SELECT DISTINCT fund_type, fund_type,", schema) == "SELECT DISTINCT fund_type FROM fund"
    for kept in (
        "SELECT fund_code, fund_code, fund_code",  # many tables have fund_code
        "SELECT fund_name FROM fund",  # has its FROM
        "SELECT max(cpi_yoy), cpi_yoy",  # an expression first
        "SELECT no_such_column, cpi_yoy",
    ):
        assert add(kept, schema) == kept


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        (  # DuckDB's binder refuses a DATE compared with an integer
            "SELECT count(*) FROM fund WHERE inception_date > 2015",
            "SELECT COUNT(*) FROM fund WHERE YEAR(inception_date) > 2015",
        ),
        (  # '2022' is no date: a conversion error
            "SELECT avg(cgb_10y_yield) FROM macro_indicator WHERE report_month = '2022'",
            "SELECT AVG(cgb_10y_yield) FROM macro_indicator WHERE YEAR(report_month) = 2022",
        ),
        (  # a year and a month, under an alias, the literal first
            "SELECT m.cpi_yoy FROM macro_indicator m WHERE '2023-02' = m.report_month",
            "SELECT m.cpi_yoy FROM macro_indicator AS m WHERE (2023 = YEAR(m.report_month) AND "
            "MONTH(m.report_month) = 2)",
        ),
    ],
)
def test_a_date_compared_with_a_year_is_compared_by_its_year(demo_db, schema, broken, fixed):
    attempt = run_repaired(demo_db, schema, broken)
    assert attempt.status == "ok" and "year-comparisons" in attempt.repaired_by
    assert attempt.candidate.sql == fixed
    assert attempt.result.rows == connect(demo_db).execute(fixed).fetchall()


def test_year_comparisons_leave_other_types_and_dates_alone(schema):
    from finsql_plugins.repair_dates import year_comparisons

    for kept in (
        "SELECT fund_name FROM fund WHERE management_fee > 2015",  # a number column
        "SELECT fund_name FROM fund WHERE inception_date > '2015-06-30'",  # a whole date
        "SELECT fund_name FROM fund WHERE inception_date > 15",  # no plausible year
        "SELECT fiscal_year FROM stock_dividend WHERE fiscal_year = 2020",  # a year column already
        "not sql (",
    ):
        assert year_comparisons(kept, schema) == kept
    negated = year_comparisons("SELECT 1 FROM fund WHERE inception_date <> '2019-03'", schema)
    assert (
        negated == "SELECT 1 FROM fund WHERE NOT (YEAR(inception_date) = 2019 AND MONTH(inception_date) = 3)"
    )
    # ordered against a month: the day that bounds it ("after February 2023", "up to December 2023")
    after = year_comparisons("SELECT 1 FROM macro_indicator WHERE report_month > '2023-02'", schema)
    assert after.endswith("WHERE report_month >= CAST('2023-03-01' AS DATE)")
    upto = year_comparisons("SELECT 1 FROM macro_indicator WHERE '2023-12' >= report_month", schema)
    assert upto.endswith("WHERE CAST('2024-01-01' AS DATE) > report_month")


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        (  # the model named a day, then took the column's year: the day is meant
            "SELECT fund_code FROM fund_size WHERE year(report_date) = 2020-12-31",
            "SELECT fund_code FROM fund_size WHERE report_date = '2020-12-31'",
        ),
        (  # BETWEEN two days
            "SELECT unit_nav FROM fund_nav WHERE fund_code = '009783' AND nav_date BETWEEN 2022-07-01 AND "
            "2022-12-31",
            "SELECT unit_nav FROM fund_nav WHERE fund_code = '009783' AND nav_date BETWEEN '2022-07-01' AND "
            "'2022-12-31'",
        ),
        (  # a year column compared with a day: its year
            "SELECT ticker FROM stock_dividend AS d WHERE d.fiscal_year = 2022-03-01",
            "SELECT ticker FROM stock_dividend AS d WHERE d.fiscal_year = 2022",
        ),
        (  # a year and month (leading zero): quoted, then compared by month
            "SELECT cpi_yoy FROM macro_indicator WHERE report_month = 2023-02",
            "SELECT cpi_yoy FROM macro_indicator WHERE (YEAR(report_month) = 2023 AND "
            "MONTH(report_month) = 2)",
        ),
    ],
)
def test_a_date_without_quotes_is_refused_then_read_as_that_date(demo_db, schema, broken, fixed):
    assert_refused_then_repaired(demo_db, schema, broken, fixed, "date without quotes", "quote-dates")


def assert_refused_then_repaired(demo_db, schema, broken: str, fixed: str, refusal: str, repairer: str):
    """``broken`` is refused for ``refusal``, and ``repairer`` (first) turns it into ``fixed``, which runs."""
    with pytest.raises(SQLRefused, match=refusal):
        check_sql(broken, schema)
    attempt = run_repaired(demo_db, schema, broken)
    assert attempt.status == "ok" and attempt.repaired_by[0] == repairer
    assert attempt.candidate.sql == fixed
    assert attempt.result.rows == connect(demo_db).execute(fixed).fetchall()


def test_arithmetic_that_spells_no_date_is_left_alone(schema):
    from finsql_plugins.repair_dates import unquoted_dates

    for kept in (
        "SELECT 2022 - 10 FROM fund",  # ten years before 2022
        "SELECT 2024 - 13 - 01 FROM fund",  # no month 13
        "SELECT 20 - 12 - 31 FROM fund",  # no year
        "SELECT fund_name FROM fund WHERE inception_date > '2015-06-30'",
    ):
        assert check_sql(kept, schema).sql == kept
        assert unquoted_dates(kept, schema) == kept


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        (  # the select list and the filter name a column both tables keep: the table read first
            "SELECT report_date, net_assets_mn FROM fund_size AS fs JOIN fund_holding AS h "
            "ON fs.fund_code = h.fund_code AND fs.report_date = h.report_date WHERE fund_code = '000001'",
            "SELECT fs.report_date, net_assets_mn FROM fund_size AS fs JOIN fund_holding AS h "
            "ON fs.fund_code = h.fund_code AND fs.report_date = h.report_date WHERE fs.fund_code = '000001'",
        ),
        (  # without aliases, the table's own name; a subquery's column stays in the subquery's scope
            "SELECT DISTINCT ticker FROM stock JOIN stock_shareholder ON stock.ticker = "
            "stock_shareholder.ticker WHERE employees > (SELECT avg(employees) FROM stock) ORDER BY 1",
            "SELECT DISTINCT stock.ticker FROM stock JOIN stock_shareholder ON stock.ticker = "
            "stock_shareholder.ticker WHERE employees > (SELECT AVG(employees) FROM stock) ORDER BY 1",
        ),
    ],
)
def test_an_ambiguous_column_is_read_from_the_table_the_query_reads_first(demo_db, schema, broken, fixed):
    assert_refused_then_repaired(demo_db, schema, broken, fixed, "ambiguous column", "qualify-ambiguous")


def test_a_column_one_table_has_or_a_join_condition_names_is_left_alone(schema):
    from finsql_plugins.repair_ambiguous import qualify_ambiguous

    for kept in (
        "SELECT stock_name, holder_name FROM stock AS s JOIN stock_shareholder AS h ON s.ticker = h.ticker",
        "SELECT fund_name FROM fund JOIN fund_size USING (fund_code)",
        "SELECT h.ticker FROM fund_holding AS h JOIN stock AS s ON ticker = s.ticker",  # the ON's own
        "SELECT fund_code FROM fund",
        "SELECT fund_code FROM (SELECT f.fund_code FROM fund AS f JOIN fund_size AS fs "
        "ON f.fund_code = fs.fund_code)",
    ):
        assert qualify_ambiguous(kept, schema) == kept
