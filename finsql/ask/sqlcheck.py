"""Validate that generated SQL is one pure read over the known schema (first line of defence)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from finsql.db.schema import Schema
from finsql.errors import SQLRefused, first_line

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its 'unsupported syntax' warnings are ours to report

# Nodes that write, change state or configuration, or are not plain queries, anywhere in the tree.
_FORBIDDEN_NODES: tuple[type, ...] = (
    exp.DDL,  # Create, Insert, ...
    exp.DML,  # Insert, Update, Delete, Merge, Copy
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.Copy,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Comment,
    exp.Command,
    exp.Into,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.LoadData,
    exp.Export,
    exp.Set,
    exp.Pragma,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Describe,
    exp.Summarize,
    exp.Show,
    exp.Analyze,
    exp.Cache,
    exp.Uncache,
    exp.Refresh,
    exp.Grant,
    exp.Revoke,
    exp.Kill,
    exp.Execute,
    exp.ExecuteSql,
    exp.Declare,
    exp.Lock,
    exp.Put,
    exp.Get,
)

# Functions that read files, run SQL text, reveal configuration or the system, or change state.
_FORBIDDEN_FUNCTION = re.compile(
    r"(read_|parquet_|iceberg_|delta_|ducklake_|sqlite_|postgres_|mysql_|duckdb_|pragma_|json_execute"
    r"|glob$|sniff_csv$|query$|query_table$|getenv$|current_setting$|nextval$|currval$|setseed$"
    r"|which_secret$|load_aws_credentials$|checkpoint$|force_checkpoint$|.*_scan$)"
)

_UNRESOLVED_COLUMN = re.compile(r"Column '([^']*)' could not be resolved(?: for table: '([^']*)')?")
_UNKNOWN_COLUMN = re.compile(r"Unknown (?:output )?column: (\S+)")
_AMBIGUOUS_COLUMN = re.compile(r"Ambiguous column '([^']*)'")
_UNKNOWN_TABLE = re.compile(r"Unknown table: (\S+)")


@dataclass(frozen=True)
class CheckedSQL:
    """A statement that passed validation."""

    sql: str
    expression: exp.Expression
    tables: tuple[str, ...]
    ordered: bool


def _one_line(text: str) -> str:
    """Collapse a message to a single line."""
    return " ".join(str(text).split())


def _parse_one(sql: str) -> exp.Expression:
    """Parse exactly one DuckDB statement or raise SQLRefused."""
    try:
        parsed = sqlglot.parse(sql, read="duckdb", error_level=ErrorLevel.RAISE)
    except SqlglotError as e:
        raise SQLRefused(f"could not parse SQL: {first_line(e)}") from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise SQLRefused("empty SQL statement")
    if len(statements) > 1:
        raise SQLRefused(f"expected exactly one statement, got {len(statements)}")
    return statements[0]


def _outermost_query(expression: exp.Expression) -> exp.Expression:
    """The query inside any wrapping parentheses."""
    while isinstance(expression, exp.Subquery):
        expression = expression.this
    return expression


def _statement_name(root: exp.Expression) -> str:
    """The leading keyword of a statement, e.g. TRUNCATE or LOAD, for messages."""
    match = re.match(r"[A-Za-z_]+", root.sql(dialect="duckdb"))
    word = match.group(0).upper() if match else ""
    return word if word and word != "WITH" else root.key.upper()


def _function_name(func: exp.Func) -> str:
    """The lower-case SQL name of a function call."""
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()


def _check_nodes(root: exp.Expression) -> None:
    """Refuse non-query roots, forbidden statement nodes, table functions and risky functions."""
    if not isinstance(_outermost_query(root), (exp.Select, exp.SetOperation)):
        raise SQLRefused(f"only SELECT queries are allowed, not {_statement_name(root)}")
    for node in root.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise SQLRefused(f"only pure reads are allowed: found {node.key.upper()} inside the query")
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            what = _function_name(node.this) if isinstance(node.this, exp.Func) else node.this.sql("duckdb")
            raise SQLRefused(f"table functions are not allowed: {what}")
        if isinstance(node, exp.Func) and _FORBIDDEN_FUNCTION.match(_function_name(node)):
            raise SQLRefused(f"function not allowed: {_function_name(node)}")


def _check_tables(root: exp.Expression, schema: Schema) -> tuple[str, ...]:
    """Every table reference must be a schema table or a CTE in scope; return the schema tables used."""
    try:
        scopes = traverse_scope(root)
    except OptimizeError as e:
        raise SQLRefused(f"could not analyse SQL: {_one_line(e)}") from None
    used: list[str] = []
    seen: set[int] = set()
    for scope in scopes:
        for table in scope.tables:
            seen.add(id(table))
            if isinstance(scope.sources.get(table.alias_or_name), Scope):
                continue  # a CTE reference
            if table.args.get("catalog") or (table.db and table.db.lower() != "main"):
                raise SQLRefused(f"qualified table names are not allowed: {table.sql('duckdb')}")
            known = schema.table(table.name)
            if known is None:
                raise SQLRefused(f"unknown table: {table.name}")
            if known.name not in used:
                used.append(known.name)
    stray = next((t for t in root.find_all(exp.Table) if id(t) not in seen), None)
    if stray is not None:
        raise SQLRefused(f"unsupported table reference: {stray.sql('duckdb')}")
    return tuple(used)


def _aliases(root: exp.Expression) -> set[str]:
    """Lower-case names by which every table-like source in the tree can be referenced."""
    names = {t.alias_or_name.lower() for t in root.find_all(exp.Table)}
    names.update(a.name.lower() for a in root.find_all(exp.TableAlias) if a.name)
    return names


def _column_reason(message: str, root: exp.Expression, schema: Schema, tables: tuple[str, ...]) -> str:
    """A user-facing reason for sqlglot's column-resolution error ``message``."""
    if match := _UNRESOLVED_COLUMN.search(message):
        column, table = match.groups()
        if table is not None:
            if table.lower() not in _aliases(root):
                return f"unknown table or alias: {table} (in {table}.{column})"
            return f"unknown column: {table}.{column}"
        owners = [t.name for t in schema.tables if t.name in tables and t.column(column) is not None]
        if len(owners) > 1:
            return f"ambiguous column: {column} (in {', '.join(owners)})"
        return f"unknown column: {column}"
    if match := _UNKNOWN_COLUMN.search(message):
        return f"unknown column: {match.group(1)}"
    if match := _AMBIGUOUS_COLUMN.search(message):
        return f"ambiguous column: {match.group(1)}"
    if match := _UNKNOWN_TABLE.search(message):
        return f"unknown table or alias: {match.group(1)}"
    return f"could not resolve columns: {_one_line(message)}"


