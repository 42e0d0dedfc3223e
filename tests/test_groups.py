"""Groups a question states: one figure per named column, and the bound on a count per group."""

import pytest

from finsql.ask.groups import count_bounded, count_formed, grouped_by_named
from finsql.ask.sqlcheck import check_sql
from finsql.db.sandbox import connect, run_query
from finsql.db.schema import Column, Schema, Table, introspect

SCHEMA = Schema(
    [
        Table(
            "fund_company",
            [
                Column("company_id", "INTEGER", primary_key=True),
                Column("ownership_type", "VARCHAR"),
                Column("registered_capital_mn", "DOUBLE"),
            ],
        ),
        Table(
            "fund", [Column("fund_code", "VARCHAR"), Column("company_id", "INTEGER"), Column("fee", "DOUBLE")]
        ),
    ]
)


def test_one_aggregate_is_grouped_by_the_column_the_question_names(demo_db):
    question = "What is the average registered capital of fund companies by ownership type?"
    sql = grouped_by_named(question, "SELECT avg(registered_capital_mn) FROM fund_company", SCHEMA)
    assert (
        sql == "SELECT ownership_type, AVG(registered_capital_mn) FROM fund_company GROUP BY ownership_type"
    )
    con = connect(demo_db)
    schema = introspect(con)
    gold = "SELECT ownership_type, avg(registered_capital_mn) FROM fund_company GROUP BY ownership_type"
    assert sorted(run_query(con, check_sql(sql, schema).sql).rows) == sorted(con.execute(gold).fetchall())
    joined = "SELECT avg(f.fee) FROM fund f JOIN fund_company c ON f.company_id = c.company_id"
    assert grouped_by_named("Average fee for each ownership type?", joined, SCHEMA).startswith(
        "SELECT c.ownership_type, AVG(f.fee) FROM"
    )


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        (
            "Average capital by ownership type?",
            "SELECT ownership_type, avg(x) FROM t GROUP BY ownership_type",
        ),
        (
            "Average capital by ownership type?",
            "SELECT registered_capital_mn FROM fund_company",
        ),  # no aggregate
        ("Average capital by registered capital?", "SELECT avg(registered_capital_mn) FROM fund_company"),
        ("Average capital of all companies?", "SELECT avg(registered_capital_mn) FROM fund_company"),
    ],
)
def test_answers_already_grouped_or_not_named_by_a_text_column_are_left_alone(question, sql):
    assert grouped_by_named(question, sql, SCHEMA) is None


def test_the_bound_on_a_count_per_group_is_added():
    sql = "SELECT city, count(*) AS n FROM stock GROUP BY city"
    assert count_bounded("Which cities are home to at least two listed companies?", sql, SCHEMA) == (
        "SELECT city, COUNT(*) AS n FROM stock GROUP BY city HAVING COUNT(*) >= 2"
    )
    assert count_bounded("Which funds had more than 3 managers?", sql, SCHEMA).endswith("HAVING COUNT(*) > 3")
    assert count_bounded("Which cities have fewer than 5 stocks?", sql, SCHEMA).endswith(
        "HAVING COUNT(*) < 5"
    )


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        ("Which funds held more than 3% of their NAV?", "SELECT f, count(*) FROM h GROUP BY f"),
        ("Which stocks rose more than 5 percent?", "SELECT f, count(*) FROM h GROUP BY f"),
        ("Managers with more than 15 years of experience?", "SELECT f, count(*) FROM h GROUP BY f"),
        (
            "Cities with at least two companies?",
            "SELECT city, count(*) FROM s GROUP BY city HAVING count(*) > 1",
        ),
        ("Cities with at least two companies?", "SELECT city FROM s"),
        ("Cities with at least two and at most 5 companies?", "SELECT city, count(*) FROM s GROUP BY city"),
    ],
)
def test_no_bound_is_added_to_amounts_or_answers_that_do_not_count_per_group(question, sql):
    assert count_bounded(question, sql, SCHEMA) is None


def test_a_column_already_filtered_on_is_not_grouped_by():
    sql = "SELECT avg(registered_capital_mn) FROM fund_company WHERE ownership_type = 'private'"
    assert grouped_by_named("Average capital of companies by ownership type private?", sql, SCHEMA) is None


def test_a_number_the_answer_already_compares_is_no_count_bound():
    sql = "SELECT sector, count(*) FROM stock WHERE employees > 1000 GROUP BY sector"
    assert count_bounded("For each sector, how many have more than 1000 employees?", sql, SCHEMA) is None


