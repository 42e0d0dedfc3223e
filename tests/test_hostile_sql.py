"""Hostile SQL must be refused by both layers: check_sql, and the sandboxed engine on its own."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import duckdb
import pytest

from finsql.ask.sqlcheck import check_sql
from finsql.db.sandbox import QueryResult, connect, run_query
from finsql.db.schema import Schema, introspect
from finsql.errors import DatabaseError, QueryFailed, SQLRefused

DDL = """
CREATE TABLE fund (fund_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, manager VARCHAR);
CREATE TABLE stock (stock_id INTEGER PRIMARY KEY, ticker VARCHAR NOT NULL);
CREATE TABLE price (stock_id INTEGER REFERENCES stock (stock_id), day DATE, close DOUBLE,
                    PRIMARY KEY (stock_id, day));
INSERT INTO fund VALUES (1, 'Alpha Growth', 'Ann'), (2, 'Beta Income', 'Bob');
INSERT INTO stock VALUES (10, 'ACME'), (11, 'BOLT');
INSERT INTO price VALUES (10, DATE '2024-01-02', 10.5), (10, DATE '2024-01-03', 11.0),
                         (11, DATE '2024-01-02', 20.0);
"""

Baseline = tuple[dict[str, str], dict[str, object]]

# {d} is the fixture folder, which holds funds.duckdb, other.duckdb, data.csv, data.parquet and dump/.
HOSTILE = [
    "DROP TABLE fund",
    "DROP SCHEMA main CASCADE",
    "DELETE FROM price",
    "UPDATE fund SET name = 'pwned'",
    "INSERT INTO fund VALUES (3, 'Gamma', 'Eve')",
    "INSERT INTO fund SELECT fund_id + 10, name, manager FROM fund",
    "INSERT OR REPLACE INTO fund VALUES (1, 'Replaced', 'Eve')",
    "INSERT INTO fund VALUES (1, 'x', 'y') ON CONFLICT (fund_id) DO UPDATE SET name = 'upserted'",
    "MERGE INTO fund USING stock ON fund.fund_id = stock.stock_id WHEN MATCHED THEN DELETE",
    "TRUNCATE price",
    "CREATE TABLE copy_of_fund AS SELECT * FROM fund",
    "CREATE TEMP TABLE scratch AS SELECT * FROM fund",
    "CREATE OR REPLACE TABLE fund AS SELECT 1 AS fund_id",
    "CREATE VIEW v AS SELECT * FROM fund",
    "CREATE MACRO twice(a) AS a * 2",
    "CREATE SEQUENCE seq",
    "CREATE INDEX idx ON fund (name)",
    "CREATE TYPE mood AS ENUM ('up', 'down')",
    "ALTER TABLE fund ADD COLUMN x INTEGER",
    "ALTER TABLE fund RENAME TO fund2",
    "COMMENT ON TABLE fund IS 'pwned'",
    "WITH x AS (DELETE FROM price RETURNING *) SELECT * FROM x",
    "WITH x AS (INSERT INTO fund VALUES (9, 'n', 'm') RETURNING *) SELECT * FROM x",
    "WITH x AS (UPDATE fund SET name = 'u' RETURNING *) SELECT count(*) FROM x",
    "SELECT * FROM (WITH x AS (DELETE FROM fund RETURNING fund_id) SELECT * FROM x) AS sub",
    "WITH x AS (COPY fund TO '{d}/cte.csv') SELECT * FROM x",
    "SELECT * INTO fund_copy FROM fund",
    "SELECT 1; DROP TABLE fund",
    "SELECT * FROM fund; DELETE FROM fund",
    "ATTACH '{d}/other.duckdb' AS other",
    "ATTACH '{d}/new.duckdb' AS fresh",
    "ATTACH ':memory:' AS mem",
    "DETACH funds",
    "DETACH DATABASE IF EXISTS other",
    "USE memory",
    "COPY fund TO '{d}/out.csv'",
    "COPY (SELECT * FROM fund) TO '{d}/out.parquet' (FORMAT parquet)",
    "COPY fund FROM '{d}/data.csv'",
    "EXPORT DATABASE '{d}/export'",
    "IMPORT DATABASE '{d}/dump'",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs",
    "LOAD httpfs",
    "LOAD '{d}/evil.duckdb_extension'",
    "UPDATE EXTENSIONS",
    "PRAGMA database_list",
    "PRAGMA enable_profiling",
    "SET enable_external_access = true",
    "SET threads = 1",
    "SET VARIABLE secret_var = 1",
    "RESET threads",
    "CALL pragma_version()",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    "COMMIT",
    "PREPARE p AS DELETE FROM fund",
    "EXPLAIN ANALYZE SELECT * FROM fund",
    "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "CREATE PERSISTENT SECRET p (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "SUMMARIZE fund",
    "DESCRIBE fund",
    "SHOW TABLES",
    "SELECT * FROM (DESCRIBE fund) AS d",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('{d}/data.csv')",
    "SELECT * FROM read_csv('https://example.com/data.csv')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM '{d}/data.csv'",
    "SELECT * FROM read_parquet('{d}/data.parquet')",
    "SELECT * FROM parquet_scan('{d}/data.parquet')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT name FROM fund WHERE name IN (SELECT content FROM read_text('/etc/passwd'))",
    "SELECT f.name FROM fund f JOIN read_csv('{d}/data.csv') c ON c.id = f.fund_id",
    "SELECT name FROM fund UNION ALL SELECT content FROM read_text('/etc/passwd')",
    "SELECT * FROM query('DELETE FROM fund')",
    "SELECT getenv('HOME')",
]


def _make_fixture_dir(d: Path) -> None:
    """Build funds.duckdb plus real files a hostile statement could read or overwrite."""
    con = duckdb.connect(str(d / "funds.duckdb"))
    con.execute(DDL)
    con.execute(f"EXPORT DATABASE '{d / 'dump'}'")
    con.execute(f"COPY (SELECT 1 AS id, 'secret' AS v) TO '{d / 'data.csv'}'")
    con.execute(f"COPY (SELECT 1 AS id, 'secret' AS v) TO '{d / 'data.parquet'}' (FORMAT parquet)")
    con.close()
    other = duckdb.connect(str(d / "other.duckdb"))
    other.execute("CREATE TABLE t AS SELECT 1 AS x")
    other.close()


def _files(d: Path) -> dict[str, str]:
    """Every file under ``d`` with its content hash."""
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in d.rglob("*") if p.is_file()
    }


def _catalog(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Databases, tables (temporary ones included), views, macros, sequences, settings and row counts."""
    tables = con.execute(
        "SELECT database_name, schema_name, table_name, temporary FROM duckdb_tables() ORDER BY ALL"
    ).fetchall()
    return {
        "databases": con.execute("SELECT database_name FROM duckdb_databases() ORDER BY 1").fetchall(),
        "tables": tables,
        "views": con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall(),
        "macros": con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE NOT internal ORDER BY 1"
        ).fetchall(),
        "sequences": con.execute("SELECT sequence_name FROM duckdb_sequences() ORDER BY 1").fetchall(),
        "columns": con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() ORDER BY ALL"
        ).fetchall(),
        "settings": con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'threads', 'access_mode', 'enable_profiling') ORDER BY 1"
        ).fetchall(),
        "rows": {t[2]: con.execute(f'SELECT count(*) FROM "{t[2]}"').fetchone()[0] for t in tables},
        "data": con.execute("SELECT * FROM fund ORDER BY fund_id").fetchall(),
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    _make_fixture_dir(d)
    return d


