"""BULL import: dialect fixes, categories, key groups, generated instances, pair files and manifest."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from finsql.ask.pairs import read_pairs
from finsql.bull.categories import categories
from finsql.bull.dialect import TranspileError, to_duckdb
from finsql.bull.importer import import_bull
from finsql.bull.keys import key_groups
from finsql.bull.source import load_source
from finsql.errors import InputError, UsageError

BULL = Path(__file__).resolve().parents[1].parent / "shared" / "bull"

DB_INFO = [
    {
        "db_name": "tiny_stock",
        "table_name": [["company", "Company profile"], ["quote", "Daily quotes"], ["holder", "Shareholders"]],
        "column_info": [
            {
                "table": "company",
                "columns": ["*", "id", "CompanyCode", "ChiNameAbbr", "SecuCode", "State", "EstablishDate"],
                "column_chiName": [
                    None,
                    "Record id",
                    "Company code",
                    "Short name",
                    "Stock code",
                    "Province",
                    "Founded",
                ],
                "columnType_MySQL": [
                    None,
                    "bigint(20)",
                    "int(11)",
                    "varchar(100)",
                    "varchar(10)",
                    "varchar(50)",
                    "datetime",
                ],
                "columnType_sqlite3": [None, "integer", "integer", "text", "text", "text", "text"],
            },
            {
                "table": "quote",
                "columns": [
                    "*",
                    "id",
                    "CompanyCode",
                    "ChiNameAbbr",
                    "SecuCode",
                    "TradingDay",
                    "ClosePrice",
                    "TurnoverRate",
                ],
                "column_chiName": [
                    None,
                    "Record id",
                    "Company code",
                    "Short name",
                    "Stock code",
                    "Day",
                    "Close price",
                    "Turnover rate (%)",
                ],
                "columnType_MySQL": [
                    None,
                    "bigint(20)",
                    "int(11)",
                    "varchar(100)",
                    "varchar(10)",
                    "datetime",
                    "decimal(10,4)",
                    "decimal(18,6)",
                ],
                "columnType_sqlite3": [None, "integer", "integer", "text", "text", "text", "real", "real"],
            },
            {
                "table": "holder",
                "columns": ["*", "id", "CompanyCode", "ChiNameAbbr", "SecuCode", "HolderName", "HoldSum"],
                "column_chiName": [
                    None,
                    "Record id",
                    "Company code",
                    "Short name",
                    "Stock code",
                    "Holder",
                    "Shares held",
                ],
                "columnType_MySQL": [
                    None,
                    "bigint(20)",
                    "int(11)",
                    "varchar(100)",
                    "varchar(10)",
                    "varchar(200)",
                    "decimal(19,2)",
                ],
                "columnType_sqlite3": [None, "integer", "integer", "text", "text", "text", "real"],
            },
        ],
        "table_rel": [
            [["company", "CompanyCode"], ["quote", "CompanyCode"]],
            [["company", "CompanyCode"], ["holder", "CompanyCode"]],
            [["quote", "CompanyCode"], ["holder", "CompanyCode"]],
        ],
        "primary_keys": [["company", "id"], ["quote", "id"], ["holder", "id"]],
    }
]

TRAIN = [
    "select closeprice from quote where chinameabbr = 'Nanhua Biology' "
    "and strftime('%Y', tradingday) = '2019'",
    "select count(*) from company where state = 'Jiangsu Province'",
    "select a.chinameabbr from company as a join holder as b on a.companycode = b.companycode "
    "where b.holdsum > 1000000 and a.state = 'Zhejiang Province'",
    "select secucode from quote where strftime('%Y', tradingday) = strftime('%Y', DATE('now', '-1 year'))",
    "select state, count(*) from company group by state having count(*) > 4",
    "select chinameabbr from company where city = 'Xi'an'",
]
DEV = [
    "select max(closeprice) from quote where secucode = '600165' and strftime('%m', tradingday) = '5'",
    "select holdername from holder where chinameabbr like '%Bank%' order by holdsum desc limit 3",
    "select chinameabbr from company where strftime('%Y', establishdate) > 2010",
    "select round(strftime('%m', tradingday)/3.0 + 0.495), avg(turnoverrate) from quote "
    "where secucode = '000822' group by 1",
    "select nosuchcolumn from quote",
]


@pytest.fixture(scope="module")
def tiny_bull(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BULL-shaped folder with one small database and a handful of questions."""
    folder = tmp_path_factory.mktemp("bull") / "BULL-xx"
    folder.mkdir()
    (folder / "db_info.json").write_text(json.dumps(DB_INFO), encoding="utf-8")
    for split, sqls in (("train", TRAIN), ("dev", DEV)):
        items = [
            {"q_id": i, "question": f"question {split} {i}", "db_name": "tiny_stock", "sql_query": sql}
            for i, sql in enumerate(sqls)
        ]
        (folder / f"{split}.json").write_text(json.dumps(items), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_import(tiny_bull: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("import")
    return out, import_bull(tiny_bull, out, instances=2, seed=7)


def test_sqlite_dates_become_duckdb() -> None:
    sql = to_duckdb("select x from t where strftime('%Y', d) = strftime('%Y', DATE('now', '-2 years'))")
    assert "CURRENT_DATE - INTERVAL '2' YEAR" in sql and "DATE('now'" not in sql
    assert "CURRENT_DATE" in to_duckdb("select strftime('%Y', date()) from t")
    assert "CAST(STRFTIME" in to_duckdb("select round(strftime('%m', d)/3.0 + 0.495) from t")
    assert "> '2010'" in to_duckdb("select x from t where strftime('%Y', d) > 2010")


def test_timestamp_text_comparisons_cast_the_column() -> None:
    sql = to_duckdb(
        "select x from t where d like '2020%' and d > '2010' and d >= '2020-01-01'", frozenset({"d"})
    )
    assert "CAST(d AS TEXT) LIKE '2020%'" in sql and "CAST(d AS TEXT) > '2010'" in sql
    assert "d >= '2020-01-01'" in sql


def test_unparsable_sql_is_a_transpile_error() -> None:
    with pytest.raises(TranspileError, match="cannot parse"):
        to_duckdb("select a from t where c = 'Xi'an'")


def test_categories_from_the_parse_tree() -> None:
    sql = (
        "SELECT a.x, COUNT(*) FROM t AS a JOIN u AS b ON a.k = b.k WHERE YEAR(a.d) = 2020 GROUP BY 1 LIMIT 3"
    )
    assert categories(sql) == ["join", "group_by", "order_limit", "date_function", "aggregate", "filter"]
    assert categories("SELECT x FROM t") == ["plain"]


def test_key_groups_pick_the_hub_and_shared_attributes(tiny_bull: Path) -> None:
    (db,) = load_source(tiny_bull).databases
    (group,) = key_groups(db)
    assert group.master == "company"
    assert group.attributes == ("chinameabbr", "secucode")


def test_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_source(tmp_path / "nope")


def test_import_writes_instances_with_schema_and_comments(tiny_import: tuple[Path, dict]) -> None:
    out, manifest = tiny_import
    paths = [out / p for p in manifest["databases"]["tiny_stock"]["instances"]]
    assert [p.name for p in paths] == ["instance-0.duckdb", "instance-1.duckdb"]
    con = duckdb.connect(str(paths[0]), read_only=True)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'quote'"
        ).fetchall()
    )
    assert types["TradingDay"] == "TIMESTAMP" and types["ClosePrice"] == "DECIMAL(10,4)"
    assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'quote'").fetchone() == (
        "Daily quotes",
    )
    constraints = {r[0] for r in con.execute("SELECT constraint_type FROM duckdb_constraints()").fetchall()}
    assert {"PRIMARY KEY", "FOREIGN KEY", "UNIQUE"} <= constraints
    company = con.execute("SELECT count(*), count(DISTINCT CompanyCode) FROM company").fetchone()
    assert company[0] == company[1]
    orphans = con.execute(
        "SELECT count(*) FROM quote q LEFT JOIN company c USING (CompanyCode) WHERE c.CompanyCode IS NULL"
    ).fetchone()[0]
    assert orphans == 0
    # entity attributes agree across tables: one short name per company code
    clash = con.execute(
        "SELECT count(*) FROM quote q JOIN company c USING (CompanyCode) WHERE q.ChiNameAbbr <> c.ChiNameAbbr"
    ).fetchone()[0]
    assert clash == 0
    con.close()


