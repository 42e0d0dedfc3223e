"""Generated database contents, test-suite style: rows that make the gold queries meaningful.

Each branch of each gold query (a ``Plan``) gets a few seeded rows in every table it reads: the columns it
constrains take values DuckDB confirmed satisfy the predicates, rows of joined aliases share an entity
(same key, same ``SecuCode``/``ChiNameAbbr``...) or the joined value, and the other columns are random.
Random filler rows around them give filters, ORDER BY and aggregates something to discriminate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from finsql.bull.constraints import ColumnRef
from finsql.bull.keys import ENTITY_KEY, KeyGroup
from finsql.bull.samplers import NULL_SHARE, Sampler
from finsql.bull.source import DbSpec, TableSpec

FILL_ROWS = 400
BASE_ENTITIES = 80
_KEY_BASE = 1_000_000


@dataclass
class Plan:
    """One branch of one gold query with the satisfying values of each column it constrains."""

    aliases: dict[str, str]
    choices: dict[ColumnRef, list]
    joins: list[tuple[ColumnRef, ColumnRef]]
    group_columns: list[ColumnRef]
    min_rows: int


class InstanceBuilder:
    """Rows of one database instance: entities per key group, seeded rows per plan, random filler."""

    def __init__(
        self,
        db: DbSpec,
        groups: list[KeyGroup],
        samplers: dict[tuple[str, str], Sampler],
        rng: np.random.Generator,
        fill_rows: int = FILL_ROWS,
    ) -> None:
        self.db, self.groups, self.samplers, self.rng, self.fill_rows = db, groups, samplers, rng, fill_rows
        self.entities: list[list[dict]] = [[] for _ in groups]
        self.index: list[dict[tuple[str, object], int]] = [{} for _ in groups]
        self.master_rows: list[list[dict]] = [[] for _ in groups]
        self.seeds: dict[str, list[dict]] = {t.name.lower(): [] for t in db.tables}
        for number, group in enumerate(groups):
            if group.master:
                for _ in range(BASE_ENTITIES):
                    self._new_entity(number)

    def _sampler(self, table: str, column: str) -> Sampler:
        return self.samplers[(table, column)]

    def _new_entity(self, g: int) -> int:
        """A new entity of group ``g`` with a synthetic key and synthetic attributes."""
        group, number = self.groups[g], len(self.entities[g])
        master = group.master or next(iter(group.columns))
        key_column = group.columns[master]
        key: object = _KEY_BASE + number
        if self._sampler(master, key_column).column.kind == "text":
            key = f"K{number:07d}"
        entity: dict = {ENTITY_KEY: key}
        for attribute in group.attributes:
            owner = next(t for t in group.columns if (t, attribute) in self.samplers)
            entity[attribute] = self._sampler(owner, attribute).synthetic_text(np.array([900_000 + number]))[
                0
            ]
        self.entities[g].append(entity)
        self.master_rows[g].append({})
        for role, value in entity.items():
            self.index[g].setdefault((role, value), number)
        return number

    def _entity_for(self, g: int, role: str, value: object) -> int:
        """The entity whose ``role`` value is ``value``, created when there is none."""
        found = self.index[g].get((role, value))
        if found is not None:
            return found
        number = self._new_entity(g)
        self.index[g].pop((role, self.entities[g][number][role]), None)
        self.entities[g][number][role] = value
        self.index[g][(role, value)] = number
        return number

    def _role(self, table: str, column: str) -> tuple[int, str] | None:
        for g, group in enumerate(self.groups):
            role = group.role(table, column) if group.master else None
            if role:
                return g, role
        return None

    def add(self, plan: Plan) -> None:
        """Seed the rows that make one plan's conditions true."""
        rng = self.rng
        picked = {
            ref: values[int(rng.integers(len(values)))] for ref, values in plan.choices.items() if values
        }
        for alias, column in plan.group_columns:  # one group gets all the seeded rows
            if (alias, column) not in picked:
                picked[(alias, column)] = self._sampler(plan.aliases[alias], column).sample(1, rng)[0]
        binding, handled = self._bind(plan, picked)
        count = max(1 + int(rng.integers(0, 2)) + int(bool(plan.group_columns)), plan.min_rows)
        rows_of: dict[str, list[dict]] = {}
        for alias, table in plan.aliases.items():
            own = {c: v for (a, c), v in picked.items() if a == alias and self._role(table, c) is None}
            masters = [
                g for g, group in enumerate(self.groups) if group.master == table and g in binding[alias]
            ]
            if masters:
                g = masters[0]
                extra = [self._new_entity(g) for _ in range(plan.min_rows - 1)]
                rows_of[alias] = [self.master_rows[g][e] for e in [binding[alias][g], *extra]]
                for row in rows_of[alias]:
                    row.update(own)
            else:
                bound = {("@", g): e for g, e in binding[alias].items()}
                rows_of[alias] = [{**own, **bound} for _ in range(count)]
                self.seeds[table].extend(rows_of[alias])
        for number, ((a1, c1), (a2, c2)) in enumerate(plan.joins):
            if number not in handled:
                self._equalise(plan, picked, binding, rows_of, (a1, c1), (a2, c2))

    def _bind(self, plan: Plan, picked: dict) -> tuple[dict[str, dict[int, int]], set[int]]:
        """The entity of each alias in each key group; joined aliases share one. Also the handled joins."""
        parent: dict[tuple[str, int], tuple[str, int]] = {}

        def find(node: tuple[str, int]) -> tuple[str, int]:
            parent.setdefault(node, node)
            while parent[node] != node:
                node = parent[node]
            return node

        handled = set()
        for number, ((a1, c1), (a2, c2)) in enumerate(plan.joins):
            r1, r2 = self._role(plan.aliases[a1], c1), self._role(plan.aliases[a2], c2)
            if r1 and r1 == r2:
                parent[find((a1, r1[0]))] = find((a2, r2[0]))
                handled.add(number)
        classes: dict[tuple[str, int], list[str]] = {}
        for alias, table in plan.aliases.items():
            for g, group in enumerate(self.groups):
                if group.master and table in group.columns:
                    classes.setdefault(find((alias, g)), []).append(alias)
        binding: dict[str, dict[int, int]] = {alias: {} for alias in plan.aliases}
        for (_, g), aliases in classes.items():
            entity = None
            for alias in aliases:
                for (a, column), value in picked.items():
                    role = self.groups[g].role(plan.aliases[alias], column) if a == alias else None
                    if role and entity is None:
                        entity = self._entity_for(g, role, value)
            if entity is None:
                fresh = (
                    any(plan.aliases[a] == self.groups[g].master for a in aliases) or self.rng.random() < 0.5
                )
                entity = self._new_entity(g) if fresh else int(self.rng.integers(len(self.entities[g])))
            for alias in aliases:
                binding[alias][g] = entity
        return binding, handled

    def _equalise(self, plan, picked, binding, rows_of, left: ColumnRef, right: ColumnRef) -> None:
        """Give both sides of a non-key join the same value (an entity column's value wins)."""
        value = picked.get(left, picked.get(right))
        for alias, column in (left, right):
            role = self._role(plan.aliases[alias], column)
            if role and role[0] in binding[alias]:
                value = self.entities[role[0]][binding[alias][role[0]]][role[1]]
        if value is None:
            value = self._sampler(plan.aliases[left[0]], left[1]).sample(1, self.rng)[0]
        for alias, column in (left, right):
            if self._role(plan.aliases[alias], column) is None:
                for row in rows_of[alias]:
                    row[column] = value

    def frames(self) -> dict[str, pd.DataFrame]:
        """One DataFrame per table, columns in schema order, rows shuffled, ``id`` numbered from 1."""
        return {table.name: self._frame(table) for table in self.db.tables}

    def _frame(self, table: TableSpec) -> pd.DataFrame:
        name, rng = table.name.lower(), self.rng
        mastered = [g for g, group in enumerate(self.groups) if group.master == name]
        rows = self.master_rows[mastered[0]] if mastered else self.seeds[name]
        n = len(rows) + (0 if mastered else self.fill_rows)
        values: dict[str, list] = {}
        for column in table.columns:
            low = column.name.lower()
            cells = self._sampler(name, low).sample(n, rng)
            if self._role(name, low) is None and low not in (k.lower() for k in table.primary_key):
                for i in np.flatnonzero(rng.random(n) < NULL_SHARE):
                    cells[i] = None
            values[low] = cells
        for g, group in enumerate(self.groups):
            if not group.master or name not in group.columns:
                continue
            if g in mastered:
                chosen = np.arange(n)
            else:
                chosen = rng.integers(0, len(self.entities[g]), n)
                for i, row in enumerate(rows):
                    chosen[i] = row.get(("@", g), chosen[i])
            for column in table.columns:
                role = group.role(name, column.name.lower())
                if role:
                    entities = self.entities[g]
                    values[column.name.lower()] = [entities[e][role] for e in chosen]
        for i, row in enumerate(rows):
            for column, value in row.items():
                if isinstance(column, str):
                    values[column][i] = value
        order = rng.permutation(n)
        frame = pd.DataFrame(
            {c.name: _typed(_reordered(values[c.name.lower()], order), c.kind) for c in table.columns}
        )
        for key in table.primary_key:
            frame[key] = np.arange(1, n + 1)
        return frame


def _reordered(cells: list, order: np.ndarray) -> list:
    array = np.empty(len(cells), dtype=object)
    array[:] = cells
    return array[order].tolist()


def _typed(cells: list, kind: str) -> pd.Series:
    if kind == "int":
        return pd.Series(pd.array([None if v is None else int(v) for v in cells], dtype="Int64"))
    if kind == "float":
        return pd.Series(pd.array([None if v is None else float(v) for v in cells], dtype="Float64"))
    if kind == "timestamp":
        return pd.Series(pd.to_datetime(cells), dtype="datetime64[us]")
    return pd.Series(cells, dtype=object)
