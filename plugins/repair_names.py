"""Name repairs: a one-table query whose columns all belong to another table moved to that table, a column
of a table the query never joined joined along a foreign key, and unknown tables, columns and aliases
mapped to the closest names of the schema."""

from __future__ import annotations

import difflib

from finsql.ask.sqlcheck import parse_query
from finsql.db.schema import Schema, Table
from finsql.hookspecs import hookimpl

CUTOFF = 0.6


def _closest(name: str, choices: list[str]) -> str | None:
    low = {c.lower(): c for c in choices}
    if name.lower() in low:
        return low[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(low), n=1, cutoff=CUTOFF)
    return low[found[0]] if found else None


def repair_names(sql: str, schema: Schema) -> str:
    """Move a one-table query to the table that owns its columns (``repair_owning_table``), join the table
    a select-list column needs (``repair_missing_join``), then replace unknown table names and qualifiers by
    the closest known ones, qualify a column by the one alias of the query whose table has it when its own
    table lacks it (``p.stock_name`` for ``s.stock_name``: a small model copies the alias of the column
    before), and replace other unknown columns by the closest of their table (or, for a date column of
    other tables, by the one date column of the query's: ``_one_date``)."""
    sql = repair_missing_join(repair_owning_table(sql, schema), schema)
    from sqlglot import exp

    tree = parse_query(sql)
    if tree is None:  # unparsable or nested too deep: the checker refuses it
        return sql
    changed = False
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    table_names = [t.name for t in schema.tables]
    for table in tree.find_all(exp.Table):
        if table.name.lower() in ctes or schema.table(table.name):
            continue
        fix = _closest(table.name, table_names)
        if fix:
            table.set("this", exp.to_identifier(fix))
            changed = True
    aliases: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if schema.table(table.name):
            aliases[(table.alias or table.name).lower()] = table.name
    in_query = [schema.table(name) for name in dict.fromkeys(aliases.values())]
    select_aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    for column in tree.find_all(exp.Column):
        name, qualifier = column.name, column.table.lower()
        if not name or (name.lower() in select_aliases and not qualifier):
            continue
        if qualifier in ctes:
            continue
        undeclared = bool(qualifier) and qualifier not in aliases
        misplaced = qualifier in aliases and not schema.table(aliases[qualifier]).column(name)
        if undeclared or misplaced:
            owners = [a for a, t in aliases.items() if schema.table(t).column(name)]
            # an undeclared qualifier takes the first alias whose table has the column; a declared one only
            # the one such alias (the right column under another table's alias: `p.stock_name`)
            if owners and (undeclared or len(owners) == 1):
                column.set("table", exp.to_identifier(owners[0]))
                qualifier = owners[0]
                changed = True
        scope = [schema.table(aliases[qualifier])] if qualifier in aliases else in_query
        if not scope or any(t.column(name) for t in scope):
            continue
        fix = _closest(name, [c.name for t in scope for c in t.columns]) or _one_date(name, scope, schema)
        if fix:
            column.set("this", exp.to_identifier(fix))
            changed = True
    return tree.sql(dialect="duckdb") if changed else sql


def _one_date(name: str, scope: list[Table], schema: Schema) -> str | None:
    """The one date column of the ``scope`` tables, for a column ``name`` that is a date wherever the
    schema has it (``year(maturity_date)`` over ``macro_indicator``: ``report_month``); None otherwise."""
    from finsql.ask.wording import is_dated

    elsewhere = [c for t in schema.tables for c in t.columns if c.name.lower() == name.lower()]
    dates = [c.name for t in scope for c in t.columns if is_dated(c)]
    return dates[0] if elsewhere and all(is_dated(c) for c in elsewhere) and len(dates) == 1 else None