def test_gold_literals_hit_generated_rows(tiny_import: tuple[Path, dict]) -> None:
    out, _ = tiny_import
    dev = {p.sql: p for p in read_pairs(out / "dev.jsonl")}
    train = read_pairs(out / "train.jsonl")
    assert any("Nanhua Biology" in p.sql for p in train)
    assert any("Jiangsu Province" in p.sql for p in train)
    assert any("HAVING COUNT(*) > 4" in p.sql for p in train)
    assert any("LIKE '%Bank%'" in sql for sql in dev)
    assert all(p.db == "tiny_stock" and p.category for p in train)


def test_dropped_items_say_why(tiny_import: tuple[Path, dict]) -> None:
    out, manifest = tiny_import
    dropped = [json.loads(line) for line in (out / "dev.dropped.jsonl").read_text().splitlines()]
    stages = {d["sqlite"]: d for d in dropped}
    assert stages[DEV[4]]["stage"] == "bind" and "nosuchcolumn" in stages[DEV[4]]["reason"]
    assert stages[DEV[0]]["stage"] == "empty" and "unpadded" in stages[DEV[0]]["reason"]
    train_dropped = [json.loads(line) for line in (out / "train.dropped.jsonl").read_text().splitlines()]
    assert [d["stage"] for d in train_dropped] == ["transpile"]
    counts = manifest["counts"]["dev"]["tiny_stock"]
    assert counts["total"] == len(DEV) and counts["usable"] + counts["bind"] + counts["empty"] == len(DEV)
    assert len(manifest["dropped"]) == len(dropped) + len(train_dropped)
    assert set(manifest["sha256"]) == {"db_info.json", "train.json", "dev.json"}


