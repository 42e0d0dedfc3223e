"""The demo database builder and the demo question/SQL pairs (train and held-out eval)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlglot
from finsql.data import build_demo
from sqlglot import exp

DATA = Path(build_demo.__file__).resolve().parent
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _script(name: str):
    """A developer script of ``scripts/`` imported as a module (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_pairs = _script("make_pairs")
CATEGORIES = {"filter", "aggregate", "group_by", "order_limit", "join", "date_range"}


def _read(name: str) -> list[dict]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


TRAIN = _read("train.jsonl")
EVAL = _read("eval.jsonl")
ITEMS = [pytest.param(item, id=f"train-{i}") for i, item in enumerate(TRAIN)] + [
    pytest.param(item, id=f"eval-{i}") for i, item in enumerate(EVAL)
]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def _fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Row count and an order-independent content checksum of every table."""
    return {t: con.execute(f"SELECT count(*), sum(hash(t)) FROM {t} t").fetchone() for t in _tables(con)}


def _build_fingerprint(path: Path, seed: int) -> dict[str, tuple]:
    build_demo.build(path, seed=seed)
    con = duckdb.connect(str(path), read_only=True)
    try:
        return _fingerprint(con)
    finally:
        con.close()


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-build")


@pytest.fixture(scope="module")
def demo_path(build_dir: Path) -> Path:
    path = build_dir / "demo.duckdb"
    build_demo.build(path)
    return path


@pytest.fixture(scope="module")
def con(demo_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(demo_path), read_only=True)
    yield connection
    connection.close()


# ---- the database ---------------------------------------------------------------------------


def test_build_is_deterministic(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    first = _fingerprint(con)
    assert all(checksum is not None and rows > 0 for rows, checksum in first.values())
    again = _build_fingerprint(tmp_path / "again.duckdb", seed=7)
    assert again == first
    other = _build_fingerprint(tmp_path / "other.duckdb", seed=8)
    assert other.keys() == first.keys()
    assert any(other[t][1] != first[t][1] for t in first)


def test_rebuild_replaces_target_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "demo.duckdb"
    first = _build_fingerprint(target, seed=3)
    second = _build_fingerprint(target, seed=4)
    assert first != second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb"]


def test_no_leftover_files(demo_path: Path, build_dir: Path) -> None:
    assert sorted(p.name for p in build_dir.iterdir()) == [demo_path.name]


def test_tables_and_schema_match(con: duckdb.DuckDBPyConnection) -> None:
    tables = _tables(con)
    assert len(tables) >= 10
    assert set(tables) == {name for name, *_ in build_demo.SCHEMA}


def test_every_table_and_column_has_a_comment(con: duckdb.DuckDBPyConnection) -> None:
    bare_tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND (comment IS NULL OR trim(comment) = '')"
    ).fetchall()
    assert bare_tables == []
    columns = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND NOT internal"
    ).fetchone()[0]
    assert columns >= 100
    bare_columns = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND NOT internal AND (comment IS NULL OR trim(comment) = '')"
    ).fetchall()
    assert bare_columns == []


def test_foreign_keys_declared(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT table_name, constraint_column_names, referenced_table, referenced_column_names "
        "FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND constraint_type = 'FOREIGN KEY'"
    ).fetchall()
    found = {(t, tuple(cols), ref, tuple(rcols)) for t, cols, ref, rcols in rows}
    declared = {
        (name, tuple(cols), ref, tuple(rcols))
        for name, _, _, _, fks in build_demo.SCHEMA
        for cols, ref, rcols in fks
    }
    assert declared
    assert found == declared


# ---- the pairs ------------------------------------------------------------------------------


@pytest.mark.parametrize("item", ITEMS)
def test_gold_sql_runs_and_is_non_empty(con: duckdb.DuckDBPyConnection, item: dict) -> None:
    assert set(item) == {"question", "sql", "category", "db"}
    assert item["db"] == "demo"
    assert item["question"].strip() == item["question"] and item["question"]
    sql = item["sql"]
    assert "\n" not in sql and sql == sql.strip()
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Select)
    rows = con.execute(sql).fetchall()
    assert rows, "empty result"
    assert not all(v is None for v in rows[0]) or len(rows) > 1, "a single all-NULL row"
    assert not (len(rows) == 1 and len(rows[0]) == 1 and rows[0][0] == 0), "a lone zero"
    assert item["category"], "no category"
    assert set(item["category"]) <= CATEGORIES
    assert item["category"] == make_pairs.categories(sql)


def test_train_size_and_coverage() -> None:
    assert 300 <= len(TRAIN) <= 400
    used = set()
    for item in TRAIN:
        used |= {t.name for t in sqlglot.parse_one(item["sql"], read="duckdb").find_all(exp.Table)}
    assert {name for name, *_ in build_demo.SCHEMA} <= used
    assert len({_norm(i["question"]) for i in TRAIN}) == len(TRAIN)


def test_eval_size_and_categories() -> None:
    assert len(EVAL) >= 60
    counts = {c: sum(c in item["category"] for item in EVAL) for c in CATEGORIES}
    assert all(n >= 10 for n in counts.values()), counts
    assert len({_norm(i["question"]) for i in EVAL}) == len(EVAL)


def test_eval_is_held_out() -> None:
    train_questions = {_norm(i["question"]) for i in TRAIN}
    assert not [i["question"] for i in EVAL if _norm(i["question"]) in train_questions]
    train_sql = {_norm(i["sql"]) for i in TRAIN}
    assert not [i["sql"] for i in EVAL if _norm(i["sql"]) in train_sql]
    # not mere copies of train items with a constant swapped: most eval query shapes are new
    train_shapes = {make_pairs.skeleton(i["sql"]) for i in TRAIN}
    shared = sum(make_pairs.skeleton(i["sql"]) in train_shapes for i in EVAL)
    assert shared <= len(EVAL) // 4


def test_generator_reproduces_files(demo_path: Path, con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert make_pairs.main(["--out-dir", str(tmp_path), "--db", str(demo_path)]) == 0
    for name in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_categories_from_syntax() -> None:
    cats = make_pairs.categories
    assert cats("SELECT fund_name FROM fund WHERE fund_type = 'bond'") == ["filter"]
    assert cats("SELECT fund_type, count(*) FROM fund GROUP BY fund_type") == ["aggregate", "group_by"]
    assert cats("SELECT fund_name FROM fund ORDER BY management_fee LIMIT 3") == ["order_limit"]
    joined = "SELECT s.stock_name FROM stock s JOIN industry i ON s.industry_id = i.industry_id"
    assert cats(joined) == ["join"]
    assert cats("SELECT count(*) FROM stock_daily_price WHERE year(trade_date) = 2023") == [
        "filter",
        "aggregate",
        "date_range",
    ]
    assert "date_range" in cats("SELECT * FROM fund_nav WHERE nav_date BETWEEN '2024-01-01' AND '2024-06-30'")
    assert "date_range" not in cats(
        "SELECT * FROM fund_nav n WHERE nav_date = (SELECT max(nav_date) FROM fund_nav)"
    )
    assert "order_limit" not in cats("SELECT row_number() OVER (ORDER BY unit_nav) FROM fund_nav")
