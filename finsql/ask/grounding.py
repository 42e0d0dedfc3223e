"""Question-grounded literals: the values of each text column that a question mentions.

A small model copies filters from its examples (``WHERE gender = 'F'`` for "How many funds are there?") or
swaps a name for another it knows (``'Shenzhen'`` for "Shanghai"). A string literal compared with a column
almost always names something the question says, so the grammar of a question lets a closed text column
(one whose values ``linking.collect_values`` read) equal only the values the question mentions; a column
with none mentioned is compared with no string at all (LIKE and functions of the column stay free).

A value is mentioned when
- its text occurs in the question (case folded, at word boundaries);
- all its words do, in any order, stemmed (``'money market'`` in "money market funds", ``'Banking'`` in
  "banks");
- for names of several words, at least half of them do and one of those is distinctive: in at most
  ``DISTINCTIVE_SHARE`` of its column's values and no word of a table or column name ("Harbor Growth" names
  'Harbor Growth Equity Fund', "Equity Fund" names none, "funds" does not name 'mutual fund');
- it is a one-letter code and a question word of ``CODE_WORD_CHARS`` letters or more that names nothing in
  the schema starts with it (``'F'`` for "female"; "funds" names a table);
- it stands in the same row as a mentioned value that names at most ``NAMED_ROWS`` rows of a table of at most
  ``ROW_LIMIT`` rows (the code ``'GBP'`` of "British Pound", the ticker of a named company);
- it is a category (its column has at most ``CATEGORY_VALUES`` values, none mentioned as above) and a word
  of the question is made from it with a suffix ('China' in "Chinese", 'Canada' in "Canadian"), or a phrase
  of the question of one to three words means it: the value is that phrase's nearest in the column, by
  sentence embedding, at cosine ``SIMILAR_VALUE`` or more (``'Hungary'`` for "Hungarian", ``'Equity Fund'``
  for "stock funds", ``'Yearly'`` for "annual": BULL's gold SQL writes such values). Embeddings also put
  places of one kind close ("Shanghai" ~ 'Beijing' 0.85): a place the column lacks may admit another, which
  the model may then write; without it the column admits no string at all;
- it is a yes/no value (``FLAG_VALUES``: 'Yes', 'no', 'Y', 'false'...), which a question asks about
  through its column's meaning ("pension target funds" for ``ifpensiontarget = 'Yes'``), never by saying
  it: a column holding such values admits them whenever the question names none of its values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np

from finsql.ask.linking import STOP_WORDS
from finsql.db.schema import Schema

DISTINCTIVE_SHARE = 0.2
"""A word in at most this share of a column's values (or in one) tells its values apart."""
CODE_WORD_CHARS = 4
ROW_LIMIT = 5000
"""Tables of at most this many rows lend a mentioned value's row-mates (funds, currencies: dimensions)."""
NAMED_ROWS = 2
"""A value in at most this many rows names them (a name or a code); one in more is a category, whose
row-mates the question did not name."""
CATEGORY_VALUES = 30
"""A column with at most this many values is a category, whose values a question may paraphrase."""
SIMILAR_VALUE = 0.78
"""Cosine at which a phrase means a category value: 'Hungarian' ~ 'Hungary' 0.80, 'annual' ~ 'Yearly' 0.82,
'stock funds' ~ 'Equity Fund' 0.79; below, neighbours: 'Shanghai' ~ 'China' 0.77, ~ 'Shenzhen' 0.75, 'male' ~
'Female' 0.73, 'closed' ~ 'open' 0.70 (all-MiniLM-L6-v2)."""
PHRASE_WORDS = 3
FLAG_VALUES = frozenset({"yes", "no", "y", "n", "true", "false"})
"""Values (case folded) of a yes/no column."""
_WORD = re.compile(r"[0-9a-z]+")

Key = tuple[str, str]


