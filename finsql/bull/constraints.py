"""What a gold query asks of the rows: per table alias, the single-column predicates of each OR branch.

Every query scope's WHERE and JOIN ... ON conditions are put in disjunctive normal form. A leaf that reads
one column (``col = 'x'``, ``STRFTIME(col, '%Y') > '2018'``, ``col LIKE '300%'``, ``col IN (...)``...)
becomes a ``Predicate`` on that column; ``a.k = b.k`` between two aliases becomes a join edge. Leaves with
subqueries or several columns are left to chance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from finsql.bull.source import DbSpec

MAX_BRANCHES = 8
MAX_GROUP_ROWS = 60

ColumnRef = tuple[str, str]  # (alias key, lower-case column name)


@dataclass(frozen=True)
class Predicate:
    """A leaf condition on one column; ``sql`` reads the column as ``v``; ``constants`` guide proposals."""

    sql: str
    constants: tuple[str, ...]


@dataclass
class Branch:
    """One conjunction of a query scope: table of each alias, predicates per column, equal column pairs."""

    aliases: dict[str, str]
    predicates: dict[ColumnRef, list[Predicate]] = field(default_factory=dict)
    joins: list[tuple[ColumnRef, ColumnRef]] = field(default_factory=list)
    group_columns: list[ColumnRef] = field(default_factory=list)
    min_rows: int = 1


def _dnf(node: exp.Expression | None) -> list[list[exp.Expression]]:
    """The leaves of ``node`` as a list of conjunctions (at most MAX_BRANCHES)."""
    if node is None:
        return [[]]
    if isinstance(node, exp.Paren):
        return _dnf(node.this)
    if isinstance(node, exp.And):
        left, right = _dnf(node.this), _dnf(node.expression)
        return [a + b for a in left for b in right][:MAX_BRANCHES]
    if isinstance(node, exp.Or):
        return (_dnf(node.this) + _dnf(node.expression))[:MAX_BRANCHES]
    return [[node]]


class _Resolver:
    """Maps the columns of one scope to ``(alias key, column)`` through the scope and its parents."""

    def __init__(self, scope: Scope, keys: dict[int, str], mapping: dict[str, dict[str, str]]) -> None:
        self.scope, self.keys, self.mapping = scope, keys, mapping

    def tables(self, scope: Scope) -> dict[str, str]:
        return {
            alias: source.name.lower()
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and source.name.lower() in self.mapping
        }

    def resolve(self, column: exp.Column) -> ColumnRef | None:
        name, qualifier = column.name.lower(), column.table.lower()
        scope: Scope | None = self.scope
        while scope is not None:
            tables = self.tables(scope)
            if qualifier:
                if qualifier in tables:
                    known = name in self.mapping[tables[qualifier]]
                    return (f"{self.keys[id(scope)]}:{qualifier}", name) if known else None
            else:
                owners = [a for a, t in tables.items() if name in self.mapping[t]]
                if owners:
                    return (f"{self.keys[id(scope)]}:{owners[0]}", name)
            scope = scope.parent
        return None


def _constants(leaf: exp.Expression) -> tuple[str, ...]:
    """The column-free parts of a leaf as SQL: literals and expressions such as ``CURRENT_DATE - ...``."""
    found: list[str] = []

    def visit(node: exp.Expression) -> None:
        if isinstance(node.parent, exp.TimeToStr) and node.arg_key == "format":
            return
        if isinstance(node, exp.Literal) or (
            not isinstance(node, (exp.DataType, exp.Var))
            and not node.find(exp.Column)
            and node.find(exp.Func, exp.CurrentDate)
        ):
            found.append(node.sql("duckdb"))
            return
        for child in node.iter_expressions():
            visit(child)

    visit(leaf)
    return tuple(dict.fromkeys(found))


def _add_leaf(branch: Branch, leaf: exp.Expression, resolver: _Resolver) -> None:
    if leaf.find(exp.Select, exp.Subquery, exp.AggFunc, exp.Star):
        return
    refs = set()
    for column in leaf.find_all(exp.Column):
        ref = resolver.resolve(column)
        if ref is None:
            return
        refs.add(ref)
    if len(refs) == 1:
        (ref,) = refs
        reading_v = leaf.copy().transform(
            lambda n: exp.column("v") if isinstance(n, exp.Column) else n, copy=False
        )
        branch.predicates.setdefault(ref, []).append(
            Predicate(reading_v.sql("duckdb", copy=False), _constants(leaf))
        )
    elif (
        len(refs) == 2
        and isinstance(leaf, exp.EQ)
        and isinstance(leaf.this, exp.Column)
        and isinstance(leaf.expression, exp.Column)
    ):
        left, right = (resolver.resolve(leaf.this), resolver.resolve(leaf.expression))
        branch.joins.append((left, right))


def _min_rows(select: exp.Expression) -> int:
    """Rows a group needs for ``HAVING COUNT(...) > n`` (or ``>= n``) to hold; 1 without such a test."""
    having = select.args.get("having")
    needed = 1
    for test in having.find_all(exp.GT, exp.GTE) if having else []:
        if isinstance(test.this, exp.Count) and isinstance(test.expression, exp.Literal):
            try:
                bound = int(float(test.expression.name))
            except ValueError:
                continue
            needed = max(needed, bound + int(isinstance(test, exp.GT)))
    return min(needed, MAX_GROUP_ROWS)


def query_branches(query: str | exp.Expression, db: DbSpec) -> list[Branch]:
    """The branches of every scope of a DuckDB query (SQL or tree) over ``db``; none if it does not parse."""
    try:
        tree = sqlglot.parse_one(query, read="duckdb") if isinstance(query, str) else query
        scopes = traverse_scope(tree)
    except (SqlglotError, RecursionError, ValueError):
        return []
    keys = {id(scope): str(number) for number, scope in enumerate(scopes)}
    mapping = db.mapping
    branches: list[Branch] = []
    for scope in scopes:
        resolver = _Resolver(scope, keys, mapping)
        aliases = {f"{keys[id(scope)]}:{a}": t for a, t in resolver.tables(scope).items()}
        if not aliases:
            continue
        select = scope.expression
        conditions = [j.args["on"] for j in select.args.get("joins") or [] if j.args.get("on")]
        group = select.args.get("group")
        grouped = [resolver.resolve(c) for c in group.find_all(exp.Column)] if group else []
        where = select.args.get("where")
        for leaves in _dnf(where.this if where else None):
            branch = Branch(
                dict(aliases), group_columns=[g for g in grouped if g], min_rows=_min_rows(select)
            )
            for leaf in leaves + [leaf for on in conditions for conj in _dnf(on) for leaf in conj]:
                _add_leaf(branch, leaf, resolver)
            branches.append(branch)
    return branches
