"""Words for schema objects and values: how a question names a column, a table, a number or a date.

Names come from the identifiers (``net_assets_mn`` -> "net assets") and, where short enough, from the
column's COMMENT, so questions use the vocabulary the database itself documents. Every choice goes through
the caller's ``random.Random``: one seed, one set of questions.
"""

from __future__ import annotations

import datetime as dt
import random
import re

from finsql.synth.profile import ColumnProfile, TableProfile

UNIT_WORDS = {"mn", "bn", "trn", "pct", "usd", "cny", "rmb", "amt", "num", "no"}
"""Trailing identifier words that are units or markers, dropped from a column's name in questions."""
EXPAND = {
    "pct": "percent",
    "yoy": "year-on-year",
    "mom": "month-on-month",
    "avg": "average",
    "qty": "quantity",
    "rd": "R&D",
    "eps": "EPS",
    "nav": "NAV",
    "roe": "ROE",
    "roa": "ROA",
    "gdp": "GDP",
    "cpi": "CPI",
    "ppi": "PPI",
    "pmi": "PMI",
    "ipo": "IPO",
    "cfa": "CFA",
}
MONTHS = ("January February March April May June July August September October November December").split()
AGGREGATES = {
    "avg": ("average", "mean"),
    "sum": ("total", "combined"),
    "max": ("highest", "maximum", "largest"),
    "min": ("lowest", "minimum", "smallest"),
}
_COMMENT_CUT = re.compile(r"[,;:(]| - | e\.g\.| in ", re.IGNORECASE)
_NOT_A_NOUN = {
    "where",
    "whether",
    "which",
    "when",
    "how",
    "what",
    "if",
    "is",
    "has",
    "unique",
    "the",
    "a",
    "an",
}


def humanize(identifier: str) -> str:
    """``net_assets_mn`` -> "net assets", ``cpi_yoy`` -> "CPI year-on-year"."""
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", identifier)
    words = [w for w in re.split(r"[_\W]+", split) if w]
    while len(words) > 1 and words[-1].lower() in UNIT_WORDS:
        words.pop()
    return " ".join(EXPAND.get(w.lower(), w.lower()) for w in words)


def comment_phrase(comment: str) -> str | None:
    """The head of a COMMENT as a noun phrase ("Net assets, in millions" -> "net assets"), if short."""
    head = _COMMENT_CUT.split(comment, 1)[0].strip().rstrip(".")
    words = head.split()
    if not 2 <= len(words) <= 5 or not all(re.fullmatch(r"[A-Za-z&/'-]+", w) for w in words):
        return None
    if words[0].lower() in _NOT_A_NOUN:
        return None
    return " ".join(w if w.isupper() else w.lower() for w in words)


def column_words(column: ColumnProfile, rng: random.Random) -> str:
    """How a question names ``column``: its humanized name, or now and then its comment's head."""
    options = [humanize(column.name)]
    if re.search(r"_pct$", column.name) and rng.random() < 0.5:
        options[0] += " percentage"
    phrase = comment_phrase(column.comment)
    if phrase and phrase != options[0]:
        options.append(phrase)
    return options[0] if len(options) == 1 or rng.random() < 0.7 else options[1]


def plural(noun: str) -> str:
    """A naive English plural of the last word."""
    if noun.endswith("s"):
        return noun
    if re.search(r"(x|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def table_noun(table: TableProfile, many: bool = True) -> str:
    """How a question names the rows of ``table`` ("fund managers"); a table whose name is not made of words
    (``ed_producerpiformp``) is named by its COMMENT ("producer price index records")."""
    noun = humanize(table.name)
    if any(len(word) >= 12 for word in noun.split()) and table.comment:
        head = _COMMENT_CUT.split(table.comment, 1)[0].strip().rstrip(".")
        if 1 <= len(head.split()) <= 8:
            noun = " ".join(w if w.isupper() else w.lower() for w in head.split()) + " record"
    return plural(noun) if many else noun


def number_text(value: float) -> str:
    """A number as people write it: no trailing ``.0``, at most two decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_threshold(value: float) -> float:
    """``value`` rounded to two significant digits (1234.5 -> 1200), the kind of number a person asks with."""
    if value == 0:
        return 0.0
    digits = 1 - int(f"{abs(value):e}".split("e")[1])
    rounded = round(value, digits)
    return float(int(rounded)) if digits <= 0 else rounded


def date_text(day: dt.date, rng: random.Random) -> str:
    """A date in one of the ways people write it: ISO, "October 29, 2024" or "29 October 2024"."""
    style = rng.random()
    if style < 0.5:
        return day.isoformat()
    if style < 0.8:
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def sql_text(value: object) -> str:
    """A value as a SQL literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def sentence(text: str, question: bool = True) -> str:
    """Capitalised, single-spaced, with its final mark."""
    text = re.sub(r"\s+", " ", text).strip()
    text = text[:1].upper() + text[1:]
    return text + ("?" if question else ".")
