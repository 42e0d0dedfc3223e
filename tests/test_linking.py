"""Schema linking on the real demo database with the real MiniLM embedding model."""

import duckdb
import pytest

from finsql.ask.linking import EmbeddingLinker, name_words, words
from finsql.ask.pairs import Pair
from finsql.ask.prompting import build_messages, render_schema
from finsql.db.sandbox import connect
from finsql.db.schema import introspect


@pytest.fixture(scope="module")
def demo(demo_db):
    con = connect(demo_db)
    schema = introspect(con)
    linker = EmbeddingLinker()
    linker.index_values(schema, con)
    return schema, linker


def test_words_split_identifiers_and_drop_stopwords():
    assert words("What is the close_price of stocks?") == {"close", "price", "stock"}


@pytest.mark.parametrize(
    ("question", "table"),
    [
        ("What was the year-on-year CPI change in March 2023?", "macro_indicator"),
        ("Which stocks had the highest closing price on 2024-12-31?", "stock_daily_price"),
        ("What is the net asset value history of the funds?", "fund_nav"),
        ("How much cash dividend per share did companies pay in 2023?", "stock_dividend"),
        ("What is the USD to CNY exchange rate on 2024-06-28?", "exchange_rate"),
    ],
)
def test_expected_table_is_linked(demo, question, table):
    schema, linker = demo
    assert table in linker.link(question, schema).table_names()


def test_cell_values_in_the_question_link_their_column(demo):
    schema, linker = demo
    name = duckdb_value(schema, "SELECT stock_name FROM stock ORDER BY ticker LIMIT 1")
    linked = linker.link(f"When was {name} listed?", schema)
    assert "stock" in linked.table_names()
    assert any(name in values for values in linked.matched_values.values())
    assert name in render_schema(linked)
    assert linked.matched_values.items() <= linked.values_anywhere.items()


def test_values_of_tables_left_out_are_kept_apart_for_the_steps_after_the_vote(demo_db):
    con = connect(demo_db)
    schema = introspect(con)
    narrow = EmbeddingLinker(top_tables=1)  # keeps one table: the value's own is left out
    narrow.index_values(schema, con)
    linked = narrow.link("Which industry is Northwind Bank in?", schema, must_include=("industry",))
    assert linked.table_names() == ["industry"] and linked.matched_values == {}
    assert linked.values_anywhere["stock.stock_name"] == ["Northwind Bank"]


def test_a_value_matches_whole_words_only(demo):
    schema, linker = demo
    assert "bond" in linker.link("How many bond funds are there?", schema).matched_values.get(
        "fund.fund_type", []
    )
    assert "fund.fund_type" not in linker.link("How many bonds are there?", schema).matched_values


def test_a_word_naming_a_column_with_its_neighbour_is_no_value(demo):
    schema, linker = demo  # 'credit' and 'dividend' are investment_focus values; here they name columns
    assert linker.link("Count the bonds in each credit rating.", schema).matched_values == {}
    assert linker.link("How many companies paid a cash dividend?", schema).matched_values == {}
    assert linker.link("Which funds focus on credit?", schema).matched_values == {
        "fund.investment_focus": ["credit"]
    }


