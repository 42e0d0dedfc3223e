"""The shape of an answer: a question that asks how many is answered with a number.

A small model often answers "How many fund managers hold the CFA?" by listing the managers (it copies the
nearest example, a "Which ..." question). When a count question's winning SQL neither aggregates nor
groups, and its result is not already one row of numbers, the answer is the number of rows it returns:
``SELECT count(*) AS count FROM (<sql>)``. The listed rows are what the model meant to count; the
question says what to return.
"""

from __future__ import annotations

import re

from sqlglot import exp

from finsql.ask.sqlcheck import aggregates, parse_query

COUNT_QUESTION = re.compile(
    r"^\s*(how\s+many|(what\s+is|what's|give\s+me|tell\s+me|show)?\s*the\s+number\s+of|count)\b", re.I
)
"""Questions that ask for a count: how many, (what is) the number of, count."""


def count_answer(question: str, sql: str, rows: list[tuple]) -> str | None:
    """The SQL that answers ``question`` with the number of rows of ``sql`` (whose result is ``rows``), or
    None when the question does not ask how many or the answer already is a number."""
    if not asks_for_count(question) or already_a_number(rows):
        return None
    return counted(sql)


def asks_for_count(question: str) -> bool:
    """Whether ``question`` asks how many."""
    return COUNT_QUESTION.match(question) is not None


def already_a_number(rows: list[tuple]) -> bool:
    """Whether a result is one row of numbers (it may be the count itself, or the amount asked for:
    "How many employees does X have?")."""
    return len(rows) == 1 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in rows[0])


def counted(sql: str) -> str | None:
    """``sql`` wrapped to count its rows, or None when it already aggregates, groups or is not a plain
    SELECT (its numbers are then the answer's own)."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or tree.args.get("group") or tree.args.get("having"):
        return None
    if any(aggregates(e) for e in tree.expressions):
        return None
    return f"SELECT count(*) AS count FROM ({sql}) AS answer"
