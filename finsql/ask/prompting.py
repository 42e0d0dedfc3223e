"""Prompts: the linked schema as compact DDL, retrieved examples as chat turns, the model's chat template.

Training uses exactly these prompts, so what an expert learns is what it is asked.
"""

from __future__ import annotations

from finsql.ask.linking import LinkedSchema
from finsql.ask.pairs import Pair

SYSTEM = (
    "You translate questions about a DuckDB financial database into one DuckDB SQL SELECT statement. "
    "Use only the tables and columns below. Answer with the SQL only."
)
_COMMENT_CHARS = 70
ANSWER_PREFIX = "SELECT"
PROMPT_STYLES = ("full", "compact", "names")


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
