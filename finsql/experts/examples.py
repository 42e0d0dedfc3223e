"""Training examples: each pair's inference prompt and its gold SQL as the target, tokenized once.

The training prompt *is* the inference prompt: every pair goes through the ``PromptBuilder`` that ``ask``
uses (same schema linking, same template, ending with the answer prefix ``SELECT``); the target is the rest
of the gold SQL plus the end-of-turn token, and the loss covers the target tokens only. The retrieved
examples come from the training pairs, never the pair itself nor the pair a paraphrase rewrites
(``ExcludingRetriever``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from finsql.ask.linking import embed
from finsql.ask.pairs import ExampleRetriever, Pair
from finsql.ask.prompting import ANSWER_PREFIX, PromptBuilder
from finsql.errors import UsageError
from finsql.experts.augment import SKELETON_MARKER, paraphrase_question, sql_skeleton


@dataclass
class Example:
    """One tokenized training example: prompt + target ids, the target starting at ``prompt_len``."""

    input_ids: list[int]
    prompt_len: int
    kind: str  # "sql", "skeleton" or "paraphrase"
    uid: int = -1  # unique among the examples of one run (key of the activation cache)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class ExampleCounts:
    """How many examples of each kind were built, and how many pairs were left out and why."""

    sql: int = 0
    skeleton: int = 0
    paraphrase: int = 0
    skipped_not_select: int = 0
    skipped_too_long: int = 0

    def __add__(self, other: ExampleCounts) -> ExampleCounts:
        """The counts of two databases' examples together."""
        pairs = zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
        return ExampleCounts(*(a + b for a, b in pairs))

    def add(self, kind: str) -> None:
        """One more example of ``kind`` ("sql", "skeleton" or "paraphrase")."""
        setattr(self, kind, getattr(self, kind) + 1)

    @property
    def skipped(self) -> int:
        """Pairs left out, for either reason."""
        return self.skipped_not_select + self.skipped_too_long


class ExcludingRetriever:
    """Few-shot retrieval from the training pairs that never returns the pair being prompted: not for its
    own question, nor for its ``paraphrase`` rewrite (whose nearest pair is the original: its gold SQL)."""

    def __init__(self, retriever: ExampleRetriever, seed: int = 0) -> None:
        self.retriever = retriever
        self.rewritten_from = {paraphrase_question(p.question, seed): p.question for p in retriever.pairs}
        self.rewritten_from.pop(None, None)

    def nearest(self, question: str, k: int) -> list[Pair]:
        """The ``k`` closest pairs but the question's own, least similar first."""
        if k <= 0:
            return []
        own = {question, self.rewritten_from.get(question, question)}
        found = [p for p in self.retriever.nearest(question, k + 2) if p.question not in own]
        return found[-k:]


def target_text(sql: str) -> str | None:
    """The gold SQL after the answer prefix (whitespace collapsed, no ';'); None if it does not start so."""
    sql = " ".join(sql.strip().rstrip(";").split())
    if sql[: len(ANSWER_PREFIX)].upper() != ANSWER_PREFIX.upper():
        return None
    return sql[len(ANSWER_PREFIX) :]


def end_of_turn_id(tokenizer: Any) -> int:
    """The token that ends an assistant turn in the chat template (else the tokenizer's eos token)."""
    eos = tokenizer.eos_token_id
    if getattr(tokenizer, "chat_template", None):
        try:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": "q"}, {"role": "assistant", "content": "XYZ"}], tokenize=False
            )
            rest = text.split("XYZ", 1)[1]
            ids = tokenizer(rest, add_special_tokens=False)["input_ids"]
            if ids and ids[0] in set(tokenizer.all_special_ids):
                return ids[0]
        except Exception:  # noqa: BLE001 - odd templates fall back to eos
            pass
    if eos is None:
        raise UsageError("the model's tokenizer has no end-of-sequence token to end the SQL with")
    return eos


def build_examples(
    prompts: PromptBuilder,
    pairs: Sequence[Pair],
    augment: Iterable[str] = (),
    seed: int = 0,
    max_length: int | None = None,
    first_uid: int = 0,
) -> tuple[list[Example], ExampleCounts]:
    """Tokenize the pairs' inference prompts and targets once (plus the augmented examples)."""
    tok = prompts.tokenizer
    end = end_of_turn_id(tok)
    augment = set(augment)
    examples: list[Example] = []
    counts = ExampleCounts()

    def add(prompt: str, target: str, kind: str) -> None:
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        target_ids = tok(target, add_special_tokens=False)["input_ids"] + [end]
        if max_length is not None and len(prompt_ids) + len(target_ids) > max_length:
            counts.skipped_too_long += 1
            return
        examples.append(Example(prompt_ids + target_ids, len(prompt_ids), kind, first_uid + len(examples)))
        counts.add(kind)

    questions = [pair.question for pair in pairs]
    if "paraphrase" in augment:
        rewrites = (paraphrase_question(pair.question, seed) for pair in pairs)
        questions += [q for q in rewrites if q is not None]
    embed(questions)  # one batched pass: each prompt below links its question from the memo
    for pair in pairs:
        target = target_text(pair.sql)
        if target is None:
            counts.skipped_not_select += 1
            continue
        prompt = prompts.build(pair.question)
        add(prompt.text, target, "sql")
        if "skeleton" in augment:
            skeleton = sql_skeleton(pair.sql)
            skeleton_target = target_text(skeleton) if skeleton else None
            if skeleton_target is not None:
                question = f"{SKELETON_MARKER} {pair.question}"
                add(prompts.render(question, prompt.linked, prompt.examples), skeleton_target, "skeleton")
        if "paraphrase" in augment:
            rewrite = paraphrase_question(pair.question, seed)
            if rewrite is not None:
                add(prompts.build(rewrite).text, target, "paraphrase")
    return examples, counts
