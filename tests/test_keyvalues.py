"""A value compared with the foreign key that points at it, read from the table that holds it."""

from functools import partial

from finsql.ask.generation import Candidate
from finsql.ask.keyvalues import through_key
from finsql.ask.voting import decide
from finsql.db.sandbox import connect
from finsql.db.schema import introspect

QUESTION = "Which stocks in the Real Estate sector are headquartered in Shenzhen?"
VALUES = {
    "industry.industry_name": ["Real Estate"],
    "industry.sector": ["Real Estate"],
    "stock.headquarters_city": ["Shenzhen"],
}


def test_a_key_compared_with_a_name_reads_the_name_where_it_is(demo_db):
    con = connect(demo_db)
    schema = introspect(con)
    sql = "SELECT stock_name FROM stock WHERE industry_id = 'Real Estate' AND headquarters_city = 'Shenzhen'"
    fixed = through_key(sql, schema, QUESTION, VALUES)
    assert "JOIN industry ON industry.industry_id = stock.industry_id" in fixed
    assert "industry.sector = 'Real Estate'" in fixed  # the column the question names beside the value
    gold = (
        "SELECT s.stock_name FROM stock s JOIN industry i ON s.industry_id = i.industry_id "
        "WHERE i.sector = 'Real Estate' AND s.headquarters_city = 'Shenzhen'"
    )
    assert sorted(con.execute(fixed).fetchall()) == sorted(con.execute(gold).fetchall())
    joined = (
        "SELECT s.stock_name FROM stock s JOIN industry i ON s.industry_id = i.industry_id "
        "WHERE s.industry_id = 'Real Estate'"
    )
    assert through_key(joined, schema, QUESTION, VALUES).endswith("WHERE i.sector = 'Real Estate'")


def test_a_key_is_left_alone_when_the_holder_is_not_one_column(demo_db):
    schema = introspect(connect(demo_db))
    sql = "SELECT stock_name FROM stock WHERE industry_id = 'Real Estate'"
    assert (
        through_key(sql, schema, "Which Real Estate stocks are there?", VALUES) == sql
    )  # two columns hold it
    assert through_key(sql, schema, QUESTION, {"stock.headquarters_city": ["Shenzhen"]}) == sql
    text = "SELECT stock_name FROM stock WHERE headquarters_city = 'Real Estate'"  # no key
    assert through_key(text, schema, QUESTION, VALUES) == text


def test_the_vote_repairs_a_refused_key_comparison_with_the_question_values(demo_db):
    con = connect(demo_db)
    schema = introspect(con)
    sql = "SELECT stock_name FROM stock WHERE industry_id = 'Real Estate'"
    refused = decide([Candidate(sql, sql, -0.1, True)], schema, con)
    assert refused.best is None and "Conversion Error" in refused.attempts[0].reason
    keyed = partial(through_key, question=QUESTION, matched=VALUES)
    repaired = decide([Candidate(sql, sql, -0.1, True)], schema, con, repairers=[("key-values", keyed)])
    assert repaired.best.repaired_by == ["key-values"] and len(repaired.best.result.rows) == 2
