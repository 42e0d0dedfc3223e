"""Grammar matching with llguidance: whether a grammar accepts a text, and the logits processor that masks
every decoded row (the greedy one and each sample) to the tokens its grammar allows next.

The grammar text comes from ``grammar.sql_grammar``; here it is compiled once per tokenizer and copied per
row. Each row has its own matcher: rows advance independently, and a row whose statement ended may only
write an end-of-sequence token. This is the engine's work (llguidance); finsql only wires it to
transformers' ``LogitsProcessor`` interface.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

import llguidance
import llguidance.hf
import llguidance.numpy
import numpy as np
import torch
from transformers import LogitsProcessor

from finsql.errors import GrammarEngineError

LIMITS = {"initial_lexer_fuel": 100_000_000, "step_max_items": 2_000_000, "step_lexer_fuel": 20_000_000}
"""llguidance's defaults suit ~32k-token vocabularies: its lexer fuel (1M) cannot precompute the value lexemes
of a wide schema (~0.5 s here), and one mask of a 262k vocabulary (Gemma 3) after ``count(*)`` needs more
than its 50,000 parser items, which left only end-of-sequence allowed."""
_TOKENIZERS: dict[tuple, tuple[object, llguidance.LLTokenizer]] = {}
_COMPILED: OrderedDict[tuple[int, str], llguidance.LLMatcher] = OrderedDict()
_COMPILED_SIZE = 8


def ll_tokenizer(
    tokenizer: object, vocab_size: int | None = None, eos_ids: Sequence[int] | None = None
) -> llguidance.LLTokenizer:
    """llguidance's view of a Hugging Face fast tokenizer (built once per tokenizer: it takes ~0.3 s).

    ``vocab_size``: the model's logits width when it pads the tokenizer's vocabulary; ``eos_ids``: the
    tokens that end generation (the model's generation config may name several)."""
    if isinstance(tokenizer, llguidance.LLTokenizer):
        return tokenizer
    key = (id(tokenizer), vocab_size, tuple(eos_ids) if eos_ids else None)
    held = _TOKENIZERS.get(key)
    if held is None or held[0] is not tokenizer:
        eos = list(eos_ids) if eos_ids else None
        held = (tokenizer, llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos))
        _TOKENIZERS[key] = held
    return held[1]


def compile_grammar(grammar: str, tokenizer: object | llguidance.LLTokenizer) -> llguidance.LLMatcher:
    """A fresh matcher of ``grammar``: compiled once per tokenizer (cached), then copied for each caller."""
    lltok = ll_tokenizer(tokenizer)
    key = (id(lltok), grammar)
    matcher = _COMPILED.get(key)
    if matcher is None:
        lark = llguidance.LLMatcher.grammar_from_lark(grammar)
        matcher = llguidance.LLMatcher(lltok, lark, log_level=0, limits=llguidance.LLParserLimits(**LIMITS))
        if matcher.is_error():
            raise ValueError(f"invalid grammar: {matcher.get_error()}")
        _COMPILED[key] = matcher
        if len(_COMPILED) > _COMPILED_SIZE:
            _COMPILED.popitem(last=False)
    _COMPILED.move_to_end(key)
    return matcher.deep_copy()


def clear_cache() -> None:
    """Forget the compiled grammars (to time a compile)."""
    _COMPILED.clear()


def grammar_error(grammar: str, sql: str, tokenizer: object) -> str | None:
    """Why ``grammar`` rejects the whole text ``sql`` fed token by token as a decoder would, or None.

    Trailing blanks are dropped (a decoder ends with EOS, not with them); for an ``after_select`` grammar
    pass the text after ``SELECT``.
    """
    matcher = compile_grammar(grammar, tokenizer)
    if not matcher.consume_tokens(tokenizer.encode(sql.rstrip(), add_special_tokens=False)):
        return matcher.get_error().split("\n")[0] or "rejected"
    if not matcher.is_accepting():
        return "incomplete statement"
    return None


def accepts(grammar: str, sql: str, tokenizer: object) -> bool:
    """Whether ``grammar`` accepts the whole text ``sql`` (see ``grammar_error``)."""
    return grammar_error(grammar, sql, tokenizer) is None


