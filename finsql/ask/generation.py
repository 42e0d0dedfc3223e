"""SQL generation with a causal LM: the greedy answer and N samples in one batched ``generate`` call."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StaticCache, StoppingCriteriaList

from finsql.ask.constrain import GrammarConstraint
from finsql.ask.prompting import ANSWER_PREFIX
from finsql.ask.speculative import LOOKUP_NGRAM, SAMPLE_DRAFT, Row, Sampler, decode, has_sliding_layers
from finsql.ask.stopping import (
    STOP_STRINGS,
    DraftedRowsFinished,
    RunOn,
    SamplesNoLongerThanGreedy,
    runon_end,
)
from finsql.lm.methods import is_prompt_learning
from finsql.lm.models import LoadedModel, quiet_cache_rename

_FENCE = re.compile(r"```(?:sql|SQL)?\s*(.*?)(?:```|$)", re.S)
_START = re.compile(r"\b(SELECT|WITH)\b", re.I)
NUCLEUS_CANDIDATES = 64
"""Top-p sampling looks for its nucleus among this many most likely tokens, not the whole vocabulary."""


MAX_NEW_TOKENS = 128
"""Tokens an answer may have: a row still going then is cut (and is no complete statement)."""


@dataclass
class Candidate:
    """One generated answer: raw text, the SQL extracted from it and its mean token log-likelihood."""

    text: str
    sql: str
    logprob: float
    greedy: bool
    tokens: tuple[int, ...] = ()
    """The answer's token ids (after the prompt), up to where it ended or was cut."""
    ran_on: bool = False
    """Whether the answer was cut where it began to repeat one block of tokens (``runon_end``)."""
    revision: str = ""
    """How decoding revised an earlier answer to get this one (``runon.continue_after_runon``), if it did."""


@dataclass
class Generation:
    """The candidates of one ``generate`` call, and what the grammar cost (zero when unconstrained)."""

    candidates: list[Candidate]
    constrained: bool
    steps: int
    mask_seconds: float
    prefill_seconds: float = 0.0
    """The first forward pass: the prompt (the rest of the generation is decoding and masking)."""
    passes: int = 0
    """Forward passes of the model: one per token, fewer when prompt lookup's drafts were accepted."""


