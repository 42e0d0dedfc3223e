"""Prompts: the linked schema as compact DDL, retrieved examples as chat turns, the model's chat template.

Training and composing build their prompts with the same ``PromptBuilder`` as ``ask``, so what an expert
learns is what it is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from finsql.ask.linking import LinkedSchema, SchemaLinker
from finsql.ask.pairs import Pair
from finsql.ask.sqlcheck import check_sql
from finsql.db.schema import Schema
from finsql.errors import UsageError

SYSTEM = (
    "You translate questions about a DuckDB financial database into one DuckDB SQL SELECT statement. "
    "Use only the tables and columns below. Answer with the SQL only."
)
_COMMENT_CHARS = 70
ANSWER_PREFIX = "SELECT"
PROMPT_STYLES = ("full", "compact", "names")
DEFAULT_SHOTS = 3
CANDIDATES_PER_SHOT = 4  # with a token budget, the closest 4k examples are considered for k shots


def render_schema(linked: LinkedSchema, style: str = "full") -> str:
    """CREATE TABLE statements with key constraints, then matched cell values.

    ``full``: one column per line with short comments. ``compact``: one line per table, no comments (about
    half the tokens). ``names``: ``compact`` without column types (a third fewer tokens again).
    """
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}")
    compact = style != "full"
    blocks = []
    for table in linked.tables:
        keys = [c.name for c in table.columns if c.primary_key]
        inline = len(keys) == 1
        items = [
            (
                c.name
                + ("" if style == "names" else f" {c.type}")
                + (" PRIMARY KEY" if c.primary_key and inline else ""),
                "" if compact else c.comment[:_COMMENT_CHARS],
            )
            for c in table.columns
        ]
        if len(keys) > 1:
            items.append((f"PRIMARY KEY ({', '.join(keys)})", ""))
        items += [
            (
                f"FOREIGN KEY ({', '.join(fk.columns)}) "
                f"REFERENCES {fk.ref_table}({', '.join(fk.ref_columns)})",
                "",
            )
            for fk in table.foreign_keys
        ]
        if compact:
            blocks.append(f"CREATE TABLE {table.name} ({', '.join(d for d, _ in items)});")
            continue
        lines = [
            f"  {definition}{',' if i < len(items) - 1 else ''}{f' -- {note}' if note else ''}"
            for i, (definition, note) in enumerate(items)
        ]
        head = f"-- {table.comment[: _COMMENT_CHARS * 2]}\n" if table.comment else ""
        blocks.append(f"{head}CREATE TABLE {table.name} (\n" + "\n".join(lines) + "\n);")
    values = [
        f"-- {column} has the value(s): {', '.join(repr(v) for v in found)}"
        for column, found in linked.matched_values.items()
    ]
    return "\n".join(blocks + values)


def build_messages(
    question: str, linked: LinkedSchema, examples: list[Pair], style: str = "full"
) -> list[dict[str, str]]:
    """Chat messages: system with schema, one user/assistant turn per example, then the question."""
    messages = [{"role": "system", "content": f"{SYSTEM}\n\n{render_schema(linked, style)}"}]
    for example in examples:
        messages.append({"role": "user", "content": example.question})
        messages.append({"role": "assistant", "content": example.sql})
    messages.append({"role": "user", "content": question})
    return messages


def render_prompt(tokenizer, messages: list[dict[str, str]]) -> str:
    """The prompt text (chat template when the tokenizer has one), ending with the answer prefix ``SELECT``.

    Starting the answer with ``SELECT`` keeps small models from answering in prose; the generated text is
    the rest of the query, and training targets are cut the same way.
    """
    if getattr(tokenizer, "chat_template", None):
        head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        labels = {"system": "", "user": "Question: ", "assistant": "SQL: "}
        head = "\n\n".join(labels[m["role"]] + m["content"] for m in messages) + "\n\nSQL: "
    return head + ANSWER_PREFIX


@dataclass(frozen=True)
class PromptSettings:
    """How a prompt is shaped: the schema rendering, how many retrieved examples, and their token budget.

    An expert records the settings it was trained with and is asked with the same ones.
    ``example_tokens`` caps the tokens of the retrieved examples (questions plus SQL): the closest ``shots``
    examples that fit together; None: no cap.
    """

    style: str = "full"
    shots: int = DEFAULT_SHOTS
    example_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.style not in PROMPT_STYLES:
            raise UsageError(f"unknown prompt style {self.style!r}; styles: {', '.join(PROMPT_STYLES)}")
        if self.shots < 0:
            raise UsageError("the number of retrieved examples cannot be negative")
        if self.example_tokens is not None and self.example_tokens < 1:
            raise UsageError("the example token budget must be at least 1")


class Retriever(Protocol):
    """Anything that finds the pairs closest to a question (``ExampleRetriever``, or training's own)."""

    def nearest(self, question: str, k: int) -> list[Pair]:
        """The ``k`` closest pairs, least similar first."""
        ...


@dataclass(frozen=True)
class Prompt:
    """The text the model sees for a question, with the linked schema and examples that went into it."""

    text: str
    linked: LinkedSchema
    examples: list[Pair]
    question: str


class PromptBuilder:
    """The prompt for a question on one schema: examples retrieved, schema linked, chat template applied.

    ``ask`` builds one per session; training and composing build their own over the same schema and linker
    with a retriever of their choice (one that never returns the pair being trained on), so no session is
    patched. The tables each example's SQL reads are computed once per example, not once per question.
    """

    def __init__(
        self,
        schema: Schema,
        linker: SchemaLinker,
        retriever: Retriever,
        tokenizer: Any,
        settings: PromptSettings | None = None,
    ) -> None:
        self.schema = schema
        self.linker = linker
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.settings = settings or PromptSettings()
        self._tables: dict[Pair, tuple[str, ...]] = {}
        self._sizes: dict[Pair, int] = {}

    def build(self, question: str) -> Prompt:
        """The prompt for ``question``: the schema linked around it and the tables its examples read."""
        examples = self.examples_for(question)
        used = tuple(dict.fromkeys(t for e in examples for t in self.tables_of(e)))
        linked = self.linker.link(question, self.schema, must_include=used)
        return Prompt(self.render(question, linked, examples), linked, examples, question)

    def render(self, question: str, linked: LinkedSchema, examples: list[Pair]) -> str:
        """The prompt text for ``question`` over an already linked schema and chosen examples (training's
        skeleton examples reuse those of the plain question)."""
        messages = build_messages(question, linked, examples, self.settings.style)
        return render_prompt(self.tokenizer, messages)

    def examples_for(self, question: str) -> list[Pair]:
        """The ``shots`` closest examples, or with a token budget the closest ``shots`` whose questions and
        SQL fit in it together; least similar first, as ``nearest`` orders."""
        shots, budget = self.settings.shots, self.settings.example_tokens
        if budget is None or shots == 0:
            return self.retriever.nearest(question, shots)
        chosen, used = [], 0
        for pair in reversed(self.retriever.nearest(question, shots * CANDIDATES_PER_SHOT)):
            size = self.token_count(pair)
            if used + size <= budget:
                chosen.append(pair)
                used += size
                if len(chosen) == shots:
                    break
        return chosen[::-1]

    def token_count(self, pair: Pair) -> int:
        """Tokens of an example's question and SQL (counted once per pair)."""
        if pair not in self._sizes:
            text = f"{pair.question}\n{pair.sql}"
            self._sizes[pair] = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return self._sizes[pair]

    def tables_of(self, pair: Pair) -> tuple[str, ...]:
        """Schema tables an example's SQL reads (none for an example that does not check), kept once."""
        if pair not in self._tables:
            try:
                self._tables[pair] = tuple(check_sql(pair.sql, self.schema).tables)
            except Exception:  # noqa: BLE001 - a stale example must not break asking
                self._tables[pair] = ()
        return self._tables[pair]