class GrammarConstraint(LogitsProcessor):
    """Masks each row's logits to the tokens its own matcher allows; one matcher per batch row.

    transformers calls a processor with every row's tokens so far. Each row's matcher follows those tokens
    wherever they go: it rolls back to the longest prefix it shares with them and consumes the rest. Plain
    decoding adds one token per call; prompt-lookup decoding also asks about drafted tokens it may then
    reject, and the next call simply starts from a shorter sequence. A row whose statement ended, whose
    sequence holds an end-of-sequence token or a token the grammar refuses (a draft about to be rejected)
    may only write an end-of-sequence token. Masks of several rows are computed in parallel by llguidance's
    executor.
    """

    def __init__(
        self,
        grammar: str,
        tokenizer: object,
        vocab_size: int,
        eos_ids: Sequence[int],
        answer_start: int | None = None,
    ) -> None:
        """``answer_start``: where the answer starts in the rows' tokens, when they already hold part of it
        (a continuation); by default the answer starts after the tokens of the first call."""
        self.lltok = ll_tokenizer(tokenizer, vocab_size, eos_ids)
        self.answer_start = answer_start
        self.grammar, self.eos_ids = grammar, list(eos_ids)
        self.matchers: list[llguidance.LLMatcher] = []
        self.consumed: list[list[int]] = []
        self.prompt_length = 0
        self.mask_seconds = 0.0  # time spent on masks, for the overhead measurement
        self.steps = 0
        self._eos = set(self.eos_ids)
        self._executor = llguidance.LLExecutor()
        words = llguidance.numpy.allocate_token_bitmask(1, self.lltok.vocab_size).shape[1]
        self._eos_only = _only(self.eos_ids, words)  # the mask of every finished row

    def _start(self, rows: int, prompt_length: int) -> None:
        first = compile_grammar(self.grammar, self.lltok)
        self.matchers = [first] + [first.deep_copy() for _ in range(rows - 1)]
        self.consumed = [[] for _ in range(rows)]
        self.prompt_length = prompt_length if self.answer_start is None else self.answer_start

    def _follow(self, row: int, tokens: list[int]) -> bool:
        """Bring row ``row``'s matcher to ``tokens`` (the row's tokens after the prompt); whether the row may
        still write more than an end-of-sequence token."""
        matcher, consumed = self.matchers[row], self.consumed[row]
        ended = next((i for i, t in enumerate(tokens) if t in self._eos), None)
        tokens = tokens if ended is None else tokens[:ended]
        common = 0
        for had, wants in zip(consumed, tokens, strict=False):
            if had != wants:
                break
            common += 1
        if common < len(consumed):
            matcher.rollback(len(consumed) - common)
            del consumed[common:]
        taken = matcher.try_consume_tokens(tokens[common:]) if len(tokens) > common else 0
        consumed += tokens[common : common + taken]
        return ended is None and len(consumed) == len(tokens) and not matcher.is_stopped()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.matchers:
            self._start(scores.shape[0], input_ids.shape[1])
        allowed = self.allowed(input_ids[:, self.prompt_length :].tolist(), scores.shape[-1])
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))

    def allowed(self, answers: Sequence[list[int] | None], width: int) -> torch.Tensor:
        """Which of ``width`` tokens each row may write next, after its answer tokens ``answers[row]``: rows
        may differ in length (a decoder that drafts tokens asks about each drafted prefix in turn); a row
        given None is not asked about (it ended) and may only write an end-of-sequence token."""
        clock = time.perf_counter()
        if not self.matchers:
            self._start(len(answers), 0)
        self.steps += 1
        mask = llguidance.numpy.allocate_token_bitmask(len(answers), self.lltok.vocab_size)
        live = []
        for row, tokens in enumerate(answers):
            if tokens is not None and self._follow(row, tokens):
                live.append((self.matchers[row], row))
            else:
                mask[row] = self._eos_only
        if live:
            llguidance.numpy.fill_next_token_bitmask_par(self._executor, live, mask)
            for matcher, _ in live:
                if matcher.is_error():  # an engine limit, not the model's token: never end the row silently
                    raise GrammarEngineError(
                        f"the grammar engine failed ({matcher.get_error().splitlines()[0]}); "
                        "--no-constrain decodes without it"
                    )
        allowed = _unpack(mask, width)
        self.mask_seconds += time.perf_counter() - clock
        return allowed


def _only(token_ids: Sequence[int], words: int) -> np.ndarray:
    """A one-row bitmask allowing just ``token_ids``."""
    bits = np.zeros(words * 32, dtype=bool)
    bits[[t for t in token_ids if t < words * 32]] = True
    return np.packbits(bits, bitorder="little").view(np.int32)


def _unpack(mask: np.ndarray, width: int) -> torch.Tensor:
    """The int32 bitmask as a bool tensor of ``width`` columns (columns past the mask are not allowed)."""
    bits = np.unpackbits(mask.view(np.uint8), axis=1, bitorder="little").astype(bool)
    if bits.shape[1] < width:
        bits = np.pad(bits, ((0, 0), (0, width - bits.shape[1])))
    return torch.from_numpy(bits[:, :width])
