import duckdb
import pytest

from finsql.db.database import materialize_folder, resolve_database
from finsql.db.sandbox import connect
from finsql.db.schema import introspect
from finsql.errors import DatabaseError


def test_folder_of_csv_and_parquet_becomes_tables(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "fund prices.csv").write_text("fund,price\nA,1.5\nB,2.0\n")
    duckdb.sql("SELECT 1 AS id, 'x' AS name").write_parquet(str(folder / "2024-names.parquet"))
    path = resolve_database(folder)
    schema = introspect(connect(path))
    assert sorted(t.name for t in schema.tables) == ["fund_prices", "t_2024_names"]
    assert materialize_folder(folder) == path  # cached
    (folder / "more.csv").write_text("a\n1\n")
    assert materialize_folder(folder) != path  # rebuilt on change


def test_missing_and_empty(tmp_path):
    with pytest.raises(DatabaseError):
        resolve_database(tmp_path / "missing.duckdb")
    with pytest.raises(DatabaseError):
        resolve_database(tmp_path)


def test_foreign_keys_between_two_tables_either_way(tmp_path):
    con = duckdb.connect(str(tmp_path / "keys.duckdb"))
    con.execute("CREATE TABLE company (id INTEGER PRIMARY KEY, name VARCHAR)")
    con.execute("CREATE TABLE fund (code VARCHAR PRIMARY KEY, company_id INTEGER REFERENCES company(id))")
    con.execute("CREATE TABLE price (code VARCHAR, day DATE, PRIMARY KEY (code, day))")
    schema = introspect(con)
    assert schema.references("fund", "company") == [("company_id", "id")]
    assert schema.references("company", "fund") == []
    assert schema.key_pairs("company", "FUND") == [("id", "company_id")]
    assert schema.key_pairs("price", "fund") == [] and schema.key_pairs("missing", "fund") == []
