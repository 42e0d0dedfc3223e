"""Shared fixtures: an isolated cache, the demo database, a tiny random model, the real default model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finsql.ask.pairs import Pair


@pytest.fixture(scope="session", autouse=True)
def finsql_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session gets its own cache (model conversion, demo database), unless one is given."""
    given = os.environ.get("FINSQL_TEST_CACHE")
    path = Path(given) if given else tmp_path_factory.mktemp("finsql-cache")
    os.environ["FINSQL_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def demo_db(finsql_cache: Path) -> Path:
    """The demo database, built once per session."""
    from finsql.db.database import ensure_demo_db

    return ensure_demo_db()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, demo_db: Path):
    """A cache of the test module's own (experts, runs), one torch thread (steady timings when busy); the
    synthesized example pools are the session's (deterministic, and about 20 s to draw each)."""
    folder = tmp_path_factory.mktemp("module-cache")
    pools = demo_db.parent / "synth"
    pools.mkdir(exist_ok=True)
    (folder / "synth").symlink_to(pools, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FINSQL_CACHE_DIR", str(folder))
        patch.setenv("FINSQL_THREADS", "1")
        yield folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Llama with a small BPE tokenizer trained in-process on SQL-ish text."""
    from finsql.lm.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def _fund_db(path: Path, extra_column: bool = False) -> Path:
    import duckdb

    con = duckdb.connect(str(path))
    more = ", inception DATE" if extra_column else ""
    con.execute(
        "CREATE TABLE fund (fund_code VARCHAR PRIMARY KEY, fund_name VARCHAR, fund_type VARCHAR, "
        f"aum_mn DOUBLE{more})"
    )
    con.execute(
        "INSERT INTO fund (fund_code, fund_name, fund_type, aum_mn) VALUES ('F1', 'Alpha Growth', 'equity', "
        "120.5), ('F2', 'Beta Bond', 'bond', 80), ('F3', 'Gamma Mix', 'mixed', 45.25)"
    )
    con.close()
    return path


@pytest.fixture(scope="session")
def fund_dbs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two one-table fund databases (short prompts for tiny-model training); the second has one more column,
    so another schema fingerprint."""
    folder = tmp_path_factory.mktemp("fund-dbs")
    return _fund_db(folder / "funds.duckdb"), _fund_db(folder / "funds2.duckdb", extra_column=True)


SMALL_PAIRS = [
    Pair(q, s)
    for q, s in [
        ("How many funds are there?", "SELECT count(*) FROM fund"),
        ("List the bond funds.", "SELECT fund_name FROM fund WHERE fund_type = 'bond'"),
        ("What is the total AUM?", "SELECT sum(aum_mn) FROM fund"),
        ("Which fund is the largest?", "SELECT fund_name FROM fund ORDER BY aum_mn DESC LIMIT 1"),
        (
            "Show me the top 2 funds by AUM.",
            "SELECT fund_name, aum_mn FROM fund ORDER BY aum_mn DESC LIMIT 2",
        ),
        (
            "What is the average AUM of equity funds?",
            "SELECT avg(aum_mn) FROM fund WHERE fund_type = 'equity'",
        ),
        ("How many bond funds are there?", "SELECT count(*) FROM fund WHERE fund_type = 'bond'"),
        (
            "List each fund type with its fund count.",
            "SELECT fund_type, count(*) FROM fund GROUP BY fund_type",
        ),
    ]
]


@pytest.fixture(scope="session")
def small_pairs() -> list[Pair]:
    """Eight question/SQL pairs on the one-table fund database (``small_db``)."""
    return list(SMALL_PAIRS)


@pytest.fixture(scope="session")
def small_db(fund_dbs) -> Path:
    """The first one-table fund database: short prompts for tiny-model training."""
    return fund_dbs[0]


@pytest.fixture(scope="session")
def small_grammar(small_db: Path) -> str:
    """The SQL grammar of ``small_db`` (text values included), for decoding after ``SELECT``."""
    from finsql.ask.grammar import sql_grammar
    from finsql.ask.linking import collect_values
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect

    con = connect(small_db)
    schema = introspect(con)
    text = sql_grammar(schema, values=collect_values(con, schema, lengths=(1, 200)), after_select=True)
    con.close()
    return text
