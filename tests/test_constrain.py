"""Grammar-constrained decoding: every decoded row (greedy and sampled) stays inside the schema grammar, with
two kinds of tokenizer, plain models and prompt-learning experts; ``ask`` reports it and can switch it off."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
import torch
from sqlglot import exp

from finsql.ask.constrain import GrammarConstraint, compile_grammar, grammar_error
from finsql.ask.generation import MAX_NEW_TOKENS, generate
from finsql.ask.grammar import sql_grammar
from finsql.ask.linking import collect_values
from finsql.ask.prompting import ANSWER_PREFIX
from finsql.ask.session import Session
from finsql.ask.sqlcheck import retry_sources, sources_named
from finsql.ask.stopping import runon_end
from finsql.db.sandbox import connect
from finsql.db.schema import Schema, introspect
from finsql.errors import InputError
from finsql.lm.models import LoadedModel, load_model
from finsql.lm.testing import build_tiny_model
from finsql.plugins import peft_methods

PROMPT = "<|im_start|>user\nHow many bond funds are there?<|im_end|>\n<|im_start|>assistant\n" + ANSWER_PREFIX


@pytest.fixture(scope="module", params=["byte-level", "metaspace"])
def tiny(request, tmp_path_factory) -> LoadedModel:
    """A tiny random model per tokenizer kind (GPT-2/SmolLM2 byte-level BPE; SentencePiece-style)."""
    folder = build_tiny_model(tmp_path_factory.mktemp(request.param), tokenizer_style=request.param)
    return load_model(str(folder))


@pytest.fixture(scope="module")
def fund(small_db: Path) -> tuple[Schema, str]:
    con = connect(small_db)
    schema = introspect(con)
    grammar = sql_grammar(schema, values=collect_values(con, schema, lengths=(1, 200)), after_select=True)
    con.close()
    return schema, grammar


def assert_rows_in_grammar(lm: LoadedModel, grammar: str, samples: int, sample_draft: int = 2) -> None:
    """Every row is a prefix the grammar allows; a row that ended is one whole SELECT."""
    generation = generate(
        lm, PROMPT, samples, max_new_tokens=24, temperature=1.5, grammar=grammar, sample_draft=sample_draft
    )
    assert generation.constrained and len(generation.candidates) == samples + 1
    assert generation.steps > 0 and generation.mask_seconds > 0
    for candidate in generation.candidates:
        body = candidate.text[len(ANSWER_PREFIX) :]
        error = grammar_error(grammar, body, lm.tokenizer)
        assert error in (None, "incomplete statement"), (candidate.text, error)
        if error is None:
            # a whole statement parses; names may still fail validation (aliases are open in a CFG)
            assert isinstance(sqlglot.parse_one(candidate.sql, read="duckdb"), exp.Query), candidate.sql


def test_greedy_and_sampled_rows_stay_in_the_grammar(tiny, fund) -> None:
    schema, grammar = fund
    torch.manual_seed(0)
    assert_rows_in_grammar(tiny, grammar, samples=4)  # drafted samples (the default)
    assert_rows_in_grammar(tiny, grammar, samples=4, sample_draft=0)  # one token a pass
    assert_rows_in_grammar(tiny, grammar, samples=0)


def test_free_decoding_leaves_the_grammar(tiny, fund) -> None:
    """The same random model, unconstrained, writes text the grammar rejects: the mask is what holds."""
    schema, grammar = fund
    free = generate(tiny, PROMPT, 4, max_new_tokens=24, temperature=1.5)
    assert not free.constrained and free.mask_seconds == 0
    errors = [grammar_error(grammar, c.text[len(ANSWER_PREFIX) :], tiny.tokenizer) for c in free.candidates]
    assert any(e not in (None, "incomplete statement") for e in errors)


@pytest.mark.parametrize("method", ["prompt-tuning", "prefix-tuning", "lora"])
def test_peft_experts_decode_within_the_grammar(method, tiny_model_dir, fund) -> None:
    """Prompt and prefix tuning feed virtual tokens or a prefix cache: the matchers must still line up."""
    schema, grammar = fund
    plugin = peft_methods()[method]
    base = load_model(str(tiny_model_dir))
    torch.manual_seed(0)
    wrapped = plugin.wrap(base.model, dict(plugin.defaults))
    wrapped.eval()
    lm = LoadedModel(wrapped, base.tokenizer, base.name, base.path, base.device)
    assert_rows_in_grammar(lm, grammar, samples=3)


def test_a_finished_row_may_only_end(tiny, fund) -> None:
    """Once a row's statement is complete and closed with ';', only end-of-sequence tokens are allowed."""
    _, grammar = fund
    tok = tiny.tokenizer
    eos = [tok.eos_token_id]
    processor = GrammarConstraint(grammar, tok, len(tok), eos)
    ids = tok(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    scores = torch.zeros(1, len(tok))
    processor(ids, scores)  # first step: nothing consumed yet
    for token in tok.encode(" count(*) FROM fund;", add_special_tokens=False):
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        out = processor(ids, scores)
    allowed = torch.isfinite(out[0]).nonzero().flatten().tolist()
    assert allowed == eos


def test_compiled_grammar_is_shared_and_copied(tiny, fund) -> None:
    _, grammar = fund
    first, second = compile_grammar(grammar, tiny.tokenizer), compile_grammar(grammar, tiny.tokenizer)
    assert first is not second
    assert first.consume_tokens(tiny.tokenizer.encode(" count(*)", add_special_tokens=False))
    assert not second.is_error() and not second.is_accepting()  # the copy did not advance with the first


def test_sources_named_even_when_invalid(fund) -> None:
    schema, _ = fund
    assert sources_named("SELECT nope FROM fund f JOIN fund g ON 1 = 1", schema) == {"f": "fund", "g": "fund"}
    assert sources_named("SELECT x FROM fund", schema) == {"fund": "fund"}
    assert sources_named("SELECT x FROM nowhere", schema) == {}
    assert sources_named("SELECT (((", schema) == {}
    # where a refused answer is decoded again: its own tables, else (no FROM reached) the linked ones
    assert retry_sources("SELECT x FROM fund f", schema, ["fund_company"]) == {"f": "fund"}
    assert retry_sources("SELECT f.fund_name, x, x, x", schema, ["fund", "Fund_Company"]) == {
        "fund": "fund",
        "fund_company": "Fund_Company",
    }


def test_session_grammar_settings(small_db: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(InputError):
        Session(small_db, model_name=str(tiny_model_dir), grammar="loose")
    session = Session(small_db, model_name=str(tiny_model_dir), expert=False, shots=0)
    prompt = session.prompts.build("How many funds are there?")
    text = session.grammar_for(prompt)
    assert text is not None and session.grammar_for(prompt, scope="off") is None
    assert session.grammar_for(prompt, scope="linked") is not None
    assert "'bond'" not in text  # values grounded in the question: it names no fund type
    assert "'bond'" in session.grammar_for(session.prompts.build("How many bond funds are there?"))
    loose = Session(small_db, model_name=str(tiny_model_dir), expert=False, shots=0, ground=False)
    assert "'bond'" in loose.grammar_for(loose.prompts.build("How many funds are there?"))  # every value
    loose.close()
    with pytest.raises(InputError):
        session.ask("How many funds are there?", grammar="loose")
    session.close()


@pytest.mark.slow
def test_default_model_answers_stay_in_the_grammar(demo_db: Path) -> None:
    """SmolLM2's tokenizer and model on held-out demo questions: every constrained answer is a statement
    of the grammar, and no more of them fail to validate than free answers."""
    from finsql.ask.pairs import demo_pairs, read_pairs
    from finsql.errors import NoValidSQL

    session = Session(demo_db, expert=False)
    failed = {"schema": 0, "off": 0}
    for pair in read_pairs(demo_pairs("eval"))[:6]:
        for grammar in failed:
            try:
                answer = session.ask(pair.question, grammar=grammar)
            except NoValidSQL:
                failed[grammar] += 1
                continue
            if grammar == "schema" and not answer.retry_tables:
                text = session.grammar_for(session.prompts.build(pair.question))
                body = answer.decision.attempts[0].candidate.text[len(ANSWER_PREFIX) :]
                error = grammar_error(text, body, session.lm.tokenizer)
                ids = session.lm.tokenizer.encode(body, add_special_tokens=False)
                cut = runon_end(ids) is not None or len(ids) >= MAX_NEW_TOKENS - 2  # stopped, not ended
                assert error is None or (cut and error == "incomplete statement"), answer.sql
    session.close()
    assert failed["schema"] <= failed["off"], failed


def _candidate_texts(session: Session, question: str) -> list[str]:
    """The raw text of every candidate ``ask`` decoded for ``question``, whether or not one ran."""
    from finsql.errors import NoValidSQL

    try:
        attempts = session.ask(question, samples=3, temperature=1.5).decision.attempts
    except NoValidSQL as failed:
        attempts = failed.attempts
    return [a.candidate.text for a in attempts]


def test_session_seed_picks_the_samples_draws(small_db: Path, tiny_model_dir: Path) -> None:
    """The same seed gives the same samples (an answer can be reproduced); another seed, other draws."""
    kwargs = {"model_name": str(tiny_model_dir), "expert": False, "shots": 0, "synth_pool": 0}
    first = Session(small_db, **kwargs)
    again = Session(small_db, lm=first.lm, **kwargs)
    other = Session(small_db, lm=first.lm, seed=1, **kwargs)
    question = "How many funds are there?"
    drawn = _candidate_texts(first, question)
    assert len(drawn) >= 4 and drawn == _candidate_texts(again, question)
    assert drawn[1:] != _candidate_texts(other, question)[1:]
    for session in (first, again, other):
        session.close()