def extract_sql(text: str) -> str:
    """The first SQL statement in model output: inside a code fence if any, from SELECT/WITH to ';'."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = _START.search(body)
    if start is None:
        return body.strip()
    sql = body[start.start() :]
    sql = sql.split(";")[0].split("\n\n")[0]
    return " ".join(sql.split())


class Nucleus(LogitsProcessor):
    """Temperature, then top-p among the ``NUCLEUS_CANDIDATES`` most likely tokens.

    transformers' top-p warper sorts the whole vocabulary (49k tokens for SmolLM2) for every row at every
    step, which on a CPU costs as much as a sixth of a 9-row decode step; the nucleus of a trained LM sits
    inside its top 64 tokens, so ``topk`` gives the same tokens at a fraction of the cost. Where the top 64
    hold less than ``top_p`` of the mass, all 64 are kept.
    """

    def __init__(self, temperature: float, top_p: float) -> None:
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scaled = scores / self.temperature
        values, indices = scaled.topk(min(NUCLEUS_CANDIDATES, scores.shape[-1]), dim=-1)
        probs = (values - scaled.logsumexp(dim=-1, keepdim=True)).exp()  # over the whole vocabulary
        outside = probs.cumsum(dim=-1) - probs > self.top_p  # the mass before it already reaches top_p
        values = values.masked_fill(outside, float("-inf"))
        return torch.full_like(scores, float("-inf")).scatter_(-1, indices, values)


class _BanFirst(LogitsProcessor):
    """Forbids ``token`` as the first token written after ``length`` tokens of input, in each row where the
    grammar leaves another token."""

    def __init__(self, token: int, length: int) -> None:
        self.token, self.length = token, length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] == self.length:
            others = torch.isfinite(scores).sum(dim=-1) > 1
            scores[others, self.token] = float("-inf")
        return scores


class _FirstRowGreedy(LogitsProcessor):
    """Keeps only the arg-max token in batch row 0, so a sampled batch also carries the greedy answer."""

    def __init__(self, rows_per_prompt: int) -> None:
        self.rows = rows_per_prompt

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        greedy_rows = torch.arange(0, scores.shape[0], self.rows, device=scores.device)
        best = scores[greedy_rows].argmax(dim=-1)
        masked = torch.full_like(scores[greedy_rows], float("-inf"))
        masked[torch.arange(len(greedy_rows)), best] = 0.0
        scores[greedy_rows] = masked
        return scores


@torch.inference_mode()
def generate(
    lm: LoadedModel,
    prompt: str,
    samples: int = 0,
    *,
    temperature: float = 0.7,
    top_p: float = 0.95,
    max_new_tokens: int = MAX_NEW_TOKENS,
    seed: int | None = 0,
    grammar: str | None = None,
    lookup: int = 0,
    sample_draft: int = SAMPLE_DRAFT,
    prefix: tuple[int, ...] = (),
    ban: int | None = None,
) -> Generation:
    """Greedy decode, plus ``samples`` sampled candidates advancing in the same batched forward passes.

    ``grammar``: a Lark grammar (``grammar.sql_grammar``) every row is masked by, each with its own matcher;
    the grammar's end then ends a row, so no stop strings are needed. ``lookup``: with no samples, draft up
    to this many tokens by copying what followed the last tokens where they occur earlier in the prompt or
    answer (prompt-lookup decoding: SQL copies table, column and clause spans from the schema and the
    examples), verified by one forward pass; the answer is the same greedy answer. ``sample_draft``: with
    samples, each row drafts up to this many tokens a pass the same way (``speculative.decode``; 0: one
    token a pass, by transformers' ``generate``). ``prefix``: answer tokens
    already written, which every row continues (the grammar follows them first); ``ban``: a token no row
    may write as its first new token (so a continuation leaves the way the earlier answer went).
    """
    tok = lm.tokenizer
    head_text = ANSWER_PREFIX if prompt.endswith(ANSWER_PREFIX) else ""
    inputs = tok(prompt, return_tensors="pt", add_special_tokens=False).to(lm.device)
    answer_start = inputs["input_ids"].shape[1]
    if prefix:
        written = torch.tensor([list(prefix)], dtype=inputs["input_ids"].dtype, device=lm.device)
        inputs["input_ids"] = torch.cat([inputs["input_ids"], written], dim=1)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    constraint = (
        GrammarConstraint(grammar, tok, _logits_width(lm.model), _eos_ids(lm), answer_start)
        if grammar is not None
        else None
    )
    anchor = int(inputs["input_ids"][0, answer_start - 1])
    reader = _Reader(tok, anchor, head_text, _eos_ids(lm), len(prefix))
    if samples > 0 and sample_draft > 0 and not prefix and ban is None and _drafts_apply(lm.model):
        decoded = decode(
            lm.model,
            inputs["input_ids"],
            1 + samples,
            Sampler(Nucleus(temperature, top_p), seed, _eos_ids(lm)),
            constraint,
            DraftedRowsFinished(tok, constraint is None),
            max_new_tokens,
            tok.pad_token_id,
            sample_draft,
        )
        candidates = [reader.row_candidate(row) for row in decoded.rows]
        steps = max(len(row.tokens) for row in decoded.rows)
        masking = constraint.mask_seconds if constraint is not None else 0.0
        return Generation(
            candidates, constraint is not None, steps, masking, decoded.prefill_seconds, decoded.passes
        )
    clock = _FirstPass(lm.model)
    try:
        inputs, kwargs = _decoding(
            lm, inputs, samples, constraint, temperature, top_p, seed, lookup, max_new_tokens
        )
        if ban is not None:
            kwargs["logits_processor"].append(_BanFirst(ban, inputs["input_ids"].shape[1]))
        with quiet_cache_rename():  # peft prefix tuning still passes `past_key_values` (transformers 5)
            out = lm.model.generate(
                **inputs,
                **kwargs,
                max_new_tokens=max_new_tokens,
                output_logits=True,
                return_dict_in_generate=True,
            )
    finally:
        clock.remove()
    new = out.sequences[:, inputs["input_ids"].shape[1] :]
    logits = torch.stack(out.logits, dim=1).float()
    token_logp = torch.log_softmax(logits, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
    candidates = [
        reader.candidate(list(prefix) + new[row].tolist(), token_logp[row].tolist(), row == 0)
        for row in range(new.shape[0])
    ]
    masking = constraint.mask_seconds if constraint is not None else 0.0
    return Generation(candidates, constraint is not None, new.shape[1], masking, clock.seconds, clock.calls)


class _Reader:
    """Turns a row's answer tokens into a ``Candidate``: cut at its end-of-sequence token or where it ran
    on, read as text after the prompt, scored by the mean log-prob of the tokens this call wrote."""

    def __init__(self, tokenizer: object, anchor: int, head_text: str, eos: list[int], prefix: int) -> None:
        self.tokenizer, self.anchor, self.head_text = tokenizer, anchor, head_text
        self.head = tokenizer.decode([anchor], skip_special_tokens=True)
        self.eos, self.prefix = set(eos), prefix

    def candidate(self, ids: list[int], logprobs: list[float], greedy: bool) -> Candidate:
        """``ids``: the answer's tokens (the prefix first); ``logprobs``: those written after the prefix."""
        length = next((i + 1 for i, t in enumerate(ids) if t in self.eos), len(ids))
        cut = runon_end(ids[:length])
        length = cut or length
        text = self.head_text + _decode_after(self.tokenizer, self.anchor, self.head, ids[:length])
        written = length - self.prefix  # the mean over the tokens this call wrote
        mean_lp = sum(logprobs[:written]) / written if written > 0 else float("-inf")
        tokens = tuple(t for t in ids[:length] if t not in self.eos)
        return Candidate(text, extract_sql(text), mean_lp, greedy, tokens, ran_on=cut is not None)

    def row_candidate(self, row: Row) -> Candidate:
        """A drafted row's candidate (``speculative.Row``)."""
        return self.candidate(row.tokens, row.logprobs, row.greedy)


def _drafts_apply(model: object) -> bool:
    """Whether samples decode with drafts (``speculative.decode``): not where peft feeds its own virtual
    tokens or prefix cache (prompt and prefix tuning), nor for sliding-window attention."""
    return not is_prompt_learning(model) and not has_sliding_layers(model)


def _decoding(
    lm: LoadedModel,
    inputs: dict,
    samples: int,
    constraint: GrammarConstraint | None,
    temperature: float,
    top_p: float,
    seed: int | None,
    lookup: int,
    max_new_tokens: int,
) -> tuple[dict, dict]:
    """The inputs and ``generate`` arguments of one call: greedy (with prompt lookup when asked), or greedy
    plus ``samples`` rows sharing one prompt pass."""
    tok = lm.tokenizer
    rows = 1 + max(samples, 0)
    prompt_length = inputs["input_ids"].shape[1]
    stops = StoppingCriteriaList([RunOn(prompt_length)])
    kwargs: dict = {"pad_token_id": tok.pad_token_id, "stopping_criteria": stops}
    processors = LogitsProcessorList([constraint] if constraint is not None else [])
    if constraint is None:
        kwargs.update(stop_strings=STOP_STRINGS, tokenizer=tok)
    if rows == 1:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None, logits_processor=processors)
        if lookup > 0 and not is_prompt_learning(lm.model):
            kwargs.update(prompt_lookup_num_tokens=lookup, max_matching_ngram_size=LOOKUP_NGRAM)
        return inputs, kwargs
    if seed is not None:
        torch.manual_seed(seed)
    stops.append(SamplesNoLongerThanGreedy(tok, _eos_ids(lm), prompt_length))
    kwargs.update(
        do_sample=True,  # the sampling warpers are Nucleus's: transformers' own are switched off
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        logits_processor=LogitsProcessorList(
            [*processors, _FirstRowGreedy(rows), Nucleus(temperature, top_p)]
        ),
    )
    if is_prompt_learning(lm.model):  # peft feeds its own virtual tokens or prefix cache
        kwargs["num_return_sequences"] = rows
        return inputs, kwargs
    kwargs["past_key_values"] = _shared_prefill(lm.model, inputs["input_ids"], rows, max_new_tokens)
    return {name: tensor.repeat(rows, 1) for name, tensor in inputs.items()}, kwargs