def _qualify(root: exp.Expression, schema: Schema, tables: tuple[str, ...]) -> exp.Expression:
    """Qualify columns against the schema, refusing unknown or ambiguous columns."""
    try:
        return qualify(
            root.copy(),
            schema=schema.sqlglot_mapping(),
            dialect="duckdb",
            validate_qualify_columns=True,
            identify=False,
        )
    except OptimizeError as e:
        raise SQLRefused(_column_reason(str(e), root, schema, tables)) from None


def check_sql(sql: str, schema: Schema) -> CheckedSQL:
    """Validate ``sql`` as a single read-only query over ``schema``; raise SQLRefused (one line) if not."""
    text = (sql or "").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise SQLRefused("empty SQL statement")
    try:
        root = _parse_one(text)
        _check_nodes(root)
        tables = _check_tables(root, schema)
        qualified = _qualify(root, schema, tables)
        _check_self_comparisons(qualified)
        _check_unquoted_dates(root)
    except RecursionError:
        raise SQLRefused("SQL is nested too deeply to check") from None
    return CheckedSQL(sql=text, expression=qualified, tables=tables, ordered=_has_order(root))


COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
"""The binary comparisons a condition can hold (BETWEEN aside)."""


def _check_self_comparisons(qualified: exp.Expression) -> None:
    """Refuse a condition that compares a column with itself (``f.fund_name = f.fund_name``): always true
    or always false, it is how a small model filled a filter whose value it could not write."""
    for node in qualified.find_all(*COMPARISONS):
        left, right = node.this, node.expression
        if isinstance(left, exp.Column) and isinstance(right, exp.Column) and left == right:
            raise SQLRefused(f"a condition compares a column with itself: {node.sql(dialect='duckdb')}")


YEAR_TEXT = re.compile(r"^(1[89]|2[01])[0-9]{2}$")
"""A plausible year written as a number (1800-2199)."""


def unquoted_date(node: exp.Expression) -> tuple[int, int, int | None] | None:
    """The date a chain of subtracted whole numbers spells (``2020-12-31``, or ``2022-03`` with its month's
    leading zero): (year, month, day or None); None for any other expression. Unquoted, DuckDB reads it
    as arithmetic (1977), so a comparison with it runs and silently means nothing."""
    parts: list[exp.Expression] = []
    while isinstance(node, exp.Sub):
        parts.insert(0, node.expression)
        node = node.this
    parts.insert(0, node)
    if len(parts) not in (2, 3) or not all(isinstance(p, exp.Literal) and not p.is_string for p in parts):
        return None
    texts = [p.this for p in parts]
    if not YEAR_TEXT.match(texts[0]) or not all(t.isdigit() and len(t) <= 2 for t in texts[1:]):
        return None
    if len(parts) == 2 and not texts[1].startswith("0"):  # ``2022 - 10`` may be ten years before 2022
        return None
    month, day = int(texts[1]), int(texts[2]) if len(parts) == 3 else None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return int(texts[0]), month, day


