"""Generation mechanics on a tiny random model: batching, greedy row, log-likelihoods, extraction."""

import math

import pytest

from finsql.ask.generation import extract_sql, generate
from finsql.lm.models import load_model


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_extract_sql_from_fences_and_chatter():
    assert extract_sql("```sql\nSELECT a FROM t;\n```") == "SELECT a FROM t"
    assert extract_sql("Here you go: select count(*)\nfrom fund; -- done") == "select count(*) from fund"
    assert (
        extract_sql("WITH x AS (SELECT 1) SELECT * FROM x\n\nExplanation: ...")
        == "WITH x AS (SELECT 1) SELECT * FROM x"
    )
    assert extract_sql("no sql here") == "no sql here"


def test_greedy_only_returns_one_candidate(tiny):
    cands = generate(
        tiny, "<|im_start|>user\nhow many funds<|im_end|>\n<|im_start|>assistant\n", 0, max_new_tokens=12
    ).candidates
    assert len(cands) == 1 and cands[0].greedy
    assert math.isfinite(cands[0].logprob) and cands[0].logprob <= 0


def test_batched_samples_carry_the_greedy_answer(tiny):
    prompt = "<|im_start|>user\nlist stocks<|im_end|>\n<|im_start|>assistant\n"
    greedy = generate(tiny, prompt, 0, max_new_tokens=16).candidates[0]
    batch = generate(tiny, prompt, 6, max_new_tokens=16, temperature=1.5, seed=1).candidates
    assert len(batch) == 7
    assert batch[0].greedy and not any(c.greedy for c in batch[1:])
    assert batch[0].text == greedy.text
    assert len({c.text for c in batch[1:]}) > 1  # sampling at temperature 1.5 on a random model varies
    again = generate(tiny, prompt, 6, max_new_tokens=16, temperature=1.5, seed=1).candidates
    assert [c.text for c in again] == [c.text for c in batch]


def test_nucleus_matches_transformers_top_p_where_the_nucleus_is_in_the_top_k():
    import torch
    from transformers import TemperatureLogitsWarper, TopPLogitsWarper

    from finsql.ask.generation import NUCLEUS_CANDIDATES, Nucleus

    torch.manual_seed(0)
    scores = torch.randn(5, 3000) * 6  # peaked, like a trained LM's next-token scores
    ours = Nucleus(0.7, 0.9)(None, scores.clone())
    theirs = TopPLogitsWarper(0.9)(None, TemperatureLogitsWarper(0.7)(None, scores.clone()))
    kept = torch.isfinite(ours)
    assert torch.equal(kept, torch.isfinite(theirs))
    assert 1 < int(kept.sum(-1).max()) < NUCLEUS_CANDIDATES
    assert torch.allclose(ours.softmax(-1), theirs.softmax(-1))


def test_nucleus_keeps_the_top_k_when_they_hold_less_than_top_p():
    import torch

    from finsql.ask.generation import NUCLEUS_CANDIDATES, Nucleus

    flat = Nucleus(1.0, 0.95)(None, torch.zeros(2, 1000))  # uniform: the top 64 hold 6.4% of the mass
    assert torch.isfinite(flat).sum(-1).tolist() == [NUCLEUS_CANDIDATES] * 2


def test_samples_of_a_sliding_window_model_carry_the_greedy_answer(tmp_path):
    """A model whose layers attend to a window keeps the growing cache for its samples (a static one is
    sized for full attention), and still gives the greedy answer in row 0 past the window."""
    from finsql.lm.testing import build_tiny_model

    lm = load_model(str(build_tiny_model(tmp_path, sliding_window=8)))
    question = "list every stock and every fund with its code"
    prompt = f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    greedy = generate(lm, prompt, 0, max_new_tokens=16).candidates[0]
    batch = generate(lm, prompt, 3, max_new_tokens=16, seed=1).candidates
    assert len(batch) == 4 and batch[0].text == greedy.text