def test_import_is_reproducible_and_refuses_to_overwrite(tiny_bull: Path, tmp_path: Path) -> None:
    first = import_bull(tiny_bull, tmp_path / "a", instances=1, seed=3)
    second = import_bull(tiny_bull, tmp_path / "b", instances=1, seed=3)
    assert first["counts"] == second["counts"]
    rows = []
    for folder in ("a", "b"):
        con = duckdb.connect(str(tmp_path / folder / "tiny_stock" / "instance-0.duckdb"), read_only=True)
        rows.append(con.execute("SELECT * FROM quote ORDER BY id").fetchall())
        con.close()
    assert rows[0] == rows[1]
    with pytest.raises(UsageError, match="--force"):
        import_bull(tiny_bull, tmp_path / "a", instances=1)
    import_bull(tiny_bull, tmp_path / "a", instances=1, seed=4, force=True)


def test_cli_import_prints_counts(tiny_bull: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from finsql.bull.cli import bull_app

    app = typer.Typer()
    app.add_typer(bull_app, name="bull")  # as finsql/cli.py mounts it
    args = ["bull", "import", str(tiny_bull), "--out", str(tmp_path / "x"), "--instances", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "usable" in result.output and "tiny_stock" in result.output


@pytest.mark.skipif(not (BULL / "BULL-en").is_dir(), reason=f"BULL is not in {BULL} (see its README)")
def test_real_bull_en_import(tmp_path: Path) -> None:
    manifest = import_bull(BULL / "BULL-en", tmp_path, instances=2)
    dev = manifest["counts"]["dev"]
    assert sum(c["total"] for c in dev.values()) == 1000
    assert sum(c["usable"] for c in dev.values()) >= 930
    for name in ("ccks_fund", "ccks_stock", "ccks_macro"):
        con = duckdb.connect(str(tmp_path / name / "instance-0.duckdb"), read_only=True)
        assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] >= 19
        con.close()


def test_an_imported_instance_draws_few_shot_examples_from_its_train_pairs(
    tiny_import: tuple[Path, dict],
) -> None:
    from finsql.ask.session import Session
    from finsql.bull.suite import train_pairs_of
    from finsql.synth.pool import FEW_PAIRS

    out, _ = tiny_import
    instance = out / "tiny_stock" / "instance-1.duckdb"
    assert train_pairs_of(instance) == out / "train.jsonl"
    assert train_pairs_of(out / "nowhere.duckdb") is None
    session = Session(instance, expert=False)
    try:
        expected = [p.sql for p in read_pairs(out / "train.jsonl") if p.db == "tiny_stock"]
        written = session.retriever.pairs[: len(expected)]
        assert expected and [p.sql for p in written] == expected  # the written pairs, first
        assert len(expected) < FEW_PAIRS and session.synth_pool  # few: synthesized ones beside them
        assert session.prompts.build("How many companies are in Jiangsu Province?").examples
    finally:
        session.close()