def unquoted_dates_in(root: exp.Expression) -> list[tuple[exp.Sub, tuple[int, int, int | None]]]:
    """Each whole subtraction chain under ``root`` that spells a date, with that date (``unquoted_date``)."""
    found = []
    for node in root.find_all(exp.Sub):
        if not isinstance(node.parent, exp.Sub) and (date := unquoted_date(node)) is not None:
            found.append((node, date))
    return found


def _check_unquoted_dates(root: exp.Expression) -> None:
    """Refuse a date written without quotes (``year(d) = 2020-12-31``): it runs as arithmetic and means
    nothing; the ``quote-dates`` repair reads it as the date it spells."""
    found = unquoted_dates_in(root)
    if found:
        raise SQLRefused(f"a date without quotes is arithmetic: {found[0][0].sql(dialect='duckdb')}")


def _has_order(root: exp.Expression) -> bool:
    """True when the outermost query (through parentheses) has an ORDER BY."""
    while isinstance(root, exp.Subquery):
        if root.args.get("order"):
            return True
        root = root.this
    return isinstance(root, (exp.Select, exp.SetOperation)) and bool(root.args.get("order"))


def parse_query(sql: str) -> exp.Expression | None:
    """The one DuckDB statement ``sql`` as a tree, or None when sqlglot cannot parse it (or it nests too
    deeply): for repairs and rewrites, which leave such text as it is."""
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except (SqlglotError, RecursionError):
        return None


def aggregates(node: exp.Expression) -> bool:
    """Whether ``node`` aggregates at its own level: an aggregate function in it that is neither a window
    function nor inside a subquery."""
    return any(not f.find_ancestor(exp.Window, exp.Subquery) for f in node.find_all(exp.AggFunc))


def is_ordered(sql: str) -> bool:
    """Whether the outermost query has ORDER BY; False for anything unparsable."""
    try:
        parsed = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except (SqlglotError, RecursionError):
        return False
    return bool(parsed) and _has_order(parsed[0])


def outer_sources(tree: exp.Select, schema: Schema) -> dict[str, str]:
    """Alias as written (a table without one under its own name) -> schema table, for the tables the
    outermost SELECT's own FROM and JOINs read, not its subqueries'; {} when a table is read twice (a
    rewrite could not tell which reading is meant)."""
    found: dict[str, str] = {}
    for source in [tree.args.get("from_"), *(tree.args.get("joins") or [])]:
        if source is not None and isinstance(source.this, exp.Table):
            table = schema.table(source.this.name)
            if table is not None:
                found[source.this.alias_or_name] = table.name
    return found if len(set(found.values())) == len(found) else {}


def join_qualified(tree: exp.Select, table: str, on: exp.Expression, schema: Schema) -> exp.Select:
    """``tree`` (changed in place) joining ``table`` ON ``on``, each bare column of its own clauses first
    qualified by the one table read that has it: a name ``table`` shares would turn ambiguous
    (``currency_code`` once ``currency`` joins ``exchange_rate``), and a repair of the refused SQL would
    then cut the conditions that use it."""
    sources = outer_sources(tree, schema)
    for column in list(tree.find_all(exp.Column)):
        if column.table or column.find_ancestor(exp.Subquery):
            continue
        alias = column_source(column, sources, schema)
        if alias is not None:
            column.set("table", exp.to_identifier(alias))
    return tree.join(exp.to_table(table), on=on, copy=False)


def column_source(column: exp.Column, sources: dict[str, str], schema: Schema) -> str | None:
    """The alias (of ``outer_sources``) of the table read that ``column`` is of: its qualifier when that
    table has it, else the one table read with a column of that name; None when there is no such table."""
    if column.table:
        name = sources.get(column.table)
        return column.table if name is not None and schema.table(name).column(column.name) else None
    owners = [alias for alias, name in sources.items() if schema.table(name).column(column.name)]
    return owners[0] if len(owners) == 1 else None


def sources_named(sql: str, schema: Schema) -> dict[str, str]:
    """The schema tables ``sql`` reads, as ``{alias: table}`` (a table without an alias under its own name),
    even when it does not validate; {} when it does not parse. A refused answer is decoded again within
    these tables and aliases (``Session.ask``)."""
    try:
        parsed = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except (SqlglotError, RecursionError):
        return {}
    found: dict[str, str] = {}
    for statement in parsed:
        for node in statement.find_all(exp.Table):
            table = schema.table(node.name)
            if table is not None:
                found.setdefault((node.alias or table.name).lower(), table.name)
    return found


def retry_sources(sql: str, schema: Schema, linked: list[str]) -> dict[str, str]:
    """Where a refused answer is decoded again, as ``{alias: table}``: the tables it named under its
    aliases (``sources_named``), or, when it named none (a select list run on to the token limit), the
    ``linked`` tables, each under its own name."""
    return sources_named(sql, schema) or {name.lower(): name for name in linked}
