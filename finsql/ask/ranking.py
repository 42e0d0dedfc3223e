"""Superlatives a question states: "Which fund has the highest management fee?" is one row, the top one.

A small model often lists every row the question's filter keeps and leaves the ranking out (``SELECT
company_name FROM fund_company`` for "Which is the oldest fund company?"), or ranks the wrong way round
(``ORDER BY total_shares_mn ASC LIMIT 5`` for "the five stocks with the most total shares"). When the
question has superlatives of one direction only (not "at least", "at most") and asks for one row
(``Which fund ...``, ``Who ...``) or a number of them ("the three largest", "top 5"), ``ranked`` orders a
plain, unranked answer by the column the superlative names (the words after it spell the column's name;
else the one number the answer shows; for oldest/newest, the tables' one date column) and keeps that
many rows; ``reranked`` turns an answer ranked by that column the other way round. Best and worst are
left alone: their direction depends on the figure; nor are maximum and minimum, often a column's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from finsql.ask.linking import name_words
from finsql.ask.sqlcheck import aggregates, outer_sources, parse_query
from finsql.ask.wording import NUMBER_WORDS, is_dated, is_number, number_value, spelt, spoken
from finsql.db.schema import Column, Schema

_UP = "highest largest biggest most greatest widest deepest longest richest".split()
_DOWN = "lowest smallest fewest least cheapest shortest narrowest".split()
_EARLY = "oldest earliest".split()
_LATE = "newest latest youngest".split()
_SUPERLATIVE = re.compile(r"(?<!\bat )\b(" + "|".join(_UP + _DOWN + _EARLY + _LATE) + r")\b", re.I)
_COUNT = re.compile(r"\b(?:top|the|which)\s+(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\b", re.I)
_ONE = re.compile(r"^\s*(?:which|what|who)\s+([a-z]+)", re.I)
_VERBS = frozenset("is was has had does did".split())
_PER_GROUP = re.compile(r"\b(each|every|per)\b|\bof\s+the\s+top\b", re.I)
_FALLS = frozenset(spoken("drop drops decline declines fall falls loss losses decrease cut cuts lost"))
"""Words after a superlative whose sign decides the direction ("the biggest drop" of a signed change): like
best and worst, left alone."""
_WINDOW = 4
"""Words after a superlative that may spell the ranked column ("highest management fee")."""


@dataclass(frozen=True)
class Ranking:
    """What a question ranks by: its direction, the rows it asks for, and the words that may name the
    column (``time``: oldest/newest, ranked by a date)."""

    descending: bool
    rows: int
    words: frozenset[str]
    time: bool
    numbers: frozenset[float] = frozenset()
    """Numbers the question states: a column compared with one of them is a condition, not the ranking."""


def stated_ranking(question: str) -> Ranking | None:
    """The ranking ``question`` asks for, or None when it has no superlative, superlatives of both
    directions, best/worst only, a ranking per group, or asks for neither one row nor a number of them."""
    question = re.sub(r"\bmost\s+recent\b", "latest", question, flags=re.I)
    found = _SUPERLATIVE.findall(question)
    if not found or _PER_GROUP.search(question):
        return None
    kinds = {w.lower() in _UP + _LATE for w in found}
    times = {w.lower() in _EARLY + _LATE for w in found}
    if len(kinds) != 1 or len(times) != 1:
        return None
    count = _COUNT.search(question)
    if count is not None:
        rows = number_value(count.group(1))
    else:
        one = _ONE.match(question)
        word = one.group(1).lower() if one else ""
        are = word in ("are", "were")
        plural = are or (word.endswith("s") and not word.endswith("ss") and word not in _VERBS)
        if not one or (plural and (are or one.group(0).split()[0].lower() != "who")):  # "Who runs ...": one
            return None
        rows = 1
    words = spoken(question[_SUPERLATIVE.search(question).end() :])[:_WINDOW]
    if _FALLS & set(words):
        return None
    numbers = frozenset(float(n) for n in re.findall(r"\d+(?:\.\d+)?", question))
    return Ranking(kinds.pop(), rows, frozenset(words), times.pop(), numbers)


def ranked(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, a plain select that neither groups, aggregates, orders nor limits, ordered by the column
    its question's superlative names and limited to the rows asked for; None when it does not apply."""
    ranking = stated_ranking(question)
    tree = parse_query(sql) if ranking is not None else None
    if not isinstance(tree, exp.Select):
        return None
    if any(tree.args.get(k) for k in ("group", "order", "limit", "having", "distinct")):
        return None
    if any(aggregates(e) for e in tree.expressions):
        return None
    where = tree.args.get("where")
    if where is not None and where.find(exp.Subquery, exp.Select):  # `fee = (SELECT max(fee) ...)` keeps ties
        return None
    column = _ranked_column(tree, schema, ranking)
    if column is None:
        return None
    return tree.order_by(exp.Ordered(this=column, desc=ranking.descending)).limit(ranking.rows).sql("duckdb")