class _FirstPass:
    """Times the model's first forward pass (the prompt's) with a pair of hooks, removed afterwards."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.seconds, self._started, self.calls = 0.0, 0.0, 0
        if hasattr(model, "get_base_model"):  # peft: time the model it runs
            model = model.get_base_model()
        self._hooks = [
            model.register_forward_pre_hook(self._before),
            model.register_forward_hook(self._after),
        ]

    def _before(self, *_: object) -> None:
        self._started = time.perf_counter()

    def _after(self, *_: object) -> None:
        if self.calls == 0:
            self.seconds = time.perf_counter() - self._started
        self.calls += 1

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()


def _decode_after(tokenizer: object, anchor: int, head: str, ids: list[int]) -> str:
    """The text of ``ids`` as it reads after the prompt's last token ``anchor`` (whose text is ``head``):
    SentencePiece-style tokenizers (Llama, Gemma) drop the leading blank of a sequence they decode on its
    own, which would glue the answer to the prompt's ``SELECT``."""
    whole = tokenizer.decode([anchor, *ids], skip_special_tokens=True)
    return whole[len(head) :] if whole.startswith(head) else tokenizer.decode(ids, skip_special_tokens=True)


def _shared_prefill(model: object, input_ids: torch.Tensor, rows: int, max_new_tokens: int) -> object:
    """The prompt's KV cache computed once (all but its last token) and copied for ``rows`` rows, so N
    samples cost one prompt pass instead of N; ``generate`` then starts from the last prompt token. Only
    the cache is wanted: logits for one position, not the prompt's hundreds (a fifth of the pass).

    Where every layer attends to the whole text, the rows go into a ``StaticCache`` sized for the prompt and
    the answer: a growing cache concatenates every layer's keys and values at every step, which for 9 rows
    of an 850-token prompt cost about a sixth of a decode step on a CPU (profiled); a static one writes the
    new position in place. Sliding-window models keep the growing cache, which trims itself.
    """
    try:
        cache = model(input_ids=input_ids[:, :-1], use_cache=True, logits_to_keep=1).past_key_values
    except TypeError:  # a model without ``logits_to_keep``
        cache = model(input_ids=input_ids[:, :-1], use_cache=True).past_key_values
    if any(getattr(cache, "is_sliding", [True])):
        cache.batch_repeat_interleave(rows)
        return cache
    static = StaticCache(config=model.config, max_cache_len=input_ids.shape[1] + max_new_tokens)
    for index, (keys, values, _) in enumerate(cache):
        static.update(keys.repeat_interleave(rows, dim=0), values.repeat_interleave(rows, dim=0), index)
    return static


def _logits_width(model: object) -> int:
    """How many logits the model writes per token (a padded vocabulary can be wider than the tokenizer)."""
    return int(model.get_output_embeddings().weight.shape[0])


def _eos_ids(lm: LoadedModel) -> list[int]:
    eos = lm.model.generation_config.eos_token_id
    ids = eos if isinstance(eos, list) else [eos]
    return [i for i in ids + [lm.tokenizer.eos_token_id, lm.tokenizer.pad_token_id] if i is not None]
