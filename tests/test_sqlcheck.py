"""check_sql and is_ordered against a real DuckDB schema."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from finsql.ask.sqlcheck import CheckedSQL, check_sql, is_ordered
from finsql.db.sandbox import connect, run_query
from finsql.db.schema import Schema, introspect
from finsql.errors import SQLRefused

DDL = """
CREATE TABLE fund (fund_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, manager VARCHAR, inception DATE,
                   "Share Class" VARCHAR);
CREATE TABLE stock (stock_id INTEGER PRIMARY KEY, ticker VARCHAR NOT NULL, sector VARCHAR);
CREATE TABLE holding (fund_id INTEGER REFERENCES fund (fund_id), stock_id INTEGER REFERENCES stock (stock_id),
                      weight DOUBLE, PRIMARY KEY (fund_id, stock_id));
CREATE TABLE price (stock_id INTEGER REFERENCES stock (stock_id), day DATE, close DOUBLE,
                    PRIMARY KEY (stock_id, day));
INSERT INTO fund VALUES (1, 'Alpha Growth', 'Ann', DATE '2010-03-01', 'A'),
                        (2, 'Beta Income', 'Bob', DATE '2015-07-15', 'B');
INSERT INTO stock VALUES (10, 'ACME', 'Industrials'), (11, 'BOLT', 'Energy'), (12, 'CRUX', 'Tech');
INSERT INTO holding VALUES (1, 10, 0.6), (1, 12, 0.4), (2, 11, 1.0);
INSERT INTO price VALUES (10, DATE '2024-01-02', 10.5), (10, DATE '2024-01-03', 11.0),
                         (11, DATE '2024-01-02', 20.0), (12, DATE '2024-01-02', 30.25);
