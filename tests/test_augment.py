"""Rule-based augmentation: SQL skeletons and question paraphrases."""

from __future__ import annotations

from finsql.experts.augment import paraphrase_question, sql_skeleton


def test_sql_skeleton_replaces_every_literal():
    sql = "SELECT name FROM fund WHERE fund_type = 'bond' AND aum_mn > 12.5 ORDER BY aum_mn DESC LIMIT 3"
    skeleton = sql_skeleton(sql)
    assert skeleton == "SELECT name FROM fund WHERE fund_type = _ AND aum_mn > _ ORDER BY aum_mn DESC LIMIT _"
    assert sql_skeleton("SELECT FROM WHERE (") is None


def test_paraphrase_rules_and_determinism():
    assert {paraphrase_question("How many funds are there?", seed) for seed in range(5)} == {
        "What is the number of funds?"
    }
    rewrites = {paraphrase_question("List the top 5 stocks by market value", seed) for seed in range(20)}
    assert rewrites == {
        "Which are the top 5 stocks by market value",
        "List the 5 highest stocks by market value",
        "Which are the 5 highest stocks by market value",
    }  # the seed picks the rules
    assert paraphrase_question("Which funds had the largest return?", 0) in {
        "List the funds that had the largest return.",
        "List the funds that had the biggest return.",
        "Which funds had the biggest return?",
    }
    assert paraphrase_question("Which managers left in 2019?", 0) == "What managers left in 2019?"
    assert paraphrase_question("Show me each company", 3) == paraphrase_question("Show me each company", 3)
    assert paraphrase_question("Revenue of 'Show me Ltd'?", 0) is None  # quoted values are never rewritten
    assert paraphrase_question("Name the fund managers.", 0) is None
    text = paraphrase_question("What is the average price of 'Average Corp'?", 1)
    assert text is not None and "'Average Corp'" in text
