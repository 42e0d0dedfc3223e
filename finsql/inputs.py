"""Bounds on what users type: a question or a SQL statement is refused, in one line, when it is too long,
holds control characters or holds bytes that are not text, before any model or database sees it."""

from __future__ import annotations

import unicodedata

from finsql.errors import InputError

QUESTION_CHARS = 2000
"""The longest question asked or taught (a prompt holds about 2000 tokens in all)."""
SQL_CHARS = 100_000
"""The longest SQL statement ``finsql sql`` and ``finsql examples`` accept."""
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def clean_text(text: str, what: str, limit: int) -> str:
    """``text`` stripped; InputError (one line) when it is empty, longer than ``limit`` characters, or holds
    a control character or an undecodable byte (the command line hands those over as surrogates)."""
    text = text.strip()
    if not text:
        raise InputError(f"the {what} is empty")
    if len(text) > limit:
        raise InputError(f"the {what} is {len(text):,} characters long; the limit is {limit:,}")
    for position, char in enumerate(text, 1):
        if "\ud800" <= char <= "\udfff":
            raise InputError(f"the {what} holds bytes that are not UTF-8 text (at character {position})")
        if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS:
            code = f"U+{ord(char):04X}"
            raise InputError(f"the {what} holds a control character ({code} at character {position})")
    return text


def clean_question(question: str) -> str:
    """The question, checked (see ``clean_text``), its spacing collapsed."""
    return " ".join(clean_text(question, "question", QUESTION_CHARS).split())
