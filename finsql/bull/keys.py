"""Key groups: the tables that ``table_rel`` links through one shared key (``CompanyCode``, ``InnerCode``...).

``table_rel`` lists every pair of tables sharing a key, so each key forms a clique. Its hub (the table named
first in most pairs, e.g. ``lc_stockarchives``) becomes the master: it holds each key once (UNIQUE), the
others get a FOREIGN KEY to it. The identifying columns that most member tables repeat (``SecuCode``,
``ChiNameAbbr``...) are the entity's attributes: a generated row carries its entity's values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from finsql.bull.source import DbSpec

ENTITY_KEY = "@key"


@dataclass(frozen=True)
class KeyGroup:
    """Tables sharing one key: ``columns`` maps each table to its key column (both lower case)."""

    columns: dict[str, str]
    master: str | None
    attributes: tuple[str, ...]

    def role(self, table: str, column: str) -> str | None:
        """``ENTITY_KEY``, an attribute name, or None when ``table.column`` is not an entity column."""
        if self.columns.get(table) == column:
            return ENTITY_KEY
        if table in self.columns and column in self.attributes:
            return column
        return None


def key_groups(db: DbSpec) -> list[KeyGroup]:
    """The key groups of ``db``, from its relations (groups without a clear hub get no master)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(node: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    lefts: Counter[tuple[str, str]] = Counter()
    for left, right in db.relations:
        if not all(db.table(t) and db.table(t).column(c) for t, c in (left, right)):
            continue  # ``table_rel`` names a few columns the tables do not have
        a, b = (left[0].lower(), left[1].lower()), (right[0].lower(), right[1].lower())
        parent[find(a)] = find(b)
        lefts[a] += 1
    members: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for node in list(parent):
        members.setdefault(find(node), []).append(node)
    groups = []
    for nodes in members.values():
        columns: dict[str, str] = {}
        for table, column in sorted(nodes):
            columns.setdefault(table, column)
        hub, count = max(((n, lefts[n]) for n in nodes), key=lambda item: item[1])
        master = hub[0] if count >= 2 else None
        groups.append(KeyGroup(columns, master, _attributes(db, columns, master)))
    return sorted(groups, key=lambda g: (g.master is None, g.master or "", sorted(g.columns)))


def _attributes(db: DbSpec, columns: dict[str, str], master: str | None) -> tuple[str, ...]:
    """Text or code columns (other than the key) that at least half of the member tables have."""
    if master is None:
        return ()
    specs = [spec for spec in (db.table(t) for t in columns) if spec is not None]
    counts: Counter[str] = Counter()
    for spec in specs:
        for column in spec.columns:
            name = column.name.lower()
            if name in ("id", columns[spec.name.lower()]) or column.kind not in ("text", "int"):
                continue
            if column.kind == "text" or name.endswith("code"):
                counts[name] += 1
    return tuple(sorted(name for name, count in counts.items() if count * 2 >= len(specs)))
