"""Schema grammars for constrained decoding: one DuckDB SELECT over the tables and columns that exist.

``sql_grammar`` writes a Lark grammar for llguidance from the introspected schema, so that a decoder masked by
it cannot write an unknown table or function, a column no allowed table has, a run-on identifier, a parse
error or a comment (``-`` never follows ``-``: ``1 - -x`` would read ``1 --x``) (PICARD's idea, with a
maintained engine). Closed, because the schema decides: keywords (case-insensitive), functions
(``FUNCTIONS``), cast types, table and column names (of ``tables``, the linked tables, when given; over the
whole schema a bare column of any table passes, since FROM comes after SELECT), ``table.column`` (that table's
columns only). Open, because a context-free grammar cannot bind a name to its definition: table aliases (at
most ``ALIAS_CHARS`` characters, so a misspelt column cannot become a qualifier), ``alias.column`` (any
allowed column), output aliases, and bare output-alias references in ORDER BY and GROUP BY. Open names are
never a keyword or a schema table or column name and have at most ``NAME_CHARS`` characters. A statement
starting with WITH also opens table names (CTEs) and column names (their columns): only there, so an unknown
name is no escape hatch elsewhere.

Typed where DuckDB's binder decides, as far as a CFG can see it: a date part (``year``, ``month``, ...) takes
a DATE/TIME/TIMESTAMP column (``DCOL``), a cast to a date type or a call, never another column or a string;
WHERE, JOIN ... ON and GROUP BY hold expressions of the ``n`` flavour (no aggregate, window function or
``count(*)`` outside a subquery; ``sqlrules``); an operand takes at most one ``::`` cast. A bare value
column compared with a column of another type stays open on purpose, as does ``= "YEAR"`` for a column
``year``: the small model writes them where it wants a value the question never gave, the checks refuse
them and ``trim-clauses`` cuts the filter; closed, it wrote a valid filter on the wrong column instead
(``WHERE gender = manager_name``).

Value-aware literals (``values``) in a CFG: a column name is a value column when every allowed table with that
name has a value list; ``col = 'v'``, ``col <> 'v'``, ``col IN ('v', ...)`` (column first, bare or qualified)
then need one of the values of that name (an empty list: the column equals no string; ``ask`` passes the
values the question mentions, ``grounding``). Other uses (``lower(col) = ...``, LIKE, BETWEEN, ``'v' = col``)
keep free strings; the other side of a comparison with a bare value column is another column (a join) or,
when some value is admitted, a scalar subquery: no string, number, function or arithmetic. A string literal
is never an operand of arithmetic (only of ``||``), so a refused value cannot slip through as ``'v' - 1``
or ``'v' * x``: where a small model had started an unknown value, that was how the grammar let it finish.
A plain name is never double-quoted (``= "MARKET"`` was a string in disguise). With ``numbers``, a side of a
comparison, a BETWEEN bound or LIMIT that is or starts with a bare number starts with one of them; with
``years``, a date-like string compared with something is a date of those years (``grounding``).

There is no ``%ignore``: each lexeme carries its leading blanks (at most one line break, so a blank line never
splits a statement), and names and keywords that follow a word need one, so ``FROM funds`` is not ``FROM fund
s`` and ``fund_codeor`` is not ``fund_code OR``. No lexeme has inner blanks after a prefix that is itself a
lexeme (llguidance's lexer does not backtrack: ``year`` and ``(`` are two lexemes). The statement ends with an
optional ``;``, then the grammar ends, so decoding stops. The grammar is no security boundary: the validator
and the sandbox stay.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence

from finsql.ask.sqlrules import AFTER_WORD_KEYWORDS, GAP_KEYWORDS, SHARED_RULES, SINGLE_KEYWORDS, fill
from finsql.ask.sqlwords import DATE_PARTS, FUNCTIONS, KEYWORDS, SCALARS, TYPES, UNITS
from finsql.db.schema import Column, Schema

ALIAS_CHARS = 4
NAME_CHARS = 40
STRING_CHARS = 200
NUMBER_DIGITS = 18
"""Digits of a number literal, before and after its point: no run-on ``1000000000...`` to the token limit."""
VALUE_LIMIT = 2000
"""A text column with more distinct values than this keeps free string literals."""

_RESERVED = frozenset(KEYWORDS)
"""Names that are keywords are written quoted (``"order"``), as DuckDB needs."""
_WORDS = frozenset(FUNCTIONS + TYPES + UNITS)
"""Names that are also a function, type or unit may be quoted too (sqlglot writes ``"year"``)."""
_CALLED = [f for f in FUNCTIONS if f not in DATE_PARTS]
_WORD_SETS = {
    "KW": KEYWORDS,
    "FUNC": _CALLED,
    "SFUNC": SCALARS,
    "DFUNC": DATE_PARTS,
    "TYPE": TYPES,
    "UNIT": UNITS,
}
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CACHE: OrderedDict[tuple, str] = OrderedDict()
_CACHE_SIZE = 64


def _lit(text: str, fold: bool = True) -> str:
    """A Lark string literal (case-insensitive when ``fold``)."""
    return json.dumps(text, ensure_ascii=False) + ("i" if fold else "")


def _names(names: Sequence[str]) -> str:
    """Alternatives matching each name as an identifier: bare when it is a plain one, double-quoted when it
    is not or is also a keyword, function, type or unit (a plain name quoted is how a small model wrote a
    string it was refused: ``= "MARKET"``); ``= "YEAR"`` stays open (see the module docstring)."""
    out = []
    for name in sorted(set(names), key=str.lower):
        spellings = dict.fromkeys([name, name.lower(), name.upper()])
        if _SIMPLE.match(name) and name.lower() not in _RESERVED:
            out += [_lit(spelling, fold=False) for spelling in spellings]
        if not _SIMPLE.match(name) or name.lower() in _RESERVED or name.lower() in _WORDS:
            out += [_lit('"' + spelling.replace('"', '""') + '"', fold=False) for spelling in spellings]
    return "(" + " | ".join(dict.fromkeys(out)) + ")"


def _is_date(sql_type: str) -> bool:
    """A DATE, TIME or TIMESTAMP column (of any precision or time zone): what a date part takes."""
    return sql_type.upper().startswith(("DATE", "TIME"))


def _names_dates(column: Column) -> bool:
    """A text column whose name says it holds dates or times (``PRconfirmationdate``): one a date part may
    take through a ``::`` cast."""
    text = column.type.upper().startswith(("VARCHAR", "TEXT", "STRING", "CHAR"))
    return text and any(word in column.name.lower() for word in ("date", "day", "time", "month"))


def _references(
    allowed: list, pick: Callable[[Column], bool], qualified: str, opened: str | None
) -> list[str]:
    """The alternatives of a lexeme for the columns ``pick`` chooses: bare (or behind an open qualifier,
    ``qualified``), behind their table's name or alias, and any open name behind ``opened``'s qualifier
    (a statement with WITH)."""
    names = sorted({c.name for t in allowed for c in t.columns if pick(c)})
    out = [f"{qualified}{_names(names)}"] if names else []
    out += [f'({opened} ".")? OPENNAME'] if opened is not None else []
    for k, t in enumerate(allowed):
        own = [c.name for c in t.columns if pick(c)]
        out += [f'TN_{k} "." {_names(own)}'] if own else []
    return out


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _value_columns(
    schema: Schema, allowed: list, values: dict[tuple[str, str], list[str]] | None
) -> dict[str, list[str]]:
    """Column name (lower case) -> allowed values, for names whose every allowed table has a value list."""
    if not values:
        return {}
    lists = {(t.lower(), c.lower()): v for (t, c), v in values.items()}
    out: dict[str, list[str]] = {}
    owners: dict[str, list] = {}
    for table in allowed:
        for column in table.columns:
            owners.setdefault(column.name.lower(), []).append(table.name.lower())
    for name, tables in owners.items():
        found = [lists.get((t, name)) for t in tables]
        if all(v is not None and len(v) <= VALUE_LIMIT for v in found):
            out[name] = sorted({v for vs in found for v in vs if isinstance(v, str) and v.isprintable()})
    return out


def _values_key(values: dict[tuple[str, str], list[str]] | None) -> int:
    """A cheap in-process key of the value lists (string hashes are cached by Python)."""
    return hash(tuple(sorted((t.lower(), c.lower(), hash(tuple(v))) for (t, c), v in (values or {}).items())))


def sql_grammar(
    schema: Schema,
    *,
    values: dict[tuple[str, str], list[str]] | None = None,
    tables: Sequence[str] | None = None,
    after_select: bool = False,
    open_names: bool = False,
    aliases: dict[str, str] | None = None,
    numbers: Sequence[str] | None = None,
    years: Sequence[str] = (),
    months: Sequence[int] = (),
) -> str:
    """The Lark grammar of one DuckDB SELECT over ``schema`` (cached by fingerprint and arguments).

    ``tables`` keeps only those tables and their columns (the question's linked tables); ``values`` maps
    ``(table, column)`` to the column's distinct values (``linking.collect_values``); ``after_select``
    gives the grammar of what follows a leading ``SELECT`` (the prompt's answer prefix: it must start with
    a blank); ``open_names`` opens every column reference and long aliases, to measure what closing costs.
    ``aliases`` (alias -> table) closes the aliases too: only these, and ``alias.column`` only for a column
    of that alias's table (a retry knows the FROM clause of the answer it retries). ``numbers``: the only
    numbers a comparison may have as a whole side, and LIMIT (``grounding.mentioned_numbers``; None: any).
    ``years``: when given, a date literal compared with something (``'2020-12-31'``, ``DATE '2020-12-31'``)
    has one of these years, and with ``months`` one of these months (``grounding.mentioned_dates``).
    """
    key = (
        schema.fingerprint(),
        tuple(sorted(t.lower() for t in tables)) if tables is not None else None,
        _values_key(values),
        after_select,
        open_names,
        tuple(sorted(aliases.items())) if aliases is not None else None,
        tuple(numbers) if numbers is not None else None,
        tuple(years),
        tuple(months),
    )
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    grammar = _build(schema, values, tables, after_select, open_names, aliases, numbers, years, months)
    _CACHE[key] = grammar
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return grammar


def clear_cache() -> None:
    """Forget the grammars built so far (to time a build)."""
    _CACHE.clear()


LIMIT_ALWAYS = ("10",)
"""LIMITs any grounded question may have besides its own numbers: a ranking the question gives no length
("Rank the funds by ...") is cut at ten by BULL's gold SQL."""


def _number_lexemes(numbers: Sequence[str] | None) -> list[str]:
    """``CNUM`` (a number compared with something) and ``CINT`` (a LIMIT): with ``numbers``, only those
    (and ``LIMIT_ALWAYS``); a whole number may be written with a point (``> 50.``, ``= 100.0``, as BULL's
    gold SQL does)."""
    if numbers is None:
        return ["CNUM: NUMBER", f"CINT: WS0 /[0-9]{{1,{NUMBER_DIGITS}}}/"]
    whole = sorted({n for n in numbers if n.isdigit()} | set(LIMIT_ALWAYS), key=int)
    return [
        "CNUM: WS0 (" + " | ".join(f"/{n}(\\.0*)?/" if n.isdigit() else _lit(n) for n in numbers) + ")",
        "CINT: WS0 (" + " | ".join(_lit(n) for n in whole) + ")",
    ]


def _date_lexemes(years: Sequence[str], months: Sequence[int]) -> list[str]:
    """``CDATE`` (a date literal) and ``CSTR`` (a string literal compared with something): with ``years``,
    a date-like string must be a date of those years (and ``months``); other strings stay free."""
    if not years:
        return ["CDATE: WS0 /'[0-9]{4}-[0-9]{2}-[0-9]{2}/ TIMEPART \"'\"", "CSTR: STRING"]
    year = "(" + "|".join(re.escape(y) for y in years) + ")"
    month = "(" + "|".join(f"{m:02d}" for m in months) + ")" if months else "[0-9]{2}"
    return [
        f"CDATE: WS0 /'{year}-{month}-[0-9]{{2}}/ TIMEPART \"'\"",
        f"CSTR: WS0 (/'([^'\\r\\n]|''){{0,{STRING_CHARS}}}'/ & ~/'[0-9]{{4}}-[^\\r\\n]*/) | CDATE",
    ]


def _build(
    schema: Schema,
    values: dict[tuple[str, str], list[str]] | None,
    tables: Sequence[str] | None,
    after_select: bool,
    open_names: bool,
    aliases: dict[str, str] | None = None,
    numbers: Sequence[str] | None = None,
    years: Sequence[str] = (),
    months: Sequence[int] = (),
) -> str:
    """Write the grammar text: the family rules, then the schema's names and values as lexemes.

    A column reference, qualifier included, is one lexeme (``COL`` for columns without values, ``VCANY``
    for value columns, ``VC<i>`` for value column i before its values): Earley then predicts one item per
    reference kind, not one per table, which keeps llguidance's per-mask item budget for wide schemas.
    """
    if numbers is not None and not numbers:
        raise ValueError("a grammar with grounded numbers needs at least one")
    allowed = list(schema.tables) if tables is None else [schema.table(name) for name in tables]
    if None in allowed or not allowed:
        raise ValueError(f"a grammar needs known tables, not {tables!r}")
    valued = _value_columns(schema, allowed, values)
    plain = sorted({c.name for t in allowed for c in t.columns if c.name.lower() not in valued})
    lines = [
        "start: LEAD body_c (SETOP K_ALLG? setterm_c)* order_c? limit_c? END?"
        if after_select
        else "start: (query_c | K_WITH K_RECURSIVE? NAME_W1 cte (COMMA NAME_W cte)* query_w) END?",
        "cte: (LP NAME_W (COMMA NAME_W)* RP)? K_AS K_MATERIALIZED? LP query_w RP",
        f"ANYCOL: WS0 {_names([c.name for t in allowed for c in t.columns])}",
        f"TABLE: WS1 {_names([t.name for t in allowed])}",
        f"ALLTABLES: {_names([t.name for t in schema.tables])}",
        f"ALLCOLS: {_names([c.name for t in schema.tables for c in t.columns])}",
        "OPENNAME: IDENT & ~KW & ~ALLCOLS & ~ALLTABLES",
        # closed aliases: declared aliases are these names, qualifiers are the TN_k (tables and their aliases)
        f"QB_C: {_names(list(aliases))}"
        if aliases
        else f"QB_C: {'IDENT' if open_names else 'SHORT'} & ~KW & ~ALLTABLES",
        "QB_W: IDENT & ~KW & ~ALLTABLES",
        *_number_lexemes(numbers),
        *_date_lexemes(years, months),
    ]
    own = {
        k: [a for a, name in (aliases or {}).items() if name.lower() == t.name.lower()]
        for k, t in enumerate(allowed)
    }
    lines += [f"TN_{k}: {_names([t.name, *own[k]])}" for k, t in enumerate(allowed)]
    spoken = [i for i, vals in enumerate(valued.values()) if vals]  # closed columns with values to compare
    # a value column equals or differs from its values, never orders them: `credit_rating < 'AAA'`
    # compares spellings, not ratings (the model wrote it for "rated AAA")
    for i, vals in enumerate(valued.values()):
        if vals:
            lines.append(f"VAL_{i}: WS0 (" + " | ".join(_lit(_sql_string(v), fold=False) for v in vals) + ")")
            lines.append(f"vtail{i}: EQ VAL_{i} | K_NOTB? K_IN LP VAL_{i} (COMMA VAL_{i})* RP")
    for fam in ["c"] if after_select else ["c", "w"]:
        qb, opened = f"QB_{fam.upper()}", fam == "w" or open_names
        qualified = f'({qb} ".")? ' if not (aliases and fam == "c") else ""  # closed: via TN_k only
        col, vcany = [f"{qualified}{_names(plain)}"] if plain else [], []
        col += [f'({qb} ".")? OPENNAME'] if opened else []
        for k, t in enumerate(allowed):
            own = [c.name for c in t.columns if c.name.lower() not in valued]
            col += [f'TN_{k} "." {_names(own)}'] if own else []
            own = [c.name for c in t.columns if c.name.lower() in valued]
            vcany += [f'TN_{k} "." {_names(own)}'] if own else []
        vcany += [
            f"{qualified}{_names([c.name for t in allowed for c in t.columns if c.name.lower() in valued])}"
        ]
        dates = _references(allowed, lambda c: _is_date(c.type), qualified, qb if opened else None)
        texts = _references(allowed, _names_dates, qualified, qb if opened else None)
        has = {"columns": bool(col), "dated": bool(dates), "spoken": bool(spoken), "text_dated": bool(texts)}
        lines.append(fill(fam, valued=bool(valued), **has))
        F = fam.upper()
        lines += [f"COL_{F}: WS0 (" + " | ".join(col) + ")"] if col else []
        lines += [f"DCOL_{F}: WS0 (" + " | ".join(dates) + ")"] if dates else []
        lines += [f"TCOL_{F}: WS0 (" + " | ".join(texts) + ")"] if texts else []
        lines += [f"table_{fam}: TABLE" + (" | CTE_REF" if fam == "w" else "")]
        heads = [qb] if qualified else []
        lines += [f"QUAL_{F}: WS0 (" + " | ".join(heads + [f"TN_{k}" for k in range(len(allowed))]) + ') "."']
        lines += [f"ALIAS_{F}: WS1 {qb}"]
        if valued:
            lines.append(f"VCANY_{F}: WS0 (" + " | ".join(vcany) + ")")
        if spoken:
            lines.append(f"vsub_{fam}: LP query_{fam} RP")
            lines.append(f"vpred_{fam}: " + " | ".join(f"VC{i}_{F} vtail{i}" for i in spoken))
            for i, name in enumerate(valued):
                if not valued[name]:
                    continue
                owners = " | ".join(f"TN_{k}" for k, t in enumerate(allowed) if t.column(name) is not None)
                names = _names([c.name for t in allowed for c in t.columns if c.name.lower() == name])
                heads_i = f"{qb} | {owners}" if qualified else owners
                lines.append(f'VC{i}_{F}: WS0 (({heads_i}) ".")? {names}')
    lines += [
        f"{name}: WS0 (" + " | ".join(_lit(w) for w in words) + ")" for name, words in _WORD_SETS.items()
    ]
    lines += ["TYPE_WORD: (" + " | ".join(_lit(w) for w in TYPES) + ")"]
    lines += [f"K_{w.upper()}: WS0 {_lit(w)}{' GAP' * (w in GAP_KEYWORDS)}" for w in SINGLE_KEYWORDS]
    lines += [f"K_{w.upper()}: WS1 {_lit(w)}{' GAP' * (w in GAP_KEYWORDS)}" for w in AFTER_WORD_KEYWORDS]
    sizes = {
        "STRING_CHARS": STRING_CHARS,
        "NAME_MAX": NAME_CHARS - 1,
        "ALIAS_MAX": ALIAS_CHARS - 1,
        "DIGITS": NUMBER_DIGITS,
    }
    return "\n".join(lines) + re.sub("|".join(sizes), lambda m: str(sizes[m.group(0)]), SHARED_RULES)
