"""Rule-based augmentation (FinSQL-style, no hosted LLM): SQL skeletons and question paraphrases.

* ``skeleton``: one more example per pair whose question carries the marker ``[SQL skeleton]`` and whose
  target is the gold SQL's skeleton (every literal replaced by ``_``), the "skeleton first" auxiliary task of
  FinSQL / RESDSQL: it teaches the query's shape apart from its values. The marker is put on the *prompt* side
  so the plain prompt keeps exactly one target and inference is unchanged;
* ``paraphrase``: one more example per pair with a template rewrite of its question ("How many" <-> "What is
  the number of", "top 5" <-> "5 highest", a few synonyms ...), the same SQL as target; deterministic for a
  seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

DEFAULT_AUGMENT = ("skeleton", "paraphrase")
AUGMENTATIONS = frozenset(DEFAULT_AUGMENT)
SKELETON_MARKER = "[SQL skeleton]"


def sql_skeleton(sql: str) -> str | None:
    """``sql`` with every literal (string, number) replaced by ``_``; None when sqlglot cannot parse it."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:  # noqa: BLE001 - sqlglot raises several error types; no skeleton then
        return None
    if tree is None:
        return None
    tree = tree.transform(lambda node: exp.Var(this="_") if isinstance(node, exp.Literal) else node)
    return tree.sql(dialect="duckdb")


def _case_like(template: str, text: str) -> str:
    return text[:1].upper() + text[1:] if template[:1].isupper() else text


# (name, pattern, replacement); rules of one group are alternatives: at most one of them is applied
_AUX = r"(?:had|has|have|were|was|are|is)"
# the opening phrase: alternatives, tried in order; an imperative ends with ".", a question with "?"
_OPENINGS = [
    ("what-number>how-many", r"^what is the number of\b", "how many", "?"),
    ("how-many-there>what-number", r"^how many\b(.*?)\s+are there\b", r"what is the number of\1", "?"),
    ("how-many>what-number", r"^how many\b", "what is the number of", "?"),
    ("what-is>show-me", r"^what (?:is|are)\b", "show me", "."),
    ("show-me>what-is", r"^show me\b", "what is", "?"),
    ("list>which", r"^list(?: all| the)?\b", "which are the", "?"),
    (
        "which-aux>list",
        rf"^which\b(.*?)\s+{_AUX}\b",
        lambda m: f"list the{m.group(1)} that {m.group(0).split()[-1]}",
        ".",
    ),
    ("which>what", r"^which\b", "what", None),
    ("show>display", r"^show\b(?!\s+me\b)", "display", None),
    ("display>show", r"^display\b", "show", None),
]
_RANKS = [
    ("top-n>n-highest", r"\btop (\d+)\b", r"\1 highest"),
    ("n-highest>top-n", r"\b(\d+) (?:highest|largest)\b", r"top \1"),
]
_SYNONYMS = [
    ("average", "mean"),
    ("largest", "biggest"),
    ("smallest", "lowest"),
    ("companies", "firms"),
    ("company", "firm"),
    ("each", "every"),
    ("more than", "over"),
    ("less than", "under"),
    ("greater than", "above"),
]
_QUOTED = re.compile(r"('[^']*'|\"[^\"]*\")")


def _rules() -> list[list[tuple]]:
    groups = [
        [(name, re.compile(pattern, re.I), repl, end) for name, pattern, repl, end in _OPENINGS],
        [(name, re.compile(pattern, re.I), repl, None) for name, pattern, repl in _RANKS],
    ]
    for a, b in _SYNONYMS:
        groups.append(
            [
                (f"{a}>{b}", re.compile(rf"\b{re.escape(a)}\b", re.I), b, None),
                (f"{b}>{a}", re.compile(rf"\b{re.escape(b)}\b", re.I), a, None),
            ]
        )
    return groups


_RULE_GROUPS = _rules()


def _anchored(pattern: re.Pattern) -> bool:
    return pattern.pattern.startswith("^")


def _apply_outside_quotes(text: str, pattern: re.Pattern, repl: str | Callable[[re.Match], str]) -> str:
    parts = _QUOTED.split(text)
    outside = [0] if _anchored(pattern) else range(0, len(parts), 2)  # even parts are unquoted
    expand = repl if callable(repl) else (lambda m: m.expand(repl))
    for i in outside:
        parts[i] = pattern.sub(lambda m: _case_like(m.group(0), expand(m)), parts[i])
    return "".join(parts)


def paraphrase_question(question: str, seed: int = 0) -> str | None:
    """A template rewrite of ``question`` (None when no rule applies); the same for the same seed.

    Each applicable rule group (opening phrase, "top N", each synonym pair) is used with probability 1/2, at
    least one; quoted values are never touched.
    """
    rng = random.Random(f"{seed}\0{question}")
    parts = _QUOTED.split(question)
    unquoted = " ".join(parts[0::2])
    applicable = []
    for group in _RULE_GROUPS:
        found = [rule for rule in group if rule[1].search(parts[0] if _anchored(rule[1]) else unquoted)]
        if found:
            applicable.append(found[0])
    if not applicable:
        return None
    chosen = [rule for rule in applicable if rng.random() < 0.5] or [rng.choice(applicable)]
    text = question
    for _name, pattern, repl, end in chosen:
        text = _apply_outside_quotes(text, pattern, repl)
        if end and text.rstrip()[-1:] in ".?":
            text = text.rstrip()[:-1] + end
    return text if text != question else None
