"""Answers that ran on: where they are cut, and the continuation the tiny model writes from there."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsql.ask.generation import Candidate, generate
from finsql.ask.grammar import sql_grammar
from finsql.ask.linking import collect_values
from finsql.ask.prompting import ANSWER_PREFIX
from finsql.ask.runon import REVISION, continue_after_runon, repeat_cut
from finsql.ask.voting import run_candidate
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.lm.models import LoadedModel, load_model
from finsql.lm.testing import build_tiny_model

PROMPT = "<|im_start|>user\nselect count from fund<|im_end|>\n<|im_start|>assistant\n" + ANSWER_PREFIX


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> LoadedModel:
    return load_model(str(build_tiny_model(tmp_path_factory.mktemp("runon"))))


def test_the_cut_keeps_one_copy_and_bans_what_began_the_next() -> None:
    select, a, comma, b = 1, 2, 3, 4
    listed = [select, a, comma, b] + [comma, b] * 6  # SELECT a, b, b, b, b, b, b
    assert repeat_cut(listed) == (4, comma)  # SELECT a, b | no second ", b"
    two = [select, a] + [comma, b, comma, 5] * 4  # SELECT a, b, c, b, c, b, c, b, c
    assert repeat_cut(two) == (6, comma)
    assert repeat_cut([7] * 12) == (1, 7)
    assert repeat_cut([1, 2, 3, 4, 5, 6]) is None


def test_a_continuation_follows_the_written_tokens_and_leaves_the_banned_one(tiny) -> None:
    plain = generate(tiny, PROMPT, 0, max_new_tokens=12).candidates[0]
    assert plain.tokens and not plain.ran_on and plain.revision == ""
    prefix = plain.tokens[:3]
    ban = plain.tokens[3]
    continued = generate(tiny, PROMPT, 0, max_new_tokens=12, prefix=prefix, ban=ban).candidates[0]
    assert continued.tokens[:3] == prefix and continued.tokens[3] != ban
    assert continued.text.startswith(ANSWER_PREFIX)


def test_a_runon_candidate_is_continued_within_the_grammar(tiny, small_db: Path) -> None:
    con = connect(small_db)
    schema = introspect(con)
    grammar = sql_grammar(schema, values=collect_values(con, schema), after_select=True)
    tok = tiny.tokenizer
    column = schema.tables[0].columns[0].name
    looping = tok.encode(f" {column}" + f", {column}" * 8, add_special_tokens=False)
    ran_on = Candidate("", "", -0.1, True, tuple(looping), ran_on=True)
    continued = continue_after_runon(tiny, PROMPT, ran_on, grammar, lookup=0)
    assert continued is not None and continued.greedy and continued.revision == REVISION
    kept, _ = repeat_cut(looping)
    assert continued.tokens[:kept] == tuple(looping[:kept])
    assert f"SELECT {column}" in continued.sql and continued.sql.count(f", {column}") < 8
    attempt = run_candidate(continued, schema, con, 5.0, 10)
    assert REVISION in attempt.repaired_by  # a revised answer never passes for the model's own
    assert continue_after_runon(tiny, PROMPT, Candidate("", "", -0.1, True, (1, 2)), grammar, 0) is None
    con.close()
