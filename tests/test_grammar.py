"""Schema grammars: the gold SQL of the demo data is accepted, typical invalid SQL is not (tiny tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import llguidance.numpy as lln
import pytest

from finsql.ask.constrain import accepts, compile_grammar, grammar_error
from finsql.ask.grammar import clear_cache, sql_grammar
from finsql.ask.linking import collect_values
from finsql.db.sandbox import connect
from finsql.db.schema import Column, Schema, Table, introspect

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="module")
def demo(demo_db: Path) -> tuple[Schema, dict]:
    con = connect(demo_db)
    schema = introspect(con)
    values = collect_values(con, schema)
    con.close()
    return schema, values


def gold_sql() -> list[str]:
    return [json.loads(line)["sql"] for name in ("train.jsonl", "eval.jsonl") for line in open(DATA / name)]


def test_accepts_every_demo_gold_query(demo, tok) -> None:
    schema, values = demo
    for kwargs in ({"values": values}, {}):
        grammar = sql_grammar(schema, **kwargs)
        rejected = [(sql, grammar_error(grammar, sql, tok)) for sql in gold_sql()]
        assert [r for r in rejected if r[1]] == []


def test_after_select_variant_accepts_the_continuation(demo, tok) -> None:
    schema, values = demo
    grammar = sql_grammar(schema, values=values, after_select=True)
    assert all(accepts(grammar, sql[len("SELECT") :], tok) for sql in gold_sql())
    assert not accepts(grammar, "fund_name FROM fund", tok)  # glued to the prompt's SELECT
    assert not accepts(grammar, "SELECT fund_name FROM fund", tok)  # a second SELECT


def test_masks_have_no_engine_errors(demo, tok) -> None:
    """The decoder's view: a mask at every token, within llguidance's limits."""
    schema, values = demo
    grammar = sql_grammar(schema, values=values, after_select=True)
    bitmask = lln.allocate_token_bitmask(1, len(tok))
    for sql in gold_sql()[::40]:
        matcher = compile_grammar(grammar, tok)
        for token in tok.encode(sql[len("SELECT") :], add_special_tokens=False):
            lln.fill_next_token_bitmask(matcher, bitmask)
            assert not matcher.is_error(), matcher.get_error()
            assert matcher.consume_token(token)
        assert matcher.is_accepting()


@pytest.mark.parametrize(
    "sql",
    [
        "WITH t AS (SELECT fund_type, count(*) AS n FROM fund GROUP BY fund_type) SELECT fund_type, n FROM t",
        "SELECT fund_type, count(*) AS n FROM fund GROUP BY fund_type ORDER BY n DESC NULLS LAST LIMIT 3;",
        "select f.fund_name, row_number() over (partition by f.fund_type order by f.fund_name) from fund f",
        "SELECT CASE WHEN fund_type = 'bond' THEN 1 ELSE 0 END, CAST(fund_code AS INTEGER), "
        "fund_code::VARCHAR FROM fund",
        "SELECT fund_name FROM fund UNION ALL SELECT fund_name FROM fund",
        "SELECT f.* FROM fund f LEFT JOIN fund_nav n USING (fund_code) WHERE n.nav_date >= DATE '2020-01-01' "
        "- INTERVAL 1 YEAR",
        "SELECT fund_name FROM fund f WHERE NOT EXISTS "
        "(SELECT 1 FROM fund_nav n WHERE n.fund_code = f.fund_code)",
        "SELECT extract(year FROM nav_date), date_trunc('month', nav_date) FROM fund_nav",
        "SELECT fund_name FROM fund WHERE fund_name ILIKE '%growth%' AND management_fee BETWEEN 0.5 AND 1",
    ],
)
def test_accepts_the_wider_select_language(demo, tok, sql: str) -> None:
    schema, values = demo
    assert grammar_error(sql_grammar(schema, values=values), sql, tok) is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM fund_type",  # unknown table
        "SELECT f.fund_name FROM funds f",  # a table name plus a letter
        "SELECT fund.nav_date FROM fund",  # a column of another table, table-qualified
        "SELECT fund_names FROM fund",  # run-on: a column plus a letter
        "SELECT avg(fin_net_margin_gross_margin_gross_margin) FROM stock_financials",
        "SELECT fund_code FROM fund WHERE fund_codeor fund_type = 'bond'",  # keyword glued to a name
        "SELECT fund_code FROM fund ORDER BYfund_name",  # name glued to a keyword
        "SELECT fund_code FROM fund LIMIT5",
        "SELECT fund_code FROM fund WHEREfund_type = 'bond'",
        "SELECT DISTINCTfund_type FROM fund",
        "SELECT fund_code FROM fund WHERE fund_name IS NOTnull",
        "SELECT foo(fund_name) FROM fund",  # function not in the list
        "SELECT fund_name FROM fund AS my_long_alias",  # aliases are short
        "SELECT 1; DROP TABLE fund",
        "DROP TABLE fund",
        "SELECT fund_name FROM fund WHERE",
        "SELECT count(*) FROM fund WHERE fund_code = 'x' --f.fund_code",  # `- -x` reads as a comment
        "SELECT count(*) - -1 FROM fund",
        "SELECT - -1 FROM fund",
        "SELECT count(*) FROM fund WHERE company_id = 1000000000000000000000",  # a run-on number
    ],
)
def test_rejects_invalid_sql(demo, tok, sql: str) -> None:
    schema, values = demo
    assert not accepts(sql_grammar(schema, values=values), sql, tok)


def test_lists_are_bounded_above_anything_the_gold_writes(demo, tok) -> None:
    schema, values = demo
    grammar = sql_grammar(schema, values=values)

    def listed(n: int) -> str:
        return "SELECT " + ", ".join(["fund_name"] * n) + " FROM fund"

    def anded(n: int) -> str:
        return "SELECT fund_name FROM fund WHERE " + " AND ".join(["management_fee > 1"] * n)

    assert accepts(grammar, listed(12), tok) and not accepts(grammar, listed(13), tok)
    assert accepts(grammar, anded(8), tok) and not accepts(grammar, anded(9), tok)
    ordered = "SELECT fund_name FROM fund ORDER BY " + ", ".join(["fund_name"] * 5)
    assert not accepts(grammar, ordered, tok)


def test_linked_tables_restrict_tables_and_columns(demo, tok) -> None:
    schema, values = demo
    grammar = sql_grammar(schema, values=values, tables=["fund"])
    assert accepts(grammar, "SELECT fund_name FROM fund WHERE fund_type = 'bond'", tok)
    assert not accepts(grammar, "SELECT nav_date FROM fund", tok)
    assert not accepts(grammar, "SELECT * FROM fund_nav", tok)
    assert accepts(sql_grammar(schema, values=values), "SELECT nav_date FROM fund_nav", tok)
    with pytest.raises(ValueError):
        sql_grammar(schema, tables=["no_such_table"])


def test_value_aware_literals(demo, tok) -> None:
    schema, values = demo
    valued, free = sql_grammar(schema, values=values), sql_grammar(schema)
    assert accepts(valued, "SELECT fund_name FROM fund WHERE fund_type IN ('bond', 'equity')", tok)
    assert accepts(valued, "SELECT fund_name FROM fund f WHERE f.fund_type <> 'bond'", tok)
    assert accepts(valued, "SELECT bond_name FROM bond WHERE credit_rating != 'AAA'", tok)
    for sql in (
        "SELECT fund_name FROM fund WHERE fund_type = 'Bond'",
        "SELECT fund_name FROM fund WHERE fund_type IN ('bond', 'Bond')",
        "SELECT bond_name FROM bond WHERE credit_rating < 'AAA'",  # labels are not ordered by spelling
        "SELECT bond_name FROM bond WHERE credit_rating >= 'AA'",
    ):
        assert not accepts(valued, sql, tok) and accepts(free, sql, tok)
    for sql in (  # not a bare comparison with the column: free
        "SELECT fund_name FROM fund WHERE lower(fund_type) = 'Bond'",
        "SELECT fund_name FROM fund WHERE fund_type LIKE 'Bo%'",
    ):
        assert accepts(valued, sql, tok)


def test_values_with_quotes_are_sql_literals(tok) -> None:
    schema = Schema([Table("t", [Column("name", "VARCHAR"), Column("n", "INTEGER")])])
    grammar = sql_grammar(schema, values={("t", "name"): ["O'Brien", 'say "hi"', "back\\slash"]})
    assert accepts(grammar, "SELECT n FROM t WHERE name = 'O''Brien'", tok)
    assert accepts(grammar, "SELECT n FROM t WHERE name = 'say \"hi\"' OR name = 'back\\slash'", tok)
    assert not accepts(grammar, "SELECT n FROM t WHERE name = 'O'Brien'", tok)


def test_grammar_is_cached_by_fingerprint_and_arguments(demo) -> None:
    schema, values = demo
    first = sql_grammar(schema, values=values)
    assert sql_grammar(schema, values=dict(values)) is first
    assert sql_grammar(schema) is not first
    assert sql_grammar(schema, values=values, tables=["fund"]) is not first
    assert sql_grammar(schema, values=values, after_select=True) is not first
    clear_cache()
    assert sql_grammar(schema, values=values) == first
    wider = Schema([*schema.tables, Table("zz_extra", [Column("x", "INTEGER")])])
    assert wider.fingerprint() != schema.fingerprint()
    assert '"zz_extra"' in sql_grammar(wider) and '"zz_extra"' not in first


def test_names_in_their_own_lower_or_upper_case_only(demo, tok) -> None:
    """A name is written as the schema spells it, in lower or in upper case; a mixed case such as
    ``SToCK_NAME`` is how a small model dressed up a string it was refused."""
    schema, values = demo
    grammar = sql_grammar(schema, values=values)
    assert accepts(grammar, "SELECT stock_name FROM stock", tok)
    assert accepts(grammar, "SELECT STOCK_NAME FROM STOCK", tok)
    assert not accepts(grammar, "SELECT Stock_Name FROM stock", tok)


def test_closed_aliases_bind_qualifiers_to_their_table(demo, tok) -> None:
    """A retry knows the FROM clause: only its aliases, and each alias only with its own table's columns."""
    schema, values = demo
    aliases = {"f": "fund", "fs": "fund_size"}
    grammar = sql_grammar(schema, values=values, tables=["fund", "fund_size"], aliases=aliases)
    ok = "SELECT f.fund_name, fs.net_assets_mn FROM fund f JOIN fund_size fs ON f.fund_code = fs.fund_code"
    assert accepts(grammar, ok, tok)
    assert not accepts(grammar, "SELECT f.net_assets_mn FROM fund f", tok)  # a column of the other table
    assert not accepts(grammar, "SELECT fm.fund_name FROM fund f", tok)  # an alias the answer never declared
    assert not accepts(grammar, "SELECT fund_name FROM fund x", tok)
    assert accepts(grammar, "SELECT fund.fund_name FROM fund WHERE f.fund_type = 'bond'", tok)