def test_a_grouped_count_counts_the_rows_of_the_table_the_question_counts(demo_db):
    from finsql.ask.groups import counted_rows

    con = connect(demo_db)
    schema = introspect(con)
    question = "How many funds does each fund company run?"
    sql = counted_rows(
        question, "SELECT company_name, count(*) AS funds FROM fund_company GROUP BY company_name", schema
    )
    assert "JOIN fund ON fund.company_id = fund_company.company_id" in sql
    gold = (
        "SELECT c.company_name, count(*) FROM fund f JOIN fund_company c ON f.company_id = c.company_id "
        "GROUP BY c.company_name"
    )
    assert sorted(con.execute(sql).fetchall()) == sorted(con.execute(gold).fetchall())
    for kept in (
        "SELECT fund_type, count(*) FROM fund GROUP BY fund_type",  # the counted table already
        "SELECT company_name, count(*) FROM fund_company",  # no groups
        "SELECT c.company_name, count(*) FROM fund_company c JOIN fund f ON f.company_id = c.company_id "
        "GROUP BY c.company_name",  # joined already
    ):
        assert counted_rows(question, kept, schema) is None
    assert (
        counted_rows(
            "Which company has most funds?",
            "SELECT company_name, count(*) FROM fund_company GROUP BY company_name",
            schema,
        )
        is None
    )  # no count question


def test_a_count_of_several_named_values_counts_each_of_them(demo_db):
    from finsql.ask.groups import counted_values

    con = connect(demo_db)
    schema = introspect(con)
    question = "How many funds are open and how many are closed?"
    matched = {"fund.status": ["closed", "open"]}
    sql = counted_values(question, "SELECT count(*) FROM fund WHERE status = 'closed'", matched, schema)
    assert sql == "SELECT status, COUNT(*) FROM fund WHERE status IN ('closed', 'open') GROUP BY status"
    gold = "SELECT status, count(*) FROM fund GROUP BY status"
    assert sorted(con.execute(sql).fetchall()) == sorted(con.execute(gold).fetchall())
    joined = (
        "SELECT count(*) FROM fund f JOIN fund_company c ON f.company_id = c.company_id "
        "WHERE c.company_name = 'X' AND f.status = 'open'"
    )
    assert counted_values(question, joined, matched, schema).endswith(
        "WHERE c.company_name = 'X' AND f.status IN ('closed', 'open') GROUP BY f.status"
    )
    for kept in ("SELECT status, count(*) FROM fund GROUP BY status", "SELECT avg(fee) FROM fund"):
        assert counted_values(question, kept, matched, schema) is None
    once = "How many funds are open or closed?"  # one total
    assert counted_values(once, "SELECT count(*) FROM fund", matched, schema) is None
    assert counted_values(question, "SELECT count(*) FROM fund", {"fund.status": ["open"]}, schema) is None


def test_a_list_joined_to_the_things_it_bounds_is_grouped_counted_and_bounded(demo_db):
    """ "Which fund companies run at least 4 funds?" answered with each company once per fund: the
    companies are grouped, their funds counted and bounded as the question says."""
    con = connect(demo_db)
    schema = introspect(con)
    question = "Which fund companies run at least 4 funds?"
    listed = "SELECT fc.company_name FROM fund_company fc JOIN fund f ON fc.company_id = f.company_id"
    sql = count_formed(question, listed, schema)
    gold = (
        "SELECT fc.company_name, count(*) AS funds FROM fund f JOIN fund_company fc ON f.company_id = "
        "fc.company_id GROUP BY fc.company_name HAVING count(*) >= 4"
    )
    assert sorted(run_query(con, check_sql(sql, schema).sql).rows) == sorted(con.execute(gold).fetchall())
    for said, kept in (
        ("Which fund companies have at least 4 employees?", listed),  # employees: no table
        (question, "SELECT company_name FROM fund_company"),  # nothing joined to count
        (question, "SELECT f.fund_name FROM fund_company fc JOIN fund f ON fc.company_id = f.company_id"),
        (question, listed + " ORDER BY fc.company_name LIMIT 4"),  # ranked already
        (question, "SELECT fc.company_name, f.fund_name FROM fund_company fc JOIN fund f USING (company_id)"),
        ("Which fund companies run funds?", listed),  # no bound
    ):
        assert count_formed(said, kept, schema) is None, (said, kept)
