"""Bounds on what users type: a question or a SQL statement is refused, in one line, when it is too long,
holds control characters or holds bytes that are not text, before any model or database sees it."""

from __future__ import annotations

import re
import unicodedata

from finsql.errors import InputError

QUESTION_CHARS = 2000
"""The longest question asked or taught (a prompt holds about 2000 tokens in all)."""
SQL_CHARS = 100_000
"""The longest SQL statement ``finsql sql`` and ``finsql examples`` accept."""
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_NAME = r"(?:\"[^\"]+\"|[a-z_][\w.]*)"
_WRITE_REQUEST = re.compile(
    r"\b(?:(?:drop|truncate)\s+(?:table|view|schema|database|index|macro|sequence)\s+"
    + _NAME
    + r"|alter\s+(?:table|view|schema|database|index|sequence)\s+"
    + _NAME
    + r"\s+(?:add|drop|rename|alter|set)\b"
    + r"|create\s+(?:or\s+replace\s+)?(?:temp(?:orary)?\s+)?(?:table|view|schema|macro|sequence)\s+"
    + _NAME
    + r"\s*(?:\(|as\b|;|$)|create\s+(?:unique\s+)?index\s+"
    + _NAME
    + r"\s+on\b"
    + r"|delete\s+from\s+"
    + _NAME
    + r"\s*(?:where\b|using\b|returning\b|;|$)"
    + r"|insert\s+(?:or\s+\w+\s+)?into\s+"
    + _NAME
    + r"\s*(?:\(|values\b|select\b|by\s+name\b|default\b)"
    + r"|update\s+"
    + _NAME
    + r"(?:\s+(?:as\s+)?\w+)?\s+set\s+"
    + _NAME
    + r"\s*="
    + r"|merge\s+into\s+"
    + _NAME
    + r"(?:\s+(?:as\s+)?\w+)?\s+using\b|copy\s+"
    + _NAME
    + r"\s+(?:to|from)\s+'"
    + r"|detach\s+(?:database\s+)?"
    + _NAME
    + r"\s*(?:;|$)"
    + r")|\battach(?=\s+(?:database\s+)?['\"])",
    re.IGNORECASE,
)


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
    """The question, checked (see ``clean_text``), its spacing collapsed; a request to change the database
    (``DROP TABLE``, ``DELETE FROM`` ...) is refused in one line: finsql only reads, and a model asked for
    a write would otherwise answer some unrelated SELECT."""
    question = " ".join(clean_text(question, "question", QUESTION_CHARS).split())
    wanted = _WRITE_REQUEST.search(question)
    if wanted:
        verb = wanted.group(0).split()[0].upper()
        raise InputError(
            f"finsql only answers questions by reading the database; it will not run {verb} statements "
            "(ask a question instead)"
        )
    return question