@pytest.fixture(scope="module")
def sandboxed(folder: Path):
    con = connect(folder / "funds.duckdb")
    yield con
    con.close()


@pytest.fixture(scope="module")
def schema(sandboxed: duckdb.DuckDBPyConnection) -> Schema:
    return introspect(sandboxed)


@pytest.fixture(scope="module")
def baseline(folder: Path, sandboxed: duckdb.DuckDBPyConnection) -> Baseline:
    return _files(folder), _catalog(sandboxed)


def test_list_is_long_enough() -> None:
    assert len(HOSTILE) >= 35
    assert len(set(HOSTILE)) == len(HOSTILE)


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_refused_by_both_layers(
    template: str,
    folder: Path,
    sandboxed: duckdb.DuckDBPyConnection,
    schema: Schema,
    baseline: Baseline,
) -> None:
    sql = template.format(d=folder)
    with pytest.raises(SQLRefused) as refused:
        check_sql(sql, schema)
    assert "\n" not in str(refused.value)

    with pytest.raises((SQLRefused, QueryFailed)) as engine:  # validator bypassed
        run_query(sandboxed, sql, timeout_s=5)
    assert "\n" not in str(engine.value)

    files, catalog = baseline
    assert _files(folder) == files  # database bytes unchanged, no file created or touched
    assert _catalog(sandboxed) == catalog
    assert run_query(sandboxed, "SELECT count(*) FROM fund").rows == [(2,)]  # connection still healthy


