"""The greedy answer and N samples decoded together, each row drafting tokens from its own text (batched
prompt-lookup speculative sampling).

transformers' prompt-lookup decoding serves a batch of one, so N samples advanced one token per forward
pass: for N=8, ~74 passes of 9 rows against ~13 drafted passes for the greedy answer alone (2.6x its time).
Here every row drafts up to ``SAMPLE_DRAFT`` tokens by copying what followed its last tokens earlier in its
text (SQL copies tables, columns and clauses from the schema and the examples), one forward pass scores
every row's drafts, and each row keeps the longest prefix its own rule accepts:

- the greedy row keeps a drafted token while it is the arg-max, then writes the arg-max: its answer is the
  greedy answer;
- a sampled row keeps drafted token ``d`` with probability ``q(d)`` under its processed distribution ``q``
  (grammar mask, temperature, nucleus) and, on refusal, samples from ``q`` without ``d``: speculative
  sampling with a draft certain of its token, so each row is distributed exactly as token-by-token sampling
  from ``q`` (Leviathan et al., 2023; Chen et al., 2023).

Rows keep different numbers of tokens per pass, so the KV cache holds every scored position and a refused
draft becomes a hole the attention mask hides; each row's positions count only the tokens it kept. The
cache is a ``StaticCache``: its length bounds the slots, and drafts shrink as slots run out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import StaticCache

from finsql.ask.constrain import GrammarConstraint
from finsql.lm.models import quiet_cache_rename

SAMPLE_DRAFT = 2
"""Tokens a row drafts in its first pass (then ``Row.drafting``'s schedule): chosen by
``benchmarks/sample_drafts.py``. Every row pads to the pass's widest draft and a pass costs by the positions
it scores (9 rows x 5 positions: about twice 9 x 1 here), while a sampled row keeps about half its drafts."""
LOOKUP_NGRAM = 3
"""A row's draft follows the earliest earlier occurrence of its last 3 tokens (down to 1)."""


@dataclass
class Row:
    """One answer being decoded: its tokens so far and their log-probs under the model's raw logits."""

    greedy: bool
    cached: int
    """Positions of this row's text in the cache: the position of the next token fed."""
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    done: bool = False
    drafting: int = 0
    """Tokens this row drafts next pass: up 2 after a pass that kept every draft, down 1 after one that did
    not (transformers' schedule for assisted decoding), between 1 and twice the first."""


@dataclass
class Decoded:
    """What ``decode`` wrote: each row's answer tokens and log-probs, and what it took."""

    rows: list[Row]
    passes: int
    prefill_seconds: float
    scored: int
    """Positions the passes scored (rows x width, summed), kept or not: what decoding cost."""


def has_sliding_layers(model: object) -> bool:
    """Whether some attention layer sees only a window of the text (Mistral, Gemma 3): a slot is then no
    position, and holes in the cache would shift the window, so such models sample without drafts."""
    config = getattr(model, "config", None)
    if getattr(config, "sliding_window", None) is None:
        return False
    types = getattr(config, "layer_types", None)
    return types is None or any("sliding" in t for t in types)


def draft(text: list[int], size: int, ngram: int = LOOKUP_NGRAM) -> list[int]:
    """Up to ``size`` tokens that followed the earliest earlier occurrence of ``text``'s last ``ngram``
    tokens (trying shorter n-grams down to 1), or none."""
    if size <= 0:
        return []
    for n in range(min(ngram, len(text) - 1), 0, -1):
        tail = text[-n:]
        for start in range(len(text) - n):
            if text[start : start + n] == tail:
                return text[start + n : start + n + size]
    return []


class Sampler:
    """Chooses each row's tokens from one pass: the greedy row takes the arg-max of its masked logits, a
    sampled row draws from ``process``'s distribution (temperature and nucleus over the masked logits)."""

    def __init__(self, process: object, seed: int | None, eos: Sequence[int]) -> None:
        self.process = process
        self.eos = set(eos)
        self.end = next(iter(eos))
        self.generator = torch.Generator()
        self.generator.manual_seed(seed if seed is not None else torch.seed())

    def distributions(self, masked: torch.Tensor) -> torch.Tensor:
        """Each row's and position's sampling distribution (rows x positions x vocabulary)."""
        rows, width, vocab = masked.shape
        flat = self.process(None, masked.reshape(rows * width, vocab))
        return torch.softmax(flat, dim=-1).view(rows, width, vocab)

    def accept(
        self, row: Row, drafted: list[int], masked: torch.Tensor, probs: torch.Tensor, raw: torch.Tensor
    ) -> list[int]:
        """The tokens ``row`` keeps from ``drafted`` and the one it writes after them. Per scored position
        (``len(drafted) + 1``): ``masked`` its masked logits, ``probs`` its distribution, ``raw`` the model's
        logits (the log-probs the vote reads)."""
        kept: list[int] = []
        for position in range(len(drafted) + 1):
            offered = drafted[position] if position < len(drafted) else None
            if row.greedy:
                chosen = int(masked[position].argmax())
            elif offered is not None and self._coin() < float(probs[position, offered]):
                chosen = offered
            else:
                rest = probs[position].clone()
                if offered is not None:
                    rest[offered] = 0.0  # refused: the rest of the distribution, renormalised by multinomial
                chosen = self._draw(rest)
            row.logprobs.append(float(torch.log_softmax(raw[position], dim=-1)[chosen]))
            kept.append(chosen)
            if chosen != offered or chosen in self.eos:
                break
        return kept

    def _coin(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def _draw(self, weights: torch.Tensor) -> int:
        if not float(weights.sum()) > 0.0:  # nothing left but what the grammar forbids: end the row
            return self.end
        return int(torch.multinomial(weights, 1, generator=self.generator))


@torch.inference_mode()
def decode(
    model: object,
    prompt_ids: torch.Tensor,
    rows: int,
    sampler: Sampler,
    constraint: GrammarConstraint | None,
    finished: Callable[[list[Row]], None],
    max_new_tokens: int,
    pad_id: int,
    draft_size: int = SAMPLE_DRAFT,
) -> Decoded:
    """Decode ``rows`` answers to the one-row ``prompt_ids`` (row 0 greedy, the rest sampled), drafting up
    to ``draft_size`` tokens a row per pass. After each pass ``finished(rows)`` may end rows (stop strings,
    run-ons, the samples' length cap); a row also ends at an end-of-sequence token or ``max_new_tokens``."""
    prompt = prompt_ids[0].tolist()
    start = len(prompt) - 1  # the prompt's last token is fed with the first pass
    size = start + 2 * max_new_tokens
    cache, prefill = _prefill(model, prompt_ids, rows, size)
    keep = torch.zeros(rows, size, dtype=torch.long)
    keep[:, :start] = 1
    state = [Row(greedy=index == 0, cached=start, drafting=draft_size) for index in range(rows)]
    live = list(range(rows))  # the rows in the cache, in its order
    used, passes, scored = start, 0, 0
    while live:
        need = max(max_new_tokens - len(state[r].tokens) for r in live)
        room = size - used - need  # every row must still fit one token a pass after this one
        drafts = [draft(prompt + state[r].tokens, min(state[r].drafting, room)) for r in live]
        width = 1 + max(len(d) for d in drafts)
        batch = torch.full((len(live), width), pad_id, dtype=torch.long)
        positions = torch.zeros(len(live), width, dtype=torch.long)
        for slot, r in enumerate(live):
            text = [(state[r].tokens or prompt)[-1], *drafts[slot]]
            batch[slot, : len(text)] = torch.tensor(text)
            keep[slot, used : used + len(text)] = 1
            positions[slot] = state[r].cached + torch.arange(width)
        with quiet_cache_rename():
            logits = model(
                input_ids=batch,
                attention_mask=keep[:, : used + width],
                position_ids=positions,
                cache_position=torch.arange(used, used + width),
                past_key_values=cache,
                use_cache=True,
            ).logits.float()
        passes += 1
        scored += batch.numel()
        masked = _masked(logits, constraint, state, live, drafts)
        probs = sampler.distributions(masked)
        for slot, r in enumerate(live):
            row = state[r]
            kept = sampler.accept(row, drafts[slot], masked[slot], probs[slot], logits[slot])
            keep[slot, used + len(kept) : used + width] = 0  # refused drafts become holes
            row.cached += len(kept)
            row.tokens += kept
            if drafts[slot]:
                grown = row.drafting + 2 if len(kept) > len(drafts[slot]) else row.drafting - 1
                row.drafting = min(max(grown, 1), 2 * draft_size)
            row.done = kept[-1] in sampler.eos or len(row.tokens) >= max_new_tokens
        used += width
        finished(state)
        going = [slot for slot, r in enumerate(live) if not state[r].done]
        if len(going) < len(live):  # finished rows leave the batch: a pass costs by the row
            cache = _select(model, cache, going, used, size)
            keep, live = keep[going], [live[slot] for slot in going]
    for row in state:
        del row.tokens[max_new_tokens:], row.logprobs[max_new_tokens:]
    return Decoded(state, passes + 1, prefill, scored)


def _select(model: object, cache: StaticCache, slots: list[int], used: int, size: int) -> StaticCache:
    """A cache of only ``slots``' rows (their first ``used`` positions), when some rows have finished."""
    kept = StaticCache(config=model.config, max_cache_len=size)
    if slots:
        for index, layer in enumerate(cache.layers):
            kept.update(layer.keys[slots, :, :used], layer.values[slots, :, :used], index)
    return kept


def _prefill(model: object, prompt_ids: torch.Tensor, rows: int, size: int) -> tuple[StaticCache, float]:
    """The prompt's cache (all but its last token) computed once and copied into ``rows`` rows of a
    ``StaticCache`` of ``size`` slots, and the seconds it took."""
    clock = time.perf_counter()
    cache = model(input_ids=prompt_ids[:, :-1], use_cache=True, logits_to_keep=1).past_key_values
    static = StaticCache(config=model.config, max_cache_len=size)
    for index, (keys, values, _) in enumerate(cache):
        static.update(keys.repeat_interleave(rows, dim=0), values.repeat_interleave(rows, dim=0), index)
    return static, time.perf_counter() - clock


def _masked(
    logits: torch.Tensor,
    constraint: GrammarConstraint | None,
    state: list[Row],
    live: list[int],
    drafts: list[list[int]],
) -> torch.Tensor:
    """The logits of the ``live`` rows with each scored position masked to what the grammar allows after
    the row's answer and the drafts before that position (unchanged without a grammar). Each row keeps its
    own matcher (by its index in ``state``)."""
    if constraint is None:
        return logits
    masked = torch.empty_like(logits)
    for position in range(logits.shape[1]):
        texts: list[list[int] | None] = [None] * len(state)
        for r, drafted in zip(live, drafts, strict=True):
            if position <= len(drafted):
                texts[r] = state[r].tokens + drafted[:position]
        allowed = constraint.allowed(texts, logits.shape[-1])[live]
        masked[:, position] = logits[:, position].masked_fill(~allowed, float("-inf"))
    return masked
