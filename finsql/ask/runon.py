"""Answers that ran on, continued: a greedy answer that began repeating one block of tokens is cut after the
block's first copy and decoded again from there, the token that began the second copy forbidden, so the model
goes on with the rest of its statement instead of the block.

A small model often lists columns until it cannot stop (``SELECT a.x, b.y, b.y, b.y, ...``); the run-on stop
ends the row (``stopping.runon_end``), but what is left has no FROM and never validates, and a repair can
only guess the table. The list up to its first repeat is what the model meant, and the token that began the
repeat is the choice that went wrong: with it forbidden, the grammar-constrained greedy decoder writes the
model's own next choice (a FROM with the aliases the list used, another condition).
"""

from __future__ import annotations

from dataclasses import replace

from finsql.ask.generation import MAX_NEW_TOKENS, Candidate, generate
from finsql.ask.stopping import RUNON_PERIOD, RUNON_REPEATS, ends_in_copies
from finsql.lm.models import LoadedModel

REVISION = "continued-after-run-on"


def repeat_cut(tokens: list[int]) -> tuple[int, int] | None:
    """Where to cut tokens that end in ``RUNON_REPEATS`` copies of one block of at most ``RUNON_PERIOD``
    tokens, and the token to forbid there: (tokens kept, banned token). The block is the shortest that
    repeats, its copies traced back as far as they go; one copy is kept. None when the tokens do not end so.
    """
    periods = range(1, min(RUNON_PERIOD, len(tokens) // RUNON_REPEATS) + 1)
    period = next((p for p in periods if ends_in_copies(tokens, p)), None)
    if period is None:
        return None
    start = len(tokens) - period * RUNON_REPEATS
    while start > 0 and tokens[start - 1] == tokens[start - 1 + period]:
        start -= 1
    return start + period, tokens[start + period]


def continue_after_runon(
    lm: LoadedModel, prompt: str, candidate: Candidate, grammar: str | None, lookup: int
) -> Candidate | None:
    """The greedy continuation of ``candidate`` from before its repeats (see the module), within the token
    budget of one answer, or None when ``candidate`` did not run on. Once only: a continuation that runs
    on again was measured to turn no more answers valid, at up to 5 s more a question."""
    cut = repeat_cut(list(candidate.tokens)) if candidate.ran_on else None
    if cut is None:
        return None
    keep, ban = cut
    generation = generate(
        lm,
        prompt,
        0,
        max_new_tokens=max(MAX_NEW_TOKENS - keep, 1),
        grammar=grammar,
        lookup=lookup,
        prefix=candidate.tokens[:keep],
        ban=ban,
    )
    return replace(generation.candidates[0], greedy=candidate.greedy, revision=REVISION)