def test_database_file_unchanged_after_all(folder: Path, baseline: Baseline) -> None:
    assert _files(folder)["funds.duckdb"] == baseline[0]["funds.duckdb"]
    for name in ("new.duckdb", "out.csv", "out.parquet", "export", "cte.csv"):
        assert not (folder / name).exists()


def test_sandbox_settings_locked(sandboxed: duckdb.DuckDBPyConnection) -> None:
    result = run_query(
        sandboxed,
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('access_mode', 'enable_external_access', "
        "'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions', "
        "'allow_community_extensions', 'allow_unsigned_extensions') ORDER BY name",
    )
    assert dict(result.rows) == {
        "access_mode": "read_only",
        "enable_external_access": "false",
        "lock_configuration": "true",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
        "allow_unsigned_extensions": "false",
    }


def test_timeout_interrupts_slow_query(sandboxed: duckdb.DuckDBPyConnection) -> None:
    start = time.perf_counter()
    with pytest.raises(QueryFailed, match=r"timed out after 0.5s"):
        run_query(sandboxed, "SELECT count(*) FROM range(100000000) a, range(100000000) b", timeout_s=0.5)
    assert time.perf_counter() - start < 10
    assert run_query(sandboxed, "SELECT 42 AS answer", timeout_s=0.5).rows == [(42,)]


def test_fast_query_not_interrupted_later(sandboxed: duckdb.DuckDBPyConnection) -> None:
    run_query(sandboxed, "SELECT 1", timeout_s=0.05)
    time.sleep(0.2)  # the timer was cancelled: nothing interrupts the next query
    assert run_query(sandboxed, "SELECT count(*) FROM range(1000)").rows == [(1000,)]


def test_row_cap(sandboxed: duckdb.DuckDBPyConnection) -> None:
    capped = run_query(sandboxed, "SELECT range AS n FROM range(5000)", max_rows=1000)
    assert isinstance(capped, QueryResult)
    assert capped.columns == ["n"]
    assert len(capped.rows) == 1000 and capped.truncated
    assert capped.rows[0] == (0,) and capped.seconds >= 0
    exact = run_query(sandboxed, "SELECT fund_id, name FROM fund ORDER BY fund_id", max_rows=2)
    assert exact.columns == ["fund_id", "name"]
    assert exact.rows == [(1, "Alpha Growth"), (2, "Beta Income")] and not exact.truncated


def test_runtime_error_is_query_failed(sandboxed: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryFailed) as info:
        run_query(sandboxed, "SELECT CAST(name AS INTEGER) FROM fund")
    assert "\n" not in str(info.value)


def test_connect_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="not found"):
        connect(tmp_path / "absent.duckdb")


def test_connect_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_text("this is not a database\n" * 100)
    with pytest.raises(DatabaseError) as info:
        connect(junk)
    assert "\n" not in str(info.value)
    assert junk.read_text() == "this is not a database\n" * 100


def test_connect_directory(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="not a file"):
        connect(tmp_path)


@pytest.fixture(scope="module")
def hostile_grammar(schema: Schema, sandboxed: duckdb.DuckDBPyConnection, tiny_model_dir: Path):
    from transformers import AutoTokenizer

    from finsql.ask.grammar import sql_grammar
    from finsql.ask.linking import collect_values

    values = collect_values(sandboxed, schema, lengths=(1, 200))
    return sql_grammar(schema, values=values), AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_as_a_model_answer_with_the_grammar_on_and_off(
    template: str,
    folder: Path,
    sandboxed: duckdb.DuckDBPyConnection,
    schema: Schema,
    baseline: Baseline,
    hostile_grammar,
) -> None:
    """On: the schema grammar cannot produce the statement. Off (or if it could): the answer path, the
    vote over candidates, refuses it with the validator and the sandbox; nothing changes either way."""
    from finsql.ask.constrain import accepts
    from finsql.ask.generation import Candidate
    from finsql.ask.voting import decide

    sql = template.format(d=folder)
    grammar, tok = hostile_grammar
    assert not accepts(grammar, sql, tok)
    decision = decide([Candidate(sql, sql, -0.1, greedy=True)], schema, sandboxed, timeout_s=5)
    assert decision.best is None and decision.attempts[0].status in ("refused", "error")
    files, catalog = baseline
    assert _files(folder) == files and _catalog(sandboxed) == catalog
