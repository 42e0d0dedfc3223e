"""Samples decoded with drafts: each row keeps the tokens its own rule accepts, distributed as token-by-token
decoding would be; the greedy row is the greedy answer; finished rows leave the batch."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest
import torch

from finsql.ask.generation import generate
from finsql.ask.prompting import ANSWER_PREFIX
from finsql.ask.speculative import Row, Sampler, decode, draft, has_sliding_layers
from finsql.lm.inference import grouped_attention_on_cpu
from finsql.lm.models import LoadedModel, load_model

# a prompt whose answer the tiny model can copy from: each row finds drafts in it
PROMPT = (
    "<|im_start|>user\nselect count from fund where year<|im_end|>\n<|im_start|>assistant\n"
    "SELECT count(*) FROM fund WHERE year = 2020<|im_end|>\n"
    "<|im_start|>user\nselect count from fund<|im_end|>\n<|im_start|>assistant\n" + ANSWER_PREFIX
)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> LoadedModel:
    return load_model(str(tiny_model_dir))


def test_a_draft_follows_the_earliest_earlier_occurrence_of_the_last_tokens() -> None:
    assert draft([1, 2, 3, 9, 8, 7, 1, 2, 3], 2) == [9, 8]
    assert draft([5, 1, 2, 3, 4, 6, 2, 3], 3) == [4, 6, 2]  # 3 tokens unseen: the last 2 match
    assert draft([4, 7, 4], 5) == [7, 4]  # only what follows: no more than the text holds
    assert draft([1, 2, 3], 4) == [] and draft([1, 2, 1], 0) == []


def _sampler(seed: int = 0) -> Sampler:
    return Sampler(lambda ids, scores: scores, seed, eos=[3])


def test_a_sampled_row_is_distributed_as_token_by_token_sampling() -> None:
    """Keeping draft d with probability q(d) and else drawing from q without d gives each position exactly
    q: the first token's frequencies match q whether or not the draft is likely, and so do the second's
    after the draft was kept."""
    first = torch.tensor([0.2, 0.5, 0.25, 0.05])
    second = torch.tensor([0.6, 0.1, 0.3, 0.0])
    probs = torch.stack([first, second, torch.full((4,), 0.25)])
    logits = probs.clamp_min(1e-9).log()
    sampler = _sampler()
    runs = 20_000
    for drafted in ([1, 0], [2, 1], [0, 2]):
        firsts, seconds = collections.Counter(), collections.Counter()
        for _ in range(runs):
            kept = sampler.accept(Row(greedy=False, cached=0), drafted, logits, probs, logits)
            firsts[kept[0]] += 1
            if kept[0] == drafted[0]:
                seconds[kept[1]] += 1
        for token in range(4):
            assert abs(firsts[token] / runs - float(first[token])) < 0.015, (drafted, token)
            kept_first = firsts[drafted[0]]
            assert abs(seconds[token] / kept_first - float(second[token])) < 0.03, (drafted, token)


def test_the_greedy_row_keeps_drafts_while_they_are_the_arg_max() -> None:
    logits = torch.tensor([[0.0, 3.0, 1.0, 0.0], [2.0, 0.0, 1.0, 0.0], [0.0, 0.0, 5.0, 0.0]])
    probs = torch.softmax(logits, dim=-1)
    row = Row(greedy=True, cached=0)
    assert _sampler().accept(row, [1, 0], logits, probs, logits) == [1, 0, 2]
    assert _sampler().accept(Row(greedy=True, cached=0), [1, 2], logits, probs, logits) == [1, 0]
    assert len(row.logprobs) == 3 and all(lp <= 0 for lp in row.logprobs)


def test_a_row_ends_at_an_end_token_even_inside_its_draft() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 9.0], [9.0, 0.0, 0.0, 0.0]])
    probs = torch.softmax(logits, dim=-1)
    assert _sampler().accept(Row(greedy=True, cached=0), [3, 0], logits, probs, logits) == [3]


@pytest.mark.parametrize("constrained", [False, True])
def test_drafted_samples_carry_the_greedy_answer(tiny, small_grammar, constrained) -> None:
    text = small_grammar if constrained else None
    greedy = generate(tiny, PROMPT, 0, max_new_tokens=24, grammar=text).candidates[0]
    settings = {"max_new_tokens": 24, "grammar": text, "seed": 3}
    plain = generate(tiny, PROMPT, 5, sample_draft=0, **settings)
    drafted = generate(tiny, PROMPT, 5, sample_draft=2, **settings)
    assert len(drafted.candidates) == 6 and drafted.candidates[0].greedy
    assert drafted.candidates[0].text == plain.candidates[0].text == greedy.text
    assert not any(c.greedy for c in drafted.candidates[1:]) and drafted.prefill_seconds > 0
    again = generate(tiny, PROMPT, 5, sample_draft=2, **settings)
    assert [c.tokens for c in again.candidates] == [c.tokens for c in drafted.candidates]


def test_a_row_that_copies_keeps_its_drafts(tiny) -> None:
    """The greedy row alone, drafting from a prompt it copies: the same tokens as one pass a token, in
    fewer passes (the refused drafts' holes in the cache do not change what it attends to)."""
    ids = tiny.tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    plain = generate(tiny, PROMPT, 0, max_new_tokens=24).candidates[0]
    eos = [tiny.tokenizer.eos_token_id]
    sampler = Sampler(lambda ids, scores: scores, 0, eos)
    decoded = decode(tiny.model, ids, 1, sampler, None, lambda rows: None, 24, tiny.tokenizer.pad_token_id, 4)
    row = decoded.rows[0]
    assert tuple(t for t in row.tokens if t not in eos) == plain.tokens
    assert decoded.passes <= len(row.tokens) and decoded.scored > len(row.tokens)


def test_drafted_samples_vary_and_score_their_own_tokens(tiny) -> None:
    drafted = generate(tiny, PROMPT, 6, max_new_tokens=16, temperature=1.5, seed=1).candidates
    assert len({c.text for c in drafted[1:]}) > 1
    for candidate in drafted:
        assert candidate.logprob <= 0 and len(candidate.tokens) <= 16


def test_sliding_window_models_sample_without_drafts(tmp_path, tiny) -> None:
    from finsql.lm.testing import build_tiny_model

    assert not has_sliding_layers(tiny.model)
    assert has_sliding_layers(load_model(str(build_tiny_model(tmp_path, sliding_window=8))).model)


def test_grouped_heads_attend_alike_with_and_without_the_copy(tiny) -> None:
    """transformers' grouped-query attention on a CPU (``grouped_attention_on_cpu``): a pass of several
    tokens against a cache gives the logits it gives with the key/value heads copied first."""
    ids = tiny.tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]

    def last_logits() -> torch.Tensor:
        with torch.inference_mode():
            cache = tiny.model(input_ids=ids[:, :-4], use_cache=True).past_key_values
            mask = torch.ones(2, ids.shape[1], dtype=torch.long)
            cache.batch_repeat_interleave(2)
            return tiny.model(
                input_ids=ids[:, -4:].repeat(2, 1), past_key_values=cache, attention_mask=mask
            ).logits

    saved = os.environ.pop("TRANSFORMERS_SDPA_FORCE_GQA", None)
    try:
        copied = last_logits()
        grouped_attention_on_cpu()
        assert os.environ["TRANSFORMERS_SDPA_FORCE_GQA"] == "1"
        assert torch.allclose(last_logits(), copied, atol=1e-5)
    finally:
        os.environ.pop("TRANSFORMERS_SDPA_FORCE_GQA", None)
        if saved is not None:
            os.environ["TRANSFORMERS_SDPA_FORCE_GQA"] = saved