def repair_owning_table(sql: str, schema: Schema) -> str:
    """A query of one table naming columns that table lacks, all of which one other table has, reads that
    table instead. A small model writes the columns the question asks for before the ``FROM`` (where no
    grammar can yet tell which table is meant) and then often names a neighbouring table."""
    from sqlglot import exp

    tree = parse_query(sql)
    if tree is None:
        return sql
    tables = list(tree.find_all(exp.Table))
    if not isinstance(tree, exp.Select) or len(tables) != 1 or tree.find(exp.Subquery, exp.Join):
        return sql
    (table,) = tables
    current = schema.table(table.name)
    if current is None:
        return sql
    names = {table.name.lower(), (table.alias or table.name).lower()}
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    columns = {
        c.name.lower()
        for c in tree.find_all(exp.Column)
        if c.name and (c.table.lower() in names or not c.table) and c.name.lower() not in aliases
    }
    if not columns or all(current.column(c) for c in columns):
        return sql
    owners = schema.tables_with(columns)
    if len(owners) != 1:
        return sql
    table.set("this", exp.to_identifier(owners[0].name))
    for column in tree.find_all(exp.Column):
        if column.table.lower() == table.name.lower() != (table.alias or "").lower():
            column.set("table", exp.to_identifier(owners[0].name))
    return tree.sql(dialect="duckdb")


def _link(schema: Schema, owner: Table, joined: dict[str, Table]) -> list[tuple[str, str]]:
    """``ON`` conditions joining ``owner`` to one of the ``joined`` tables (alias -> table) along a
    single-column foreign key, either way: ``(owner column, alias.column)``."""
    return [
        (own, f"{alias}.{theirs}")
        for alias, table in joined.items()
        for own, theirs in schema.key_pairs(owner.name, table.name)
    ]


def repair_missing_join(sql: str, schema: Schema) -> str:
    """A column of the select list that no table of the query has (under no qualifier, a qualifier the query
    never declared, or the alias of a table that lacks it), owned by exactly one other table that one
    foreign key links to a table of the query, is read through a join of that table. A small model names
    the column the question asks for and forgets the join that brings it; an unknown name in a later clause
    is that clause breaking down, left to ``trim-clauses``."""
    from sqlglot import exp

    tree = parse_query(sql)
    if tree is None:
        return sql
    if not isinstance(tree, exp.Select) or tree.find(exp.Subquery, exp.Union, exp.CTE):
        return sql
    joined: dict[str, Table] = {}
    for table in tree.find_all(exp.Table):
        known = schema.table(table.name)
        if known is None:
            return sql
        joined[(table.alias or table.name).lower()] = known
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    added: dict[str, str] = {}  # table name (lower) -> its alias in the repaired query
    changed = False
    clauses = (exp.Where, exp.Group, exp.Having, exp.Order, exp.Join)
    columns = list(tree.find_all(exp.Column))
    moved: dict[tuple[str, str], str] = {}  # (qualifier, name) of a select-list column -> its new alias
    for column in sorted(columns, key=lambda c: c.find_ancestor(*clauses) is not None):
        name, qualifier = column.name.lower(), column.table.lower()
        if not name or (not qualifier and name in aliases) or qualifier in added.values():
            continue
        if (qualifier, name) in moved:  # the same column again, in a later clause
            column.set("table", exp.to_identifier(moved[qualifier, name]))
            continue
        if qualifier in joined and joined[qualifier].column(name):
            continue
        if not qualifier and any(t.column(name) for t in joined.values()):
            continue
        if qualifier in joined and any(t.column(name) for t in joined.values()):
            return sql  # another table of the query has it: the closest-name repair's case
        if column.find_ancestor(*clauses):
            return sql  # a clause that broke down (trim-clauses cuts it), not a column the answer shows
        present = {t.name.lower() for t in joined.values()}
        owners = [t for t in schema.tables if t.column(name) and t.name.lower() not in present]
        found = [(owner, link) for owner in owners for link in _link(schema, owner, joined)]
        if len(found) != 1:
            return sql
        owner, (own_column, other) = found[0]
        fresh = qualifier if qualifier and qualifier not in joined else owner.name
        alias = added.get(owner.name.lower()) or fresh
        if owner.name.lower() not in added:
            added[owner.name.lower()] = alias
            on = f"{alias}.{own_column} = {other}"
            tree = tree.join(f"{owner.name} AS {alias}", on=on, dialect="duckdb", copy=False)
            joined[alias] = owner  # a later column may be joined through it
        column.set("table", exp.to_identifier(alias))
        moved[qualifier, name] = alias
        changed = True
    return tree.sql(dialect="duckdb") if changed else sql


@hookimpl
def register_sql_repairers(register):
    register(repair_names, name="closest-names")