"""


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlcheck") / "funds.duckdb"
    con = duckdb.connect(str(path))
    con.execute(DDL)
    con.close()
    return path


@pytest.fixture(scope="module")
def con(db_path: Path):
    con = connect(db_path)
    yield con
    con.close()


@pytest.fixture(scope="module")
def schema(con: duckdb.DuckDBPyConnection) -> Schema:
    return introspect(con)


VALID = [
    "SELECT name FROM fund",
    "select NAME from FUND",
    "SELECT f.name, s.ticker, h.weight FROM fund f JOIN holding h ON h.fund_id = f.fund_id "
    "JOIN stock s USING (stock_id) ORDER BY h.weight DESC",
    "SELECT f.name FROM fund AS f LEFT JOIN holding AS h ON f.fund_id = h.fund_id WHERE h.fund_id IS NULL",
    "WITH w AS (SELECT fund_id, sum(weight) AS total FROM holding GROUP BY fund_id) "
    "SELECT f.name, w.total FROM fund f JOIN w ON w.fund_id = f.fund_id",
    "WITH fund AS (SELECT 1 AS fund_id) SELECT fund_id FROM fund",
    "SELECT name FROM fund WHERE fund_id IN (SELECT fund_id FROM holding WHERE weight > 0.5)",
    "SELECT name FROM fund f WHERE EXISTS (SELECT 1 FROM holding h WHERE h.fund_id = f.fund_id)",
    "SELECT (SELECT max(close) FROM price) AS top",
    "SELECT t.n FROM (SELECT count(*) AS n FROM stock) AS t",
    "SELECT stock_id, day, close, avg(close) OVER (PARTITION BY stock_id ORDER BY day "
    "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS ma FROM price",
    "SELECT ticker, rank() OVER (ORDER BY sector) FROM stock QUALIFY rank() OVER (ORDER BY sector) <= 2",
    "SELECT ticker AS t FROM stock UNION SELECT name FROM fund",
    "SELECT ticker FROM stock UNION ALL SELECT name FROM fund ORDER BY 1",
    "SELECT stock_id FROM stock EXCEPT SELECT stock_id FROM price",
    "SELECT stock_id FROM stock INTERSECT SELECT stock_id FROM price",
    "SELECT year(inception) AS y, date_trunc('month', inception), inception + INTERVAL 30 DAY, "
    "strftime(inception, '%Y-%m'), date_diff('day', inception, DATE '2024-01-01') FROM fund",
    'SELECT "name", "Share Class" FROM "fund"',
    "SELECT s.sector, count(*) AS n FROM stock s GROUP BY ALL HAVING count(*) >= 1",
    "SELECT * FROM price;",
    "  SELECT 1 ;  ;",
    "SELECT * EXCLUDE (manager) FROM fund",
    "FROM stock SELECT ticker",
    "SELECT sector, CASE WHEN sector = 'Tech' THEN 1 ELSE 0 END AS tech FROM stock",
    "SELECT * FROM main.fund",
    "SELECT x FROM (VALUES (1), (2)) AS v(x)",
    "SELECT u.x FROM unnest([1, 2, 3]) AS u(x)",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
    "(SELECT name FROM fund) ORDER BY name",
]


@pytest.mark.parametrize("sql", VALID)
def test_accepts_valid_reads(sql: str, schema: Schema, con: duckdb.DuckDBPyConnection) -> None:
    checked = check_sql(sql, schema)
    assert isinstance(checked, CheckedSQL)
    assert checked.sql == sql.strip().rstrip(" ;")
    run_query(con, checked.sql)  # and the engine runs it


def test_checked_fields(schema: Schema) -> None:
    checked = check_sql(
        "select F.name, s.ticker from FUND f join holding h on h.fund_id = f.fund_id "
        "join stock s on s.stock_id = h.stock_id order by 1;\n",
        schema,
    )
    assert checked.sql.endswith("order by 1")
    assert checked.tables == ("fund", "holding", "stock")
    assert checked.ordered
    assert "f.name" in checked.expression.sql("duckdb").lower()
    cte = check_sql("WITH w AS (SELECT fund_id FROM holding) SELECT * FROM w", schema)
    assert cte.tables == ("holding",)
    assert not cte.ordered


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT nme FROM fund", "unknown column: nme"),
        ("SELECT f.nme FROM fund f", "unknown column: nme"),
        ("SELECT f.name FROM fund f ORDER BY f.nme", "unknown column: nme"),
        ("SELECT fund_id FROM fund, holding", "ambiguous column: fund_id (in fund, holding)"),
        ("SELECT name FROM fund WHERE ticker = 'x'", "unknown column: ticker"),
        ("WITH w AS (SELECT fund_id FROM holding) SELECT weight FROM w", "unknown column: weight"),
        ("SELECT w.weight FROM (SELECT fund_id FROM holding) w", "unknown column: weight"),
        ("SELECT x.* FROM fund f", "unknown table or alias: x"),
        ("SELECT * FROM fundz", "unknown table: fundz"),
        ("SELECT f.name FROM fund f JOIN holdingz h ON h.fund_id = f.fund_id", "unknown table: holdingz"),
        ("SELECT name FROM fund WHERE fund_id IN (SELECT fund_id FROM nope)", "unknown table: nope"),
        ("WITH w AS (SELECT * FROM ghost) SELECT * FROM w", "unknown table: ghost"),
        ("SELECT x.name FROM fund f", "unknown table or alias: x"),
        ("SELECT fund.name FROM fund f", "unknown table or alias: fund"),
        ("SELECT * FROM other.main.fund", "qualified table names are not allowed"),
        ("", "empty SQL statement"),
        (" ; ", "empty SQL statement"),
        ("SELEC name FROM fund", "could not parse SQL"),
        ("SELECT name FROM fund WHERE (", "could not parse SQL"),
        ("SELECT 'unterminated FROM fund", "could not parse SQL"),
        ("SELECT " + "(" * 3000 + "1" + ")" * 3000, "nested too deeply"),
        ("SELECT 1; SELECT 2", "expected exactly one statement, got 2"),
        ("SELECT count(*) FROM fund f WHERE f.name = name", "compares a column with itself: f.name = f.name"),
        ("SELECT count(*) FROM fund WHERE manager <> fund.manager", "compares a column with itself"),
    ],
)
def test_refuses(sql: str, reason: str, schema: Schema) -> None:
    with pytest.raises(SQLRefused) as info:
        check_sql(sql, schema)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("sql", "ordered"),
    [
        ("SELECT name FROM fund ORDER BY name", True),
        ("SELECT name FROM fund", False),
        ("SELECT * FROM (SELECT name FROM fund ORDER BY name) t", False),
        ("SELECT name, row_number() OVER (ORDER BY name) FROM fund", False),
        ("WITH c AS (SELECT * FROM fund ORDER BY 1) SELECT * FROM c", False),
        ("WITH c AS (SELECT * FROM fund) SELECT * FROM c ORDER BY 1 DESC", True),
        ("SELECT a FROM x UNION SELECT b FROM y ORDER BY 1", True),
        ("SELECT a FROM x UNION SELECT b FROM y", False),
        ("(SELECT a FROM x ORDER BY a)", True),
        ("SELECT name FROM fund ORDER BY name LIMIT 3;", True),
        ("this is not sql (", False),
        ("SELECT " + "(" * 3000 + "1" + ")" * 3000, False),
        ("", False),
    ],
)
def test_is_ordered(sql: str, ordered: bool) -> None:
    assert is_ordered(sql) is ordered