def reranked(question: str, sql: str, schema: Schema) -> str | None:
    """``sql``, ranked by one column the other way round from its question's superlative, ranked its
    way; None when it does not apply (the column must be the one the superlative names)."""
    ranking = stated_ranking(question)
    tree = parse_query(sql) if ranking is not None else None
    if not isinstance(tree, exp.Select) or not tree.args.get("limit"):
        return None
    order = tree.args.get("order")
    keys = order.expressions if order else []
    if len(keys) != 1 or not isinstance(keys[0].this, exp.Column):
        return None
    key = keys[0]
    if bool(key.args.get("desc")) == ranking.descending:
        return None
    column = _ranked_column(tree, schema, ranking, named_only=True)
    if column is None or column.name.lower() != key.this.name.lower():
        return None
    key.set("desc", ranking.descending)
    return tree.sql("duckdb")


def _ranked_column(
    tree: exp.Select, schema: Schema, ranking: Ranking, named_only: bool = False
) -> exp.Column | None:
    """The column of the FROM's tables the ranking names: for a time ranking the one date column, else
    the one number column whose name the words after the superlative spell, else (unless ``named_only``)
    the one number column the select list shows."""
    sources = outer_sources(tree, schema)
    if not sources:
        return None
    qualify = len(sources) > 1
    columns = [(alias, column) for alias, name in sources.items() for column in schema.table(name).columns]
    if ranking.time:
        return _reference([(a, c) for a, c in columns if is_dated(c)], qualify)
    numbers = [(a, c) for a, c in columns if _is_figure(c)]
    named = [(a, c) for a, c in numbers if spelt(c.name) and set(spelt(c.name)) <= ranking.words]
    if named or named_only:
        return _reference(named, qualify)
    shown = {c.name.lower() for e in tree.expressions for c in e.find_all(exp.Column)}
    where = tree.args.get("where")
    stated = [
        node.this.name.lower()
        for node in (where.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE) if where is not None else ())
        if isinstance(node.this, exp.Column)
        and node.expression.is_number
        and float(node.expression.this) in ranking.numbers
    ]  # "a fee above 1%": the fee is a condition the question states, not what it ranks by
    return _reference([(a, c) for a, c in numbers if c.name.lower() in shown - set(stated)], qualify)


def _reference(found: list[tuple[str, Column]], qualify: bool) -> exp.Column | None:
    """The one column found, as the SQL refers to it; None unless exactly one."""
    if len(found) != 1:
        return None
    alias, column = found[0]
    return exp.column(column.name, table=alias if qualify else None)


def _is_figure(column: Column) -> bool:
    """A number column that is not a key (``*_id``, ``*_code``) nor a column named for years."""
    last = name_words(column.name)[-1:]
    return not column.primary_key and last not in (["id"], ["code"], ["year"]) and is_number(column)
