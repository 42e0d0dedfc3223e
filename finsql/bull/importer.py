"""``finsql bull import``: BULL schemas and questions to DuckDB databases, pair files and a manifest.

Layout of the output folder::

    manifest.json                  counts, dropped items and why, seeds, source path and sha256
    train.jsonl, dev.jsonl         usable pairs (question, sql in DuckDB, db, category, q_id, sqlite)
    train.dropped.jsonl, dev...    the others, with ``stage`` (transpile, bind, execution, empty) and reason
    <db>/instance-<k>.duckdb       test-suite instances of each database (same schema, different rows)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import sqlglot
from sqlglot import exp

from finsql import __version__
from finsql.bull.candidates import CandidateFinder
from finsql.bull.categories import categories
from finsql.bull.constraints import query_branches
from finsql.bull.ddl import create_statements, foreign_keys, insertion_order
from finsql.bull.dialect import TranspileError, to_duckdb_tree
from finsql.bull.keys import key_groups
from finsql.bull.rows import InstanceBuilder, Plan
from finsql.bull.samplers import Sampler
from finsql.bull.source import SPLITS, BullItem, DbSpec, load_source
from finsql.bull.suite import INSTANCE_GLOB, MANIFEST, instance_name
from finsql.errors import DatabaseError, UsageError, first_line
from finsql.storage import write_json_atomic, write_text_atomic

_GOLD_MAX_ROWS = 100_000
_GOLD_CONFIG = {"threads": 1, "enable_external_access": False}
_YEAR_LITERAL = re.compile(r"'((?:19|20)\d\d)")
_UNPADDED = re.compile(r"strftime\(\s*'%[md]'\s*,[^)]*\)\s*=\s*'?\d'?(?![\d'])", re.IGNORECASE)


@dataclass
class Outcome:
    """One BULL item after import: its DuckDB SQL and labels, or the stage where it was dropped."""

    item: BullItem
    sql: str = ""
    category: list[str] = field(default_factory=list)
    stage: str = ""
    reason: str = ""

    @property
    def usable(self) -> bool:
        return not self.stage

    def record(self) -> dict:
        """The JSONL object written to the pair file (or the dropped file, with stage and reason)."""
        record = {
            "question": self.item.question,
            "sql": self.sql,
            "db": self.item.db,
            "category": self.category,
            "q_id": self.item.q_id,
            "sqlite": self.item.sql,
        }
        return record if self.usable else {**record, "stage": self.stage, "reason": self.reason}


def _year_span(items: list[BullItem]) -> tuple[int, int]:
    """Years the generated dates cover: from the earliest year the SQL names (at least 1990) to now."""
    years = [int(y) for item in items for y in _YEAR_LITERAL.findall(item.sql)]
    today = dt.date.today().year
    return (max(1990, min([*years, 2010])), today)


def _plans(
    db: DbSpec, trees: list[exp.Expression], samplers: dict[tuple[str, str], Sampler], finder: CandidateFinder
) -> list[Plan]:
    """The seeding plans of every transpiled query of ``db``."""
    plans = []
    for tree in trees:
        for branch in query_branches(tree, db):
            choices = {
                ref: finder.satisfying(samplers[(branch.aliases[ref[0]], ref[1])], predicates)
                for ref, predicates in branch.predicates.items()
                if (branch.aliases[ref[0]], ref[1]) in samplers
            }
            plans.append(Plan(branch.aliases, choices, branch.joins, branch.group_columns, branch.min_rows))
    return plans


def _with_domains(db: DbSpec, samplers: dict, plans: list[Plan]) -> None:
    """Let random text values include the values the gold SQL names for that column."""
    named: dict[tuple[str, str], set[str]] = {}
    for plan in plans:
        for (alias, column), values in plan.choices.items():
            named.setdefault((plan.aliases[alias], column), set()).update(
                v for v in values if isinstance(v, str)
            )
    for key, values in named.items():
        if samplers[key].column.kind == "text":
            samplers[key].domain = sorted(values)


def _write_instance(path: Path, db: DbSpec, statements: list[str], order: list[str], frames) -> int:
    """Build one instance in a temporary file beside ``path`` and rename it into place; its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        con = duckdb.connect(tmp, config={"threads": 1})
        try:
            con.execute("BEGIN")
            for statement in statements:
                con.execute(statement)
            for table in order:
                con.register("frame", frames[table])
                con.execute(f'INSERT INTO "{table}" SELECT * FROM frame')
                con.unregister("frame")
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
    except duckdb.Error as exc:
        raise DatabaseError(f"could not build {path}: {first_line(exc)}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
        Path(tmp + ".wal").unlink(missing_ok=True)
    return path.stat().st_size


def _vacuous(rows: list[tuple]) -> bool:
    """No rows, or only NULLs and zeros (a count or sum of nothing)."""
    return all(v is None or (isinstance(v, (int, float)) and v == 0) for row in rows for v in row)


def _check_gold(outcomes: list[Outcome], instances: list[Path]) -> None:
    """Drop the items whose gold SQL fails, or is empty on every instance (each query runs until one
    instance gives it a meaningful result)."""
    pending = [o for o in outcomes if o.usable]
    for path in instances:
        con = duckdb.connect(str(path), read_only=True, config=dict(_GOLD_CONFIG))
        try:
            still = []
            for outcome in pending:
                try:
                    rows = con.execute(outcome.sql).fetchmany(_GOLD_MAX_ROWS)
                except duckdb.Error as exc:
                    binding = isinstance(
                        exc, (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException)
                    )
                    outcome.stage = "bind" if binding else "execution"
                    outcome.reason = first_line(exc)
                    continue
                if _vacuous(rows):
                    still.append(outcome)
            pending = still
        finally:
            con.close()
    for outcome in pending:
        outcome.stage = "empty"
        outcome.reason = f"no rows (or only NULL/0) on all {len(instances)} instances"
        if _UNPADDED.search(outcome.item.sql):
            outcome.reason += "; the SQLite gold compares strftime('%m'/'%d') with an unpadded number"


def _import_database(
    db: DbSpec, number: int, items: list[BullItem], out: Path, instances: int, seed: int
) -> tuple[list[Outcome], dict]:
    """Transpile, plan, generate and check one database; its outcomes and manifest entry."""
    groups = key_groups(db)
    notes = foreign_keys(db, groups)
    timestamps = db.timestamp_columns
    outcomes, trees = [], []
    for item in items:
        outcome = Outcome(item)
        try:
            tree = to_duckdb_tree(item.sql, timestamps)
            outcome.sql = tree.sql("duckdb")
            outcome.category = categories(tree)
            trees.append(tree)
        except TranspileError as exc:
            outcome.stage, outcome.reason = "transpile", str(exc)
        outcomes.append(outcome)
    years = _year_span(items)
    samplers = {(t.name.lower(), c.name.lower()): Sampler(c, years) for t in db.tables for c in t.columns}
    finder = CandidateFinder(np.random.default_rng([seed, number]))
    plans = _plans(db, trees, samplers, finder)
    _with_domains(db, samplers, plans)
    statements, order = create_statements(db, groups, notes), insertion_order(db, notes)
    paths, sizes, rows = [], [], {}
    for k in range(instances):
        rng = np.random.default_rng([seed, number, k])
        builder = InstanceBuilder(db, groups, samplers, rng)
        for index in rng.permutation(len(plans)):
            builder.add(plans[index])
        frames = builder.frames()
        path = out / db.name / instance_name(k)
        sizes.append(_write_instance(path, db, statements, order, frames))
        paths.append(path)
        for table, frame in frames.items():
            rows.setdefault(table, []).append(len(frame))
    for stale in (out / db.name).glob(INSTANCE_GLOB):
        if stale not in paths:
            stale.unlink()
    _check_gold(outcomes, paths)
    entry = {
        "tables": len(db.tables),
        "columns": sum(len(t.columns) for t in db.tables),
        "instances": [str(p.relative_to(out)) for p in paths],
        "bytes": sizes,
        "rows": rows,
        "year_span": list(years),
        "seeding_plans": len(plans),
        "key_groups": [
            {"master": g.master, "tables": len(g.columns), "attributes": list(g.attributes)} for g in groups
        ],
        "foreign_keys": [asdict(n) for n in notes],
    }
    return outcomes, entry


def _counts(outcomes: list[Outcome]) -> dict:
    counts: dict = {}
    for outcome in outcomes:
        by_db = counts.setdefault(outcome.item.split, {}).setdefault(
            outcome.item.db, {"total": 0, "usable": 0, "transpile": 0, "bind": 0, "execution": 0, "empty": 0}
        )
        by_db["total"] += 1
        by_db[outcome.stage or "usable"] += 1
    return counts


def import_bull(
    source: str | Path, out: str | Path, instances: int = 3, seed: int = 0, force: bool = False
) -> dict:
    """Import a BULL folder into ``out``; returns the manifest (also written as ``out/manifest.json``)."""
    if instances < 1:
        raise UsageError("--instances must be at least 1")
    start = time.perf_counter()
    out = Path(out)
    if (out / MANIFEST).exists() and not force:
        raise UsageError(f"{out} already holds an import; give --force to replace it")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is not a folder")
    bull = load_source(source)
    outcomes: list[Outcome] = []
    databases = {}
    for number, db in enumerate(bull.databases):
        items = [item for item in bull.items if item.db == db.name]
        done, entry = _import_database(db, number, items, out, instances, seed)
        outcomes += done
        databases[db.name] = entry
    for split in SPLITS:
        chosen = [o for o in outcomes if o.item.split == split]
        for name, keep in ((f"{split}.jsonl", True), (f"{split}.dropped.jsonl", False)):
            lines = [json.dumps(o.record(), ensure_ascii=False) for o in chosen if o.usable is keep]
            write_text_atomic(out / name, "".join(line + "\n" for line in lines))
    manifest = {
        "source": str(Path(source).resolve()),
        "sha256": bull.sha256,
        "seed": seed,
        "instances": instances,
        "instance_seeds": [
            [seed, number, k] for number in range(len(bull.databases)) for k in range(instances)
        ],
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"finsql": __version__, "sqlglot": sqlglot.__version__, "duckdb": duckdb.__version__},
        "pair_files": {split: f"{split}.jsonl" for split in SPLITS}
        | {f"{split}_dropped": f"{split}.dropped.jsonl" for split in SPLITS},
        "counts": _counts(outcomes),
        "databases": databases,
        "dropped": [
            {
                "split": o.item.split,
                "q_id": o.item.q_id,
                "db": o.item.db,
                "stage": o.stage,
                "reason": o.reason,
            }
            for o in outcomes
            if not o.usable
        ],
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest
