"""Date repairs: a date column compared with a year, as a person says it and DuckDB refuses; a date
written without quotes.

A small model writes "launched after 2015" as ``inception_date > 2015`` (DuckDB: cannot compare DATE and
INTEGER) and "in 2022" as ``report_month = '2022'`` (a conversion error: '2022' is no date). Both name a year,
and the comparison means the column's year: ``year(inception_date) > 2015``, ``year(report_month) = 2022``. A
string of a year and a month (``= '2023-02'``) means that month: ``year(col) = 2023 AND month(col) = 2``;
ordered against one (``> '2023-02'``), the month's bound day (``>= DATE '2023-03-01'``). Comparisons of other
types, and numbers that are no plausible year, are left as they are.

A date without quotes (``year(report_date) = 2020-12-31``, ``nav_date BETWEEN 2022-07-01 AND 2022-12-31``)
is arithmetic to DuckDB (1977): it runs and matches nothing, so the validator refuses it, and
``unquoted_dates`` reads it as the date it spells. Compared with a date column's year, the column itself is
compared with the date (the model named a day); with a year column (``fiscal_year = 2022-03-01``), with
the year; elsewhere it becomes the quoted date (a year and month is then compared by month, as above).
"""

from __future__ import annotations

import re

from finsql.db.schema import Schema
from finsql.hookspecs import hookimpl

_MONTH = re.compile(r"^((?:1[89]|2[01])[0-9]{2})-(0?[1-9]|1[0-2])$")


def _column_kinds(tree, schema: Schema) -> dict[tuple[str, str], str]:
    """``(qualifier, column)`` -> "date", "year" (a year column) or "other", for the qualifiers the query's
    FROMs and JOINs declare (each alias, and an unaliased table's name) and ``""`` for a name whose read
    tables agree on its kind."""
    from sqlglot import exp

    from finsql.ask.wording import is_dated, is_year_column

    read: dict[str, object] = {}
    for node in tree.find_all(exp.Table):
        table = schema.table(node.name)
        if table is not None:
            read[(node.alias or node.name).lower()] = table
    kinds: dict[tuple[str, str], str] = {}
    owners: dict[str, set[str]] = {}
    for qualifier, table in read.items():
        for column in table.columns:
            kind = "date" if is_dated(column) else "year" if is_year_column(column) else "other"
            kinds[(qualifier, column.name.lower())] = kind
            owners.setdefault(column.name.lower(), set()).add(kind)
    for name, found in owners.items():
        if len(found) == 1:
            kinds[("", name)] = found.pop()
    return kinds


def _kind(column, kinds: dict[tuple[str, str], str]) -> str | None:
    """The kind ``_column_kinds`` gives a column reference (None: a name it cannot place)."""
    return kinds.get((column.table.lower(), column.name.lower()))


def _stated(literal) -> tuple[int, int | None] | None:
    """The year (and month) a literal states: 2015, '2015' or '2015-03'; None for anything else."""
    from finsql.ask.sqlcheck import YEAR_TEXT

    text = literal.this
    if not literal.is_string:
        return (int(text), None) if YEAR_TEXT.match(text) else None
    if YEAR_TEXT.match(text):
        return int(text), None
    month = _MONTH.match(text)
    return (int(month.group(1)), int(month.group(2))) if month else None


def _month_bound(node, column_first: bool, year: int, month: int):
    """An ordering comparison with a month as one with the day that bounds it: the month's first day for
    ``<`` and ``>=`` (the column on the left), the next month's first day for ``<=`` and ``>``, which become
    ``<`` and ``>=``."""
    from sqlglot import exp

    kind = type(node)
    if isinstance(node, exp.LTE | exp.GT) if column_first else isinstance(node, exp.GTE | exp.LT):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        kind = {exp.LTE: exp.LT, exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE}[kind]
    day = exp.cast(exp.Literal.string(f"{year:04d}-{month:02d}-01"), exp.DataType.Type.DATE)
    column = node.this if column_first else node.expression
    return (
        kind(this=column.copy(), expression=day) if column_first else kind(this=day, expression=column.copy())
    )


def year_comparisons(sql: str, schema: Schema) -> str:
    """``sql`` with each comparison of a date column and a year (or a year and month) compared by the
    column's year (and month); unchanged when there is none."""
    from sqlglot import exp

    from finsql.ask.sqlcheck import COMPARISONS, parse_query

    tree = parse_query(sql)
    if tree is None:
        return sql
    kinds = _column_kinds(tree, schema)
    changed = False
    for node in list(tree.find_all(*COMPARISONS)):
        column, literal = node.this, node.expression
        if isinstance(literal, exp.Column) and isinstance(column, exp.Literal):
            column, literal = literal, column
        if not isinstance(column, exp.Column) or not isinstance(literal, exp.Literal):
            continue
        if _kind(column, kinds) != "date":
            continue
        stated = _stated(literal)
        if stated is None:
            continue
        year, month = stated
        side = column is node.this
        if month is not None and not isinstance(node, exp.EQ | exp.NEQ):
            node.replace(_month_bound(node, side, year, month))
            changed = True
            continue
        by_year = node.__class__(
            this=exp.Year(this=column.copy()) if side else exp.Literal.number(year),
            expression=exp.Literal.number(year) if side else exp.Year(this=column.copy()),
        )
        if month is not None:
            by_month = exp.EQ(this=exp.Month(this=column.copy()), expression=exp.Literal.number(month))
            both = exp.and_(exp.EQ(this=by_year.this, expression=by_year.expression), by_month)
            by_year = exp.Paren(this=both) if isinstance(node, exp.EQ) else exp.Not(this=exp.Paren(this=both))
        node.replace(by_year)
        changed = True
    return tree.sql(dialect="duckdb") if changed else sql


def unquoted_dates(sql: str, schema: Schema) -> str:
    """``sql`` with each date written without quotes read as that date (see the module docstring);
    unchanged when there is none."""
    from sqlglot import exp

    from finsql.ask.sqlcheck import COMPARISONS, parse_query, unquoted_dates_in

    tree = parse_query(sql)
    if tree is None:
        return sql
    kinds = _column_kinds(tree, schema)
    found = unquoted_dates_in(tree)
    for node, (year, month, day) in found:
        parent = node.parent
        other = None
        if isinstance(parent, exp.Between):
            other = parent.this
        elif isinstance(parent, COMPARISONS):
            other = parent.expression if node is parent.this else parent.this
        text = f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day is not None else "")
        if isinstance(other, exp.Year) and isinstance(other.this, exp.Column):
            if _kind(other.this, kinds) == "date":
                other.replace(other.this.copy())
        elif isinstance(other, exp.Column) and _kind(other, kinds) == "year":
            node.replace(exp.Literal.number(year))
            continue
        node.replace(exp.Literal.string(text))
    return tree.sql(dialect="duckdb") if found else sql


@hookimpl
def register_sql_repairers(register):
    register(unquoted_dates, name="quote-dates")  # runs before trim-clauses and year-comparisons (by name)
    register(year_comparisons, name="year-comparisons")