def test_names_are_quoted_only_where_sql_would_quote_them(tok) -> None:
    """A name that is also a function may be quoted (sqlglot writes ``"year"``); a plain name may not (a
    small model wrote ``= "MARKET"`` for a string it was refused); a keyword must be."""
    schema = Schema(
        [Table("t", [Column("year", "INTEGER"), Column("market", "VARCHAR"), Column("order", "INT")])]
    )
    grammar = sql_grammar(schema)
    assert accepts(grammar, 'SELECT market FROM t WHERE "year" = 2020', tok)
    assert accepts(grammar, "SELECT market FROM t WHERE year = 2020", tok)
    assert not accepts(grammar, 'SELECT market FROM t WHERE market = "MARKET"', tok)
    assert accepts(grammar, 'SELECT "order" FROM t', tok)
    assert not accepts(grammar, "SELECT order FROM t", tok)


@pytest.mark.parametrize(
    ("sql", "ok"),
    [
        ("SELECT count(*) FROM fund_size WHERE year(report_date) = 2020", True),
        ("SELECT count(*) FROM fund_size fs WHERE quarter(fs.report_date) = 4", True),
        ("SELECT year(nav_date + INTERVAL 1 DAY), month(max(nav_date)) FROM fund_nav", True),
        ("SELECT year(CAST(fund_code AS DATE)), year('2020-01-01'::DATE) FROM fund", True),
        ("SELECT year(current_date) FROM fund", True),
        ("SELECT year(fund_code::DATE) FROM fund", False),  # a code, not a text column named for dates
        ("SELECT extract(year FROM nav_date) FROM fund_nav", True),
        ("SELECT count(*) FROM fund_size WHERE year(fund_code) = 2020", False),  # a text column
        ("SELECT count(*) FROM fund_size fs WHERE month(fs.net_assets_mn) = 3", False),  # a number column
        ("SELECT year('2020-01-01') FROM fund", False),  # a string
        ("SELECT extract(year FROM fund_code) FROM fund", False),
    ],
)
def test_date_parts_take_dates(demo, tok, sql: str, ok: bool) -> None:
    """``year(fund_code)`` is a binder error: a date part's argument is a date column, a cast or a call."""
    schema, values = demo
    assert accepts(sql_grammar(schema, values=values), sql, tok) is ok