def stem(word: str) -> str:
    """A light stem, enough to meet plurals and -ing forms: banks, banking -> bank; securities -> security;
    the plural first, so holdings, holding and ``fund_holding`` meet (hold)."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:-3] if len(word) > 5 and word.endswith("ing") else word


def tokens(text: str) -> set[str]:
    """Stemmed content words of ``text``."""
    return {stem(w) for w in _WORD.findall(text.lower().replace("_", " ")) if w not in STOP_WORDS}


@dataclass(frozen=True)
class _Value:
    text: str
    folded: str
    tokens: frozenset[str]
    distinctive: frozenset[str]


class ValueGrounder:
    """The values of each column, indexed once, and the ones a question mentions (``mentioned``)."""

    def __init__(
        self,
        values: dict[Key, list[str]],
        rows: dict[str, list[dict[str, str]]] | None = None,
        schema_words: set[str] | None = None,
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        """``values``: (table, column) -> its values; ``rows``: per table, its rows' values of those
        columns (for row-mates); ``schema_words``: stemmed words of table and column names; ``embed``:
        unit-norm sentence embeddings, to meet paraphrased category values (None: words only)."""
        self._schema_words = schema_words or set()
        self._columns: dict[Key, list[_Value]] = {}
        for key, texts in values.items():
            words = [frozenset(tokens(t)) for t in texts]
            counts = Counter(w for ws in words for w in ws)
            limit = max(1.0, DISTINCTIVE_SHARE * len(texts))
            self._columns[key] = [
                _Value(
                    t,
                    t.casefold(),
                    ws,
                    frozenset(w for w in ws if counts[w] <= limit and w not in self._schema_words),
                )
                for t, ws in zip(texts, words, strict=True)
            ]
        self._rows = rows or {}
        self._embed = embed
        self._flags = {  # (table, column) -> its yes/no values
            key: flags
            for key, texts in values.items()
            if (flags := {t for t in texts if t.casefold() in FLAG_VALUES})
        }
        categories = [key for key, texts in values.items() if len(texts) <= CATEGORY_VALUES]
        texts = [v.text for key in categories for v in self._columns[key]]
        vectors = embed(texts) if embed is not None and texts else np.zeros((0, 0))
        self._categories: dict[Key, np.ndarray] = {}
        start = 0
        for key in categories:
            end = start + len(self._columns[key])
            self._categories[key] = vectors[start:end]
            start = end

    @classmethod
    def index(
        cls,
        con: duckdb.DuckDBPyConnection,
        schema: Schema,
        values: dict[Key, list[str]],
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> ValueGrounder:
        """Index ``values`` with the rows of the small tables they come from, read from ``con`` (``embed``:
        see ``__init__``)."""
        rows: dict[str, list[dict[str, str]]] = {}
        for table in schema.tables:
            columns = [c.name for c in table.columns if (table.name, c.name) in values]
            if not columns:
                continue
            (count,) = con.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()
            if count > ROW_LIMIT:
                continue
            listed = ", ".join(f'"{c}"' for c in columns)
            rows[table.name] = [
                {c: v for c, v in zip(columns, row, strict=True) if isinstance(v, str)}
                for row in con.execute(f'SELECT {listed} FROM "{table.name}"').fetchall()
            ]
        names = {t.name for t in schema.tables} | {c.name for t in schema.tables for c in t.columns}
        return cls(values, rows, {w for name in names for w in tokens(name)}, embed)

    def mentioned(self, question: str) -> dict[Key, list[str]]:
        """Every indexed column, each with the values ``question`` mentions (possibly none)."""
        folded = question.casefold()
        asked = tokens(question)
        initials = {
            w[0] for w in asked if len(w) >= CODE_WORD_CHARS and w.isalpha() and w not in self._schema_words
        }
        found = {
            key: _longest({v.text for v in values if _mentions(folded, asked, initials, v)}, folded)
            for key, values in self._columns.items()
        }
        mates: list[tuple[Key, str]] = []
        for (table, column), texts in found.items():
            for text in texts:
                rows = [row for row in self._rows.get(table, ()) if row.get(column) == text]
                if len(rows) <= NAMED_ROWS:
                    mates += [((table, other), mate) for row in rows for other, mate in row.items()]
        for key, text in mates:
            found[key].add(text)
        for key, text in self._paraphrased(question, [k for k in self._categories if not found[k]]):
            found[key].add(text)
        for key, flags in self._flags.items():
            if not found[key]:
                found[key] = set(flags)
        return {key: sorted(texts) for key, texts in found.items()}

    def _paraphrased(self, question: str, keys: list[Key]) -> list[tuple[Key, str]]:
        """The category values among the columns ``keys`` that a word or phrase of ``question`` means (see
        the module docstring)."""
        spoken = [w for w in _WORD.findall(question.lower()) if w not in STOP_WORDS]
        meant = [(key, v.text) for key in keys for v in self._columns[key] if _derived(v.folded, spoken)]
        if self._embed is None or not keys:
            return meant
        phrases = sorted(
            {
                " ".join(spoken[i : i + n])
                for n in range(1, PHRASE_WORDS + 1)
                for i in range(len(spoken) - n + 1)
            }
        )
        if not phrases:
            return meant
        asked = self._embed(phrases)
        for key in keys:
            similar = asked @ self._categories[key].T  # phrases x values
            for row, column in enumerate(similar.argmax(axis=1)):
                if similar[row, column] >= SIMILAR_VALUE:
                    meant.append((key, self._columns[key][column].text))
        return meant


def _longest(texts: set[str], folded: str) -> set[str]:
    """``texts`` less any value the question spells only inside a longer one of them that binds it with a
    sign ('AA' in "AA+-rated": the longest reading is the one meant). A longer value that only adds words,
    letters or a full stop leaves the shorter one mentioned too: 'Manufacturing' beside 'Manufacturing
    Industry', 'Doctoral' beside 'Doctoral Degree', 'Ph.D' beside the 'Ph.D.' that ends a sentence (a
    column with both spellings, and the gold queries use either)."""
    spans = {t: [(m.start(), m.end()) for m in re.finditer(re.escape(t.casefold()), folded)] for t in texts}
    covered = {t: [span for o in texts if len(o) > len(t) for span in spans[o]] for t in texts}

    def binds(at: int, end: int, a: int, b: int) -> bool:
        """Whether the longer span (a, b) extends (at, end) with a sign right beside it."""
        beside = [folded[at - 1]] if a < at else []
        beside += [folded[end]] if end < b else []
        return any(not (c.isalnum() or c.isspace() or c == ".") for c in beside)

    return {
        t
        for t in texts
        if not spans[t]
        or not all(
            any(a <= at and end <= b and binds(at, end, a, b) for a, b in covered[t]) for at, end in spans[t]
        )
    }


def _derived(value: str, spoken: list[str]) -> bool:
    """Whether a word of ``spoken`` is made from the one-word ``value`` (of five letters or more) with a
    suffix: its stem, the value less its last letter or two, starts the longer word ('China' in "Chinese",
    'Canada' in "Canadian", 'Doctor' in "doctoral")."""
    if len(value) < 5 or not value.isalpha():
        return False
    stem = value[: len(value) - (1 if len(value) <= 6 else 2)]
    return any(len(word) > len(value) and word.startswith(stem) for word in spoken)


def _mentions(folded: str, asked: set[str], initials: set[str], value: _Value) -> bool:
    if value.tokens and value.tokens <= asked:
        return True
    shared = value.tokens & asked
    if len(value.tokens) >= 2 and 2 * len(shared) >= len(value.tokens) and shared & value.distinctive:
        return True  # distinctive words only: no schema word ("fund" does not name 'mutual fund')
    if len(value.folded) == 1 and value.folded in initials:
        return True
    at = folded.find(value.folded)
    while at >= 0 and value.folded:
        end = at + len(value.folded)
        if (at == 0 or not folded[at - 1].isalnum()) and (end == len(folded) or not folded[end].isalnum()):
            return True
        at = folded.find(value.folded, at + 1)
    return False


ALWAYS_NUMBERS = (0, 1)
"""Numbers any question may compare with (``> 0``, a flag ``= 1``, ``LIMIT 1`` for "the largest")."""
SPAN_LIMIT = 100
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_MANY = {"tens": 10, "dozens": 12, "hundreds": 100, "thousands": 1000}
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_SCALES = {"hundred": 100, "thousand": 1_000, "k": 1_000, "million": 10**6, "mn": 10**6, "m": 10**6}
_SCALES |= {"billion": 10**9, "bn": 10**9, "b": 10**9, "trillion": 10**12}
_NUMBER_TEXT = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)\s*(%|percent\b|[a-z]+)?")
_WORD_TEXT = re.compile(r"[a-z]+")


def mentioned_numbers(question: str) -> list[str]:
    """The numbers a comparison or LIMIT in the answer to ``question`` may use: those it writes in digits or
    words, one more and one less (``> 2015`` or ``>= 2016`` for "after 2015"), a percentage also as a
    fraction, a scaled amount also at each unit a column may keep it in ("10 billion": 10, 10000,
    10000000000), months and ordinals as their numbers, a number word before a scale word at each unit too
    ("one million": 1000000, "tens of millions": 10000000), how many whole numbers two of its numbers span
    ("from 2019 to 2023": 5), and ``ALWAYS_NUMBERS``."""
    text = question.lower()
    found = {float(n) for n in ALWAYS_NUMBERS}
    written: set[str] = set()  # as the question writes them too: "1.0%" may be compared as 1.0
    for match in _NUMBER_TEXT.finditer(text):
        written.add(match.group(1).replace(",", ""))
        value = float(match.group(1).replace(",", ""))
        unit = match.group(2) or ""
        found.add(value)
        if unit in ("%", "percent"):
            found.add(value / 100)
        elif unit in _SCALES:
            found |= {value * _SCALES[unit] / per for per in (1, 10**3, 10**4, 10**6, 10**8)}
        if value.is_integer():
            found |= {value - 1, value + 1}
    spoken = _WORD_TEXT.findall(text)
    for at, word in enumerate(spoken):
        after = spoken[at + 1] if at + 1 < len(spoken) else ""
        if word in _MANY and after == "of" and at + 2 < len(spoken):
            after = spoken[at + 2].removesuffix("s")  # "tens of millions": ten million
        if word in _UNITS:
            value = float(_UNITS.index(word))
        elif word in _TENS:
            value = float(_TENS[word])
        elif word in _MANY:
            value = float(_MANY[word])
        elif word in _ORDINALS:
            value = float(_ORDINALS.index(word) + 1)
        elif len(word) >= 3 and word[:3] in _MONTHS and (len(word) == 3 or word.startswith(_FULL_MONTHS)):
            value = float(_MONTHS.index(word[:3]) + 1)
        else:
            continue
        found |= {value, value - 1, value + 1}
        if after in _SCALES and len(after) > 1:  # "one million", "ten billion"
            found |= {value * _SCALES[after] / per for per in (1, 10**3, 10**4, 10**6, 10**8)}
    spans = sorted(float(w) for w in written if "." not in w)
    found |= {b - a + 1 for i, a in enumerate(spans) for b in spans[i + 1 :] if b - a < SPAN_LIMIT}
    return sorted({_number_text(v) for v in found if v >= 0} | written, key=float)


_FULL_MONTHS = tuple(
    "january february march april may june july august september october november december".split()
)


def _number_text(value: float) -> str:
    """``value`` as SQL writes it: an integer without a point, a fraction without trailing zeros."""
    return str(int(value)) if value.is_integer() else f"{value:.12g}"


_YEAR = re.compile(r"\b(1[89][0-9]{2}|2[01][0-9]{2})\b")
_MAY_DATE = re.compile(r"\bmay\s+\d")


def mentioned_dates(question: str) -> tuple[list[str], list[int]]:
    """The years a date literal in the answer may have (those the question writes, one before and one after:
    "after 2015" may start at '2016-01-01'), and the months when it names some; ([], []) when it writes no
    year."""
    years = {int(y) for y in _YEAR.findall(question)}
    if not years:
        return [], []
    months: set[int] = set()
    text = question.lower()
    for word in _WORD_TEXT.findall(text):
        if word == "may" and not _MAY_DATE.search(text):  # "May I ...", not "May 2024"
            continue
        if word in _FULL_MONTHS or word in _MONTHS:
            index = _MONTHS.index(word[:3])
            months.add(index + 1)
    spread = sorted({str(y + d) for y in years for d in (-1, 0, 1)})
    return spread, sorted(months)
