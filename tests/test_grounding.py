"""Question-grounded literals: which values a question mentions, and the grammar that admits only those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsql.ask.constrain import accepts, grammar_error
from finsql.ask.grammar import sql_grammar
from finsql.ask.grounding import ValueGrounder, mentioned_dates, mentioned_numbers, stem
from finsql.ask.linking import collect_values
from finsql.db.sandbox import connect
from finsql.db.schema import introspect

DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = ("train.jsonl", "eval.jsonl", "everyday.jsonl")


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="module")
def demo(demo_db: Path):
    con = connect(demo_db)
    schema = introspect(con)
    values = collect_values(con, schema, lengths=(1, 200))
    grounder = ValueGrounder.index(con, schema, values)
    con.close()
    return schema, values, grounder


def mentioned(grounder: ValueGrounder, question: str) -> dict[str, list[str]]:
    return {f"{t}.{c}": v for (t, c), v in grounder.mentioned(question).items() if v}


def test_stem_meets_plurals_and_ing_forms() -> None:
    assert stem("banks") == stem("banking") == "bank"
    assert stem("securities") == "security"
    assert stem("class") == "class"
    assert stem("holdings") == stem("holding") == "hold" and stem("ratings") == stem("rating")


def test_a_question_without_names_mentions_no_value(demo) -> None:
    _, _, grounder = demo
    assert mentioned(grounder, "How many funds are there?") == {}  # "funds" names a table, not 'mutual fund'
    assert mentioned(grounder, "How many fund managers are there?") == {}


def test_names_words_codes_and_row_mates(demo) -> None:
    _, _, grounder = demo
    assert mentioned(grounder, "List the fund companies headquartered in Shanghai.")[
        "fund_company.headquarters_city"
    ] == ["Shanghai"]
    assert "money market" in mentioned(grounder, "How many money market funds are open?")["fund.fund_type"]
    assert mentioned(grounder, "Which banks had the highest ROE?")["industry.industry_name"] == ["Banking"]
    assert mentioned(grounder, "How many female fund managers are there?")["fund_manager.gender"] == ["F"]
    partial = mentioned(grounder, "What is the management fee of Harbor Growth?")["fund.fund_name"]
    assert partial == ["Harbor Growth Equity Fund"]
    rate = mentioned(grounder, "What was the British Pound's rate on 2024-06-28?")
    assert rate["currency.currency_code"] == ["GBP"]  # the row-mate of the name the question gives
    assert "AA+" in mentioned(grounder, "What's the average coupon on AA+-rated bonds?")["bond.credit_rating"]


def test_a_value_spelt_only_inside_a_longer_one_is_not_mentioned(demo) -> None:
    _, _, grounder = demo
    assert grounder.mentioned("What's the average coupon on AA+-rated bonds?")[("bond", "credit_rating")] == [
        "AA+"
    ]
    both = grounder.mentioned("Bonds rated AA or AA+")[("bond", "credit_rating")]
    assert both == ["AA", "AA+"]
    # a longer value that only adds words or a full stop binds nothing: both spellings stay open (BULL's
    # columns hold 'Manufacturing' and 'Manufacturing Industry', 'Ph.D' and 'Ph.D.', and gold uses either)
    from finsql.ask.grounding import ValueGrounder

    dirty = ValueGrounder(
        {("t", "c"): ["Manufacturing", "Manufacturing Industry", "Ph.D", "Ph.D.", "AA", "AA+"]}
    )
    assert dirty.mentioned("Companies in the manufacturing industry")[("t", "c")] == [
        "Manufacturing",
        "Manufacturing Industry",
    ]
    assert dirty.mentioned("Managers who hold a Ph.D.")[("t", "c")] == ["Ph.D", "Ph.D."]
    assert dirty.mentioned("Bonds rated AA+ only")[("t", "c")] == ["AA+"]


def test_paraphrased_category_values() -> None:
    from finsql.ask.linking import embed

    values = {
        ("manager", "nationality"): ["Hungary", "China", "Burma"],
        ("manager", "status"): ["open", "closed"],
        ("manager", "gender"): ["Male", "Female"],
        ("manager", "period"): ["Yearly", "Quarterly"],
    }
    grounder = ValueGrounder(values, embed=embed)
    found = grounder.mentioned("Which Hungarian managers are shut?")
    assert found[("manager", "nationality")] == ["Hungary"]
    assert found[("manager", "status")] == []  # 'shut' is 'closed', but not as close as a paraphrase must be
    assert found[("manager", "gender")] == []
    found = grounder.mentioned("Which Burmese managers are female?")
    assert found[("manager", "nationality")] == ["Burma"] and found[("manager", "gender")] == ["Female"]
    # a column with a value named in so many words gets no paraphrase beside it
    assert grounder.mentioned("Which managers from China are Hungarian?")[("manager", "nationality")] == [
        "China"
    ]
    assert grounder.mentioned("Annual figures of managers")[("manager", "period")] == ["Yearly"]
    assert ValueGrounder(values).mentioned("Annual figures of managers")[("manager", "period")] == []
    assert ValueGrounder(values).mentioned("Which Chinese managers?")[("manager", "nationality")] == ["China"]


def test_yes_no_values_are_open_unless_the_question_names_a_value() -> None:
    """A flag is asked about by what it means ("pension target funds"), so its yes/no values stay open
    until the question names a value of the column; a two-valued column with no such values (gender) still
    admits only what the question names."""
    values = {
        ("fund", "ifpensiontarget"): ["No", "Yes", "yes", "Unknown"],
        ("fund", "listed"): ["y", "n"],
        ("fund", "gender"): ["M", "F"],
    }
    found = ValueGrounder(values).mentioned("Which pension target schemes exist?")
    assert found[("fund", "ifpensiontarget")] == ["No", "Yes", "yes"]
    assert found[("fund", "listed")] == ["n", "y"]
    assert found[("fund", "gender")] == []
    named = ValueGrounder(values).mentioned("Which pension schemes are unknown?")
    assert named[("fund", "ifpensiontarget")] == ["Unknown"]


def test_numbers_a_question_mentions() -> None:
    assert mentioned_numbers("How many funds are there?") == ["0", "1"]
    after = mentioned_numbers("How many funds were launched after 2015?")
    assert {"2014", "2015", "2016"} <= set(after) and "2020" not in after
    assert {"3.6", "0.036"} <= set(mentioned_numbers("When was the rate below 3.6%?"))
    assert "1.0" in mentioned_numbers("Which funds charge a fee above 1.0%?")  # as the question writes it
    assert {"10000", "10000000000"} <= set(mentioned_numbers("Funds larger than 10,000 million CNY"))
    assert {"3", "12", "10"} <= set(mentioned_numbers("the three largest in December, top ten"))
    assert "5" in mentioned_numbers("Which stocks paid a dividend in every year from 2019 to 2023?")
    assert {"1000000", "1", "100"} <= set(mentioned_numbers("Funds holding more than one million shares"))
    assert "10000000" in mentioned_numbers("Investors whose amounts reached tens of millions")


def test_grounded_numbers_close_comparisons_and_limit(demo, tok) -> None:
    schema, _, grounder = demo
    question = "Which 5 funds had the highest management fee?"
    grammar = sql_grammar(schema, values=grounder.mentioned(question), numbers=mentioned_numbers(question))
    assert accepts(grammar, "SELECT fund_name FROM fund ORDER BY management_fee DESC LIMIT 5", tok)
    assert accepts(grammar, "SELECT fund_name FROM fund WHERE management_fee * 100 > 1", tok)  # arithmetic
    assert accepts(grammar, "SELECT fund_name FROM fund WHERE manager_id IS NULL", tok)
    assert accepts(grammar, "SELECT fund_name FROM fund WHERE management_fee > 5.", tok)  # BULL writes 5.
    assert accepts(grammar, "SELECT fund_name FROM fund WHERE management_fee > 5.00", tok)
    assert accepts(grammar, "SELECT fund_name FROM fund ORDER BY management_fee DESC LIMIT 10", tok)
    for sql in (
        "SELECT fund_name FROM fund ORDER BY management_fee DESC LIMIT 3",
        "SELECT fund_name FROM fund WHERE manager_id = 1000",
        "SELECT fund_name FROM fund WHERE manager_id = 10",  # ten is a length, not a value
        "SELECT fund_name FROM fund WHERE management_fee BETWEEN 2 AND 3",
        "SELECT fund_name FROM fund WHERE management_fee > 5.5",
        "SELECT fund_name FROM fund ORDER BY management_fee DESC LIMIT 5.",
        "SELECT fund_name FROM fund WHERE management_fee > -7",
        "SELECT fund_name FROM fund WHERE management_fee > 1000 * 2",  # a side starting with a number
        "SELECT fund_name FROM fund WHERE manager_id = NULL",  # never true: IS NULL is
        'SELECT fund_name FROM fund WHERE fund_type = "STATUS"',  # a plain name quoted: a string in disguise
    ):
        assert not accepts(grammar, sql, tok), sql
    with pytest.raises(ValueError):
        sql_grammar(schema, numbers=[])


def test_dates_a_question_mentions() -> None:
    assert mentioned_dates("How many funds are there?") == ([], [])
    assert mentioned_dates("How many funds were launched after 2015?") == (["2014", "2015", "2016"], [])
    assert mentioned_dates("What was the PMI in December 2024? May I ask?") == (
        ["2023", "2024", "2025"],
        [12],
    )


def test_grounded_dates_close_date_literals(demo, tok) -> None:
    schema, _, _ = demo
    years, months = mentioned_dates("How many funds were launched after 2015?")
    grammar = sql_grammar(schema, years=years, months=months)
    head = "SELECT count(*) FROM fund WHERE inception_date "
    assert accepts(grammar, head + ">= '2016-01-01'", tok)
    assert accepts(grammar, head + "> DATE '2015-12-31'", tok)
    assert accepts(grammar, "SELECT fund_name FROM fund WHERE status = 'open'", tok)  # not a date: free
    for tail in (">= '2020-01-01'", "> DATE '2020-01-01'", "BETWEEN '2015-01-01' AND '2019-12-31'"):
        assert not accepts(grammar, head + tail, tok), tail
    years, months = mentioned_dates("What was the manufacturing PMI in December 2024?")
    grammar = sql_grammar(schema, years=years, months=months)
    head = "SELECT pmi_manufacturing FROM macro_indicator WHERE report_month = "
    assert accepts(grammar, head + "'2024-12-01'", tok)
    assert not accepts(grammar, head + "'2024-06-01'", tok)
    assert not accepts(grammar, head + "'2024-02-01'''", tok)  # an escaped quote is no way round it


def test_every_column_is_listed_even_with_no_value_mentioned(demo) -> None:
    _, values, grounder = demo
    assert set(grounder.mentioned("How many funds are there?")) == set(values)


def test_grounded_grammar_admits_only_mentioned_values(demo, tok) -> None:
    schema, _, grounder = demo
    question = "List the fund companies headquartered in Shanghai."
    grammar = sql_grammar(schema, values=grounder.mentioned(question))
    base = "SELECT company_name FROM fund_company WHERE headquarters_city = "
    assert accepts(grammar, base + "'Shanghai'", tok)
    assert not accepts(grammar, base + "'Shenzhen'", tok)
    grammar = sql_grammar(schema, values=grounder.mentioned("How many funds are there?"))
    assert accepts(grammar, "SELECT count(*) FROM fund", tok)
    for sql in (
        "SELECT count(*) FROM fund_manager WHERE gender = 'F'",
        "SELECT count(*) FROM fund WHERE fund_type = 'equity'",
        "SELECT count(*) FROM fund WHERE fund_type IN ('equity')",
        "SELECT count(*) FROM fund WHERE fund_type = 'equity' - 1",  # no string in arithmetic
        "SELECT count(*) FROM fund WHERE fund_type = 'equity' || 'x'",
        "SELECT count(*) FROM fund WHERE fund_type = 5",  # a text column is no number
        "SELECT count(*) FROM fund WHERE fund_type = NULLIF(status, 'x')",  # no function in its place
        "SELECT count(*) FROM fund WHERE fund_type = (SELECT fund_type FROM fund)",  # nothing mentioned
        "SELECT count(*) FROM fund WHERE fund_code = 1000000 || 'x'",
    ):
        assert not accepts(grammar, sql, tok), sql
    assert accepts(grammar, "SELECT count(*) FROM fund WHERE fund_type LIKE '%eq%'", tok)  # LIKE stays free
    assert accepts(grammar, "SELECT count(*) FROM fund f JOIN fund_nav n ON f.fund_code = n.fund_code", tok)
    question = "Which funds have the same type as Harbor Growth Equity Fund?"
    grammar = sql_grammar(schema, values=grounder.mentioned(question))
    same = "SELECT fund_name FROM fund WHERE fund_type = (SELECT fund_type FROM fund WHERE fund_name = "
    assert accepts(grammar, same + "'Harbor Growth Equity Fund')", tok)  # a value is mentioned


def test_grounded_grammars_accept_the_gold_of_demo_questions(demo, tok) -> None:
    """Every held-out and everyday question, and every fourth training question (all of them, with the
    full schema, in ``benchmarks/grammar_acceptance.py``)."""
    schema, _, grounder = demo
    read = {name: [json.loads(line) for line in (DATA / name).read_text().splitlines()] for name in NAMES}
    rows = read["train.jsonl"][::4] + read["eval.jsonl"] + read["everyday.jsonl"]
    rejected = []
    for row in rows:
        question = row["question"]
        years, months = mentioned_dates(question)
        grammar = sql_grammar(
            schema,
            values=grounder.mentioned(question),
            numbers=mentioned_numbers(question),
            years=years,
            months=months,
        )
        error = grammar_error(grammar, row["sql"], tok)
        if error:
            rejected.append((row["question"], error))
    assert rejected == []