@pytest.mark.parametrize(
    ("sql", "ok"),
    [
        (sql, True)
        for sql in [
            "SELECT fund_code FROM fund_nav WHERE unit_nav > (SELECT avg(unit_nav) FROM fund_nav)",
            "SELECT fund_code, count(*) FROM fund_nav GROUP BY fund_code HAVING count(*) > 2",
            "SELECT year(nav_date), avg(unit_nav) FROM fund_nav GROUP BY year(nav_date)",
            "SELECT f.fund_name FROM fund f JOIN fund_nav n ON n.unit_nav > round(f.management_fee, 2)",
            "SELECT fund_code FROM fund_nav QUALIFY row_number() OVER (ORDER BY unit_nav DESC) = 1",
        ]
    ]
    + [
        (sql, False)
        for sql in [
            "SELECT fund_code FROM fund_nav WHERE unit_nav = avg(unit_nav)",
            "SELECT fund_code FROM fund_nav WHERE round(max(unit_nav), 2) > 1",
            "SELECT fund_code FROM fund_nav WHERE count(*) > 1",
            "SELECT fund_code FROM fund_nav GROUP BY max(nav_date)",
            "SELECT fund_code FROM fund_nav WHERE row_number() OVER (ORDER BY unit_nav) = 1",
            "SELECT f.fund_name FROM fund f JOIN fund_nav n ON n.unit_nav = max(n.unit_nav)",
        ]
    ],
)
def test_no_aggregate_where_a_row_is_filtered_or_grouped(demo, tok, sql: str, ok: bool) -> None:
    """WHERE, JOIN ... ON and GROUP BY hold no aggregate or window function outside a subquery (DuckDB
    refuses them with a binder error); HAVING, QUALIFY and the SELECT list may."""
    schema, values = demo
    assert accepts(sql_grammar(schema, values=values), sql, tok) is ok


