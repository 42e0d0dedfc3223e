"""Where a decoded row ends before the token limit: a stop string, a run-on (one block repeated), or the
samples' length cap once the greedy answer has ended.

The same rules serve transformers' ``generate`` (as stopping criteria) and the drafted batch of
``speculative.decode`` (``DraftedRowsFinished``).
"""

from __future__ import annotations

import torch
from transformers import StoppingCriteria

from finsql.ask.speculative import Row

STOP_STRINGS = [";", "\n\n", "```"]
RUNON_REPEATS = 4
RUNON_PERIOD = 16
RUNON_MIN_TOKENS = 12
"""A row whose last tokens are one block of at most 16 tokens written 4 times over (12 tokens at least) has
run on (``'C' * x.y * x.y * x.y ...``): it ends there instead of at the token limit."""


def samples_limit(greedy_tokens: int) -> int:
    """Tokens a sampled row may write once the greedy row ended after ``greedy_tokens``: max(2L, L + 16).

    A sample rambling on would otherwise hold the whole batch to the token limit. Not tighter: where the
    greedy answer is short and wrong (a missing WHERE clause), the samples worth having are longer; a cap of
    L + max(8, L / 2) cut them off mid-clause."""
    return max(2 * greedy_tokens, greedy_tokens + 16)


def ends_in_copies(ids: list[int], period: int) -> bool:
    """Whether ``ids`` ends with one block of ``period`` tokens written ``RUNON_REPEATS`` times over."""
    span = period * RUNON_REPEATS
    return span <= len(ids) and all(ids[-span + i] == ids[-period + i % period] for i in range(span))


def runs_on(ids: list[int]) -> bool:
    """Whether ``ids`` ends with one block of at most ``RUNON_PERIOD`` tokens written ``RUNON_REPEATS``
    times over (``RUNON_MIN_TOKENS`` at least)."""
    periods = range(1, min(RUNON_PERIOD, len(ids) // RUNON_REPEATS) + 1)
    return any(p * RUNON_REPEATS >= RUNON_MIN_TOKENS and ends_in_copies(ids, p) for p in periods)


def runon_end(ids: list[int]) -> int | None:
    """Where an answer that ends running on first ran on (its tokens up to there), or None: the answer is
    cut there whether decoding stopped at once or, drafting several tokens a step, a few tokens later."""
    if not runs_on(ids):
        return None
    return next(end for end in range(RUNON_MIN_TOKENS, len(ids) + 1) if runs_on(ids[:end]))


class RunOn(StoppingCriteria):
    """Ends each row whose answer has run on: its last ``RUNON_REPEATS`` blocks of some period up to
    ``RUNON_PERIOD`` tokens are identical. Such a row would only fill the token limit with the same block
    and end incomplete; stopping it early saves most of the steps of a looping answer."""

    def __init__(self, prompt_length: int) -> None:
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        rows = input_ids[:, self.prompt_length :].tolist()
        return torch.tensor([runs_on(row) for row in rows], dtype=torch.bool, device=input_ids.device)


class SamplesNoLongerThanGreedy(StoppingCriteria):
    """Once the greedy row (row 0) has ended, ends the sampled rows at ``samples_limit`` tokens."""

    def __init__(self, tokenizer: object, eos: list[int], prompt_length: int) -> None:
        self.tokenizer, self.prompt_length = tokenizer, prompt_length
        self.eos = set(eos)
        self.limit: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        new = input_ids.shape[1] - self.prompt_length
        if self.limit is None:
            greedy = input_ids[0, self.prompt_length :].tolist()
            text = self.tokenizer.decode(greedy, skip_special_tokens=True)
            if greedy and (greedy[-1] in self.eos or any(stop in text for stop in STOP_STRINGS)):
                self.limit = samples_limit(new)
        done = self.limit is not None and new >= self.limit
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class DraftedRowsFinished:
    """Ends rows of a drafted batch (``speculative.decode``) by the rules above: a row that ran on; with
    ``stop_strings``, a row whose text holds one; sampled rows at ``samples_limit`` once the greedy row has
    ended."""

    def __init__(self, tokenizer: object, stop_strings: bool) -> None:
        self.tokenizer, self.stop_strings = tokenizer, stop_strings
        self.limit: int | None = None

    def __call__(self, rows: list[Row]) -> None:
        for row in rows:
            if row.done:
                continue
            if runs_on(row.tokens):
                row.done = True
            elif self.stop_strings:
                text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
                row.done = any(stop in text for stop in STOP_STRINGS)
        if self.limit is None and rows[0].done:
            self.limit = samples_limit(len(rows[0].tokens))
        for row in rows[1:]:
            if self.limit is not None and len(row.tokens) >= self.limit:
                row.done = True
                del row.tokens[self.limit :], row.logprobs[self.limit :]
