"""What an answer shows: not a column its own WHERE fixes to one value.

"Which bonds are rated AAA?" answered ``SELECT bond_name, credit_rating FROM bond WHERE credit_rating =
'AAA'`` repeats 'AAA' on every row; the question asked for the bonds. Every gold query of the demo's
training, held-out and everyday files (and BULL's) shows such a column nowhere, so ``without_fixed``
drops a shown column that a top-level ``column = 'literal'`` condition (joined by AND only) fixes, as long
as something else is still shown.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from finsql.ask.sqlcheck import parse_query


def without_fixed(sql: str) -> str | None:
    """``sql`` without the shown columns its WHERE fixes to one literal; None when it shows none or
    nothing else."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select):
        return None
    where = tree.args.get("where")
    if where is None:
        return None
    fixed = {_key(c.this) for c in conjuncts(where.this) if _fixes(c)}
    kept = [e for e in tree.expressions if _key(e.this if isinstance(e, exp.Alias) else e) not in fixed]
    if len(kept) == len(tree.expressions) or not kept:
        return None
    out = tree.copy()
    out.set("expressions", [e.copy() for e in kept])
    return out.sql(dialect="duckdb")


def conjuncts(node: exp.Expression) -> list[exp.Expression]:
    """The conditions ANDed together at the top of a WHERE (through parentheses)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


def without_conditions(tree: exp.Select, drop: Callable[[exp.Expression], bool]) -> exp.Select:
    """A copy of ``tree`` whose WHERE keeps the top-level conditions ``drop`` does not pick (none left: no
    WHERE), so a step can put its own in their place."""
    where = tree.args.get("where")
    kept = [c for c in conjuncts(where.this) if not drop(c)] if where is not None else []
    out = tree.copy()
    out.set("where", None)
    for condition in kept:
        out = out.where(condition.copy(), append=True, copy=False)
    return out


def _fixes(condition: exp.Expression) -> bool:
    """Whether ``condition`` is ``column = 'literal'`` (a string; a number may be a figure asked about)."""
    return (
        isinstance(condition, exp.EQ)
        and isinstance(condition.this, exp.Column)
        and isinstance(condition.expression, exp.Literal)
        and condition.expression.is_string
    )


def _key(node: exp.Expression) -> tuple[str, str] | None:
    """A column as (qualifier, name), lower case; None for anything else."""
    if not isinstance(node, exp.Column):
        return None
    return node.table.lower(), node.name.lower()