def duckdb_value(schema, sql):
    from finsql.db.database import ensure_demo_db

    with duckdb.connect(str(ensure_demo_db()), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_top_tables_and_columns_with_join_keys(demo):
    schema, linker = demo
    linked = linker.link("Which fund managers run bond funds?", schema, must_include=("fund_company",))
    assert len(linked.tables) == 3 and "fund_company" in linked.table_names()
    for table in linked.tables:
        full = schema.table(table.name)
        keys = {c.name for c in full.columns if c.primary_key}
        assert keys <= {c.name for c in table.columns}
        assert len(table.columns) <= 7 + len(keys) + sum(len(fk.columns) for fk in full.foreign_keys)


def test_wide_schema_fits_the_prompt(tmp_path):
    """A 30-table, 30-column-per-table schema links down to a prompt of a few hundred tokens."""
    path = tmp_path / "wide.duckdb"
    with duckdb.connect(str(path)) as con:
        for t in range(30):
            cols = ", ".join(f"metric_{t}_{c} DOUBLE" for c in range(29))
            con.execute(f"CREATE TABLE table_{t} (id INTEGER PRIMARY KEY, {cols})")
            con.execute(f"COMMENT ON TABLE table_{t} IS 'Statistics set number {t}'")
        con.execute("CREATE TABLE bond_rating (id INTEGER PRIMARY KEY, issuer VARCHAR, rating VARCHAR)")
        con.execute("COMMENT ON TABLE bond_rating IS 'Credit ratings of bond issuers'")
        con.execute("INSERT INTO bond_rating VALUES (1, 'Acme Corp', 'AAA')")
    con = connect(path)
    schema = introspect(con)
    linker = EmbeddingLinker()
    linker.index_values(schema, con)
    linked = linker.link("What is the credit rating of Acme Corp?", schema)
    assert linked.table_names()[0] == "bond_rating"
    full = render_schema(type(linked)(schema.tables))
    prompt = build_messages("q", linked, [Pair("q1", "SELECT 1")])[0]["content"]
    assert len(prompt) < len(full) / 8


def test_compact_style_keeps_every_column_and_key_in_fewer_characters(demo):
    schema, linker = demo
    linked = linker.link("Which fund managers run bond funds?", schema)
    full, compact = render_schema(linked, "full"), render_schema(linked, "compact")
    lines = compact.splitlines()
    assert len(compact) < 0.7 * len(full)
    assert [line for line in lines if line.startswith("CREATE TABLE")] == lines[: len(linked.tables)]
    assert all("has the value" in line for line in lines[len(linked.tables) :])
    for table in linked.tables:
        for column in table.columns:
            assert f"{column.name} {column.type}" in compact
        for fk in table.foreign_keys:
            assert f"REFERENCES {fk.ref_table}(" in compact
    with pytest.raises(ValueError, match="unknown prompt style"):
        render_schema(linked, "tiny")


def test_names_style_is_compact_without_column_types(demo):
    schema, linker = demo
    linked = linker.link("Which fund managers run bond funds?", schema)
    compact, names = render_schema(linked, "compact"), render_schema(linked, "names")
    assert len(names) < len(compact)
    for table in linked.tables:
        for column in table.columns:
            assert f"{column.name} {column.type}" not in names
        definition = next(
            line for line in names.splitlines() if line.startswith(f"CREATE TABLE {table.name} (")
        )
        assert definition.count(",") >= len(table.columns) - 1
        assert all(column.name in definition for column in table.columns)
    keys = [c.name for t in linked.tables for c in t.columns if c.primary_key]
    assert keys and all(f"{key} PRIMARY KEY" in names for key in keys)
    assert names.splitlines()[len(linked.tables) :] == compact.splitlines()[len(linked.tables) :]


def test_embedding_model_can_be_chosen_and_a_bad_choice_is_one_line(monkeypatch, tmp_path):
    from finsql.ask import linking
    from finsql.errors import ModelError

    packaged = linking.embedding_model_dir()
    monkeypatch.setenv(linking.EMBEDDING_MODEL_ENV, packaged)
    assert linking.embedding_model_dir() == packaged
    linking.embedder.cache_clear()
    try:
        assert linking.embed([]).shape == (0, 384)
        monkeypatch.setenv(linking.EMBEDDING_MODEL_ENV, str(tmp_path / "missing"))
        linking.embedder.cache_clear()
        with pytest.raises(ModelError, match="could not load the embedding model"):
            linking.embed(["net asset value"])
    finally:
        monkeypatch.delenv(linking.EMBEDDING_MODEL_ENV)
        linking.embedder.cache_clear()


def test_embeddings_are_memoised_and_batching_changes_nothing():
    import numpy as np

    from finsql.ask import linking

    texts = ["net asset value of a fund", "closing price of a stock", "net asset value of a fund"]
    batch = linking.embed(texts)
    assert batch.shape == (3, 384)
    np.testing.assert_array_equal(batch[0], batch[2])
    assert texts[1] in linking._MEMO[linking.embedder()]
    alone = linking.embedder().encode([texts[1]], normalize_embeddings=True)[0]
    np.testing.assert_allclose(batch[1], alone, atol=1e-5)


def test_names_split_at_underscores_and_camel_case():
    assert name_words("total_shares_mn") == ["total", "shares", "mn"]
    assert name_words("BenchGRForThisYear") == ["bench", "gr", "for", "this", "year"]
    assert name_words("TotalNAV_CNY") == ["total", "nav", "cny"]


def test_a_value_glossing_another_in_brackets_is_that_value(demo):
    schema, linker = demo  # stock.exchange's comment: 'SZSE' (Shenzhen); Shenzhen is also a city
    bracketed = linker.link("How many stocks are listed in Shenzhen (SZSE)?", schema).matched_values
    assert bracketed.get("stock.exchange") == ["SZSE"] and "stock.headquarters_city" not in bracketed
    both = linker.link("Which stocks in Shenzhen are listed on the SZSE?", schema).matched_values
    assert both.get("stock.exchange") == ["SZSE"] and both.get("stock.headquarters_city") == ["Shenzhen"]