def test_one_cast_per_operand(demo, tok) -> None:
    """A small model refused a name chained ``::boolean::boolean::...`` to the token limit."""
    schema, values = demo
    grammar = sql_grammar(schema, values=values)
    assert accepts(grammar, "SELECT fund_code::VARCHAR, year(nav_date::DATE) FROM fund_nav", tok)
    assert not accepts(grammar, "SELECT fund_code::DATE::VARCHAR FROM fund", tok)
    assert not accepts(grammar, "SELECT year(fund_code::BOOLEAN) FROM fund", tok)


def test_date_parts_without_date_columns(tok) -> None:
    """A schema with no date column still compiles; its date parts take casts and calls only."""
    schema = Schema([Table("t", [Column("day", "VARCHAR"), Column("n", "INTEGER")])])
    grammar = sql_grammar(schema)
    assert accepts(grammar, "SELECT year(CAST(day AS DATE)), month(strptime(day, '%Y%m%d')) FROM t", tok)
    assert not accepts(grammar, "SELECT year(day) FROM t", tok)
    assert not accepts(grammar, "SELECT n FROM t WHERE year(n) = 2020", tok)
    assert accepts(grammar, "SELECT year(day::DATE), year(t.day::DATE) FROM t", tok)  # named for dates
    assert not accepts(grammar, "SELECT year(n::DATE) FROM t", tok)
