"""The shape of an answer: a question that asks how many is answered with a number.

A small model often answers "How many fund managers hold the CFA?" by listing the managers (it copies the
nearest example, a "Which ..." question). When a count question's winning SQL neither aggregates nor
groups, and its result is not already one row of numbers, the answer is the number of rows it returns:
``SELECT count(*) AS count FROM (<sql>)``. The listed rows are what the model meant to count; the
question says what to return.

And a count of the wrong rows: "How many funds are closed?" answered ``SELECT count(*) FROM fund_holding``.
``counted_table`` makes a bare ``count(*)`` of one table count the table the question's counted noun names
("bond funds": ``fund``), so the filters after it can add what the other words say (``status =
'closed'``); ``counted_days`` makes a ``count(*)`` asked for a number of days count distinct dates ("How many
trading days were there in 2023?" over a table of one row per stock and day).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from finsql.ask.grounding import stem
from finsql.ask.sqlcheck import aggregates, outer_sources, parse_query
from finsql.ask.wording import is_dated, spelt, spoken
from finsql.db.schema import Schema, Table

COUNT_QUESTION = re.compile(
    r"^\s*((for|in|on|during|across)\s+)?how\s+many\b"
    r"|^\s*((what\s+is|what's|give\s+me|tell\s+me|show)?\s*the\s+number\s+of|count)\b",
    re.I,
)
"""Questions that ask for a count: (for/in/on) how many, (what is) the number of, count."""
_NOUN_END = frozenset(
    stem(w)  # as ``spoken`` gives them: "does" is doe
    for w in "are is were was do does did have has had there in on of at with for from that which who whose "
    "per by listed issued run managed held".split()
)
"""Words that end the noun phrase a count question counts ("How many bond funds *are* ...")."""
_DAYS = frozenset(spoken("day days date dates"))


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


def counted_table(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, a bare ``SELECT count(*) FROM t``, counting the table whose name ends the noun phrase the
    count question counts ("How many bond funds are there?": ``fund``), when the question says nothing of
    ``t``'s own name from that noun on ("stock prices" keeps ``stock_daily_price``); None otherwise. A
    condition on columns the counted table lacks goes too ("How many funds were launched after 2015?"
    answered ``... FROM fund_company WHERE founded_date > ...``): the steps after this one add what the
    question says on the counted table."""
    tree = parse_query(sql) if COUNT_QUESTION.match(question) else None
    if not isinstance(tree, exp.Select) or tree.args.get("joins") or len(tree.expressions) != 1:
        return None
    if any(tree.args.get(k) for k in ("group", "having", "order", "limit", "distinct")):
        return None
    count, source = tree.expressions[0], tree.args.get("from_")
    if not isinstance(count, exp.Count) or not isinstance(count.this, exp.Star):
        return None
    read = schema.table(source.this.name) if source and isinstance(source.this, exp.Table) else None
    head = counted_noun(question, schema)
    if read is None or head is None or head.table is read or head.says(set(spelt(read.name))):
        return None
    where = tree.args.get("where")
    if where is not None and any(head.table.column(c.name) for c in where.find_all(exp.Column)):
        return None  # a condition the counted table could keep: not a plain miscount
    return f"SELECT count(*) FROM {head.table.name}"


def counted_days(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, a ``count(*)``, counting the distinct values of the one date column of the tables it reads
    when the count question counts days or dates ("How many trading days were there in 2023?": the rows
    of a daily price table are one per stock and day); None otherwise."""
    phrase = _counted_phrase(question)
    tree = parse_query(sql) if phrase is not None else None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or tree.find(exp.Subquery):
        return None
    if any(tree.args.get(k) for k in ("group", "having", "distinct")):
        return None
    count = tree.expressions[0].unalias()
    words, end = phrase
    if not isinstance(count, exp.Count) or not isinstance(count.this, exp.Star) or not end:
        return None
    if words[end - 1] not in _DAYS or counted_noun(question, schema) is not None:
        return None
    sources = outer_sources(tree, schema)
    dates = [(alias, c) for alias, name in sources.items() for c in schema.table(name).columns if is_dated(c)]
    if len(dates) != 1:
        return None
    alias, column = dates[0]
    distinct = exp.Distinct(expressions=[exp.column(column.name, table=alias if len(sources) > 1 else None)])
    out = tree.copy()
    out.set("expressions", [exp.Count(this=distinct)])
    return out.sql(dialect="duckdb")


@dataclass(frozen=True)
class CountedNoun:
    """The table a count question counts, and the question's words from its name on."""

    table: Table
    rest: tuple[str, ...]

    def says(self, words: set[str]) -> bool:
        """Whether the question says one of ``words`` from the counted noun on, other than the noun's own
        ("stock prices" says ``stock_daily_price``'s "price" after "stock")."""
        return any(w in words - set(spelt(self.table.name)) for w in self.rest)


def counted_noun(question: str, schema: Schema) -> CountedNoun | None:
    """The table whose name ends the noun phrase a count question counts ("How many bond funds are
    there?": ``fund``; the phrase ends at a verb or preposition of ``_NOUN_END``), or None."""
    phrase = _counted_phrase(question)
    if phrase is None:
        return None
    words, end = phrase
    head: tuple[int, int, Table] | None = None  # (end, start, table): the match that ends last wins
    for start in range(min(end, 5)):
        for table in schema.tables:
            name = spelt(table.name)
            fits = words[start : start + len(name)] == name and start + len(name) <= end
            if fits and (head is None or start + len(name) >= head[0]):
                head = (start + len(name), start, table)
    return CountedNoun(head[2], tuple(words[head[1] :])) if head else None


def _counted_phrase(question: str) -> tuple[list[str], int] | None:
    """The words after a count question's "how many" (or "the number of"), and where the noun phrase it
    counts ends in them (at a verb or preposition of ``_NOUN_END``); None for other questions."""
    match = COUNT_QUESTION.match(question)
    if match is None:
        return None
    words = spoken(question[match.end() :])
    return words, next((i for i, w in enumerate(words) if w in _NOUN_END), len(words))
