"""Comparisons a question states: "at least 100" is ``>= 100``, not the ``> 100`` a small model writes.

A question bounds a figure in words ("at least", "more than", "at or above", "no more than", "below") right
before the number; a small model keeps the number and often picks the neighbouring operator. ``stated_bound``
sets the operator of each top-level ``column OP number`` whose number the question bounds so, when the words
say one operator; other comparisons, and numbers the question states without such words, are left alone.
"""

from __future__ import annotations

import re

from sqlglot import exp

from finsql.ask.sqlcheck import parse_query

_BOUNDS = (
    (
        r"at\s+least|no\s+less\s+than|no\s+fewer\s+than|not\s+less\s+than|at\s+or\s+above|at\s+or\s+over",
        exp.GTE,
    ),
    (r"at\s+most|no\s+more\s+than|not\s+more\s+than|up\s+to|at\s+or\s+below|at\s+or\s+under", exp.LTE),
    (
        r"more\s+than|greater\s+than|higher\s+than|larger\s+than|bigger\s+than|over|above|exceeding|exceeds?",
        exp.GT,
    ),
    (r"less\s+than|fewer\s+than|lower\s+than|smaller\s+than|below|under", exp.LT),
)
BOUND_WORDS = "|".join(words for words, _ in _BOUNDS)
"""Any phrase that bounds the number after it, longest first within each operator, as a regex."""
_OR_WORDS = "more|above|over|higher|greater|less|below|under|fewer|lower"
"""Words after "N or": "3% or more" is ``>= 3``."""
_ORDER = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ)
_NUMBER = r"(?:[$¥]\s*)?(?P<n>\d[\d,]*(?:\.\d+)?)"


def stated_bounds(question: str) -> dict[str, type[exp.Expression]]:
    """Each number the question bounds in words -> the operator the words say ("at least 100": ``>=``;
    the longest wording wins: "at or above 50" is ``>=``); a number bounded two ways is left out."""
    found: dict[str, set[type[exp.Expression]]] = {}
    before = "|".join(f"(?P<b{k}>{words})" for k, (words, _) in enumerate(_BOUNDS))
    for match in re.finditer(rf"\b(?:{before})\s+{_NUMBER}", question, re.I):
        operator = next(op for k, (_, op) in enumerate(_BOUNDS) if match.group(f"b{k}"))
        found.setdefault(match.group("n").replace(",", ""), set()).add(operator)
    after = rf"{_NUMBER}(?:\s*%|\s+[A-Za-z]+)?\s+or\s+(?P<w>{_OR_WORDS})\b"
    for match in re.finditer(after, question, re.I):
        up = match.group("w").lower() in ("more", "above", "over", "higher", "greater")
        found.setdefault(match.group("n").replace(",", ""), set()).add(exp.GTE if up else exp.LTE)
    return {number: ops.pop() for number, ops in found.items() if len(ops) == 1}


def bound_operator(phrase: str) -> type[exp.Expression]:
    """The operator a bounding phrase of ``BOUND_WORDS`` says ("at least": ``>=``, "under": ``<``)."""
    return next(op for words, op in _BOUNDS if re.fullmatch(words, phrase.strip(), re.I))


def stated_bound(question: str, sql: str) -> str | None:
    """``sql`` with each top-level ``column OP number`` (joined by AND) whose number the question bounds in
    words given the operator the words say; None when none changes."""
    bounds = stated_bounds(question)
    tree = parse_query(sql) if bounds else None
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    if where is None:
        return None
    changed = False
    for node in list(where.find_all(*_ORDER)):
        if node.find_ancestor(exp.Subquery, exp.Or, exp.Not, exp.Having):
            continue
        column, number = node.this, node.expression
        if not isinstance(column, exp.Column) or not isinstance(number, exp.Literal) or number.is_string:
            continue
        wanted = bounds.get(_plain(number.this))
        if wanted is not None and not isinstance(node, wanted):
            node.replace(wanted(this=column.copy(), expression=number.copy()))
            changed = True
    return tree.sql(dialect="duckdb") if changed else None


def _plain(number: str) -> str:
    """A number literal as the question would write it: ``100.0`` is 100."""
    return number[:-2] if number.endswith(".0") else number
