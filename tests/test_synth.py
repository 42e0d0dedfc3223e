"""The synthesizer: roles, joins, templates, execution checks, determinism, CSV folders, CLI and training."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finsql.ask.constrain import grammar_error
from finsql.ask.grammar import sql_grammar
from finsql.ask.linking import collect_values
from finsql.ask.pairs import Pair
from finsql.ask.sqlcheck import check_sql
from finsql.db.database import materialize_folder
from finsql.db.sandbox import connect, run_query
from finsql.db.schema import introspect
from finsql.experts.data import weigh_user_pairs
from finsql.synth.phrasing import comment_phrase, humanize, nice_threshold, plural
from finsql.synth.synthesizer import (
    SYNTHETIC,
    Synthesizer,
    groups_single_rows,
    is_synthetic,
)
from finsql.synth.templates import TEMPLATES


@pytest.fixture(scope="module")
def demo_synth(demo_db: Path):
    con = connect(demo_db)
    synthesizer = Synthesizer(con, introspect(con), "demo")
    pairs, report = synthesizer.run(300, seed=7)
    yield con, synthesizer, pairs, report
    con.close()


def test_roles_follow_types_names_keys_and_values(demo_synth) -> None:
    _, synthesizer, _, _ = demo_synth
    tables = synthesizer.profile.tables
    roles = {(t.name, c.name): c.role for t in tables.values() for c in t.columns}
    assert roles["fund", "fund_code"] == "key" and roles["fund", "company_id"] == "key"
    assert roles["fund", "fund_name"] == "name" and roles["fund", "fund_type"] == "category"
    assert roles["fund_size", "net_assets_mn"] == "measure" and roles["fund_nav", "nav_date"] == "date"
    assert (
        roles["stock_financials", "fiscal_year"] == "year"
        and roles["fund_manager", "certified_cfa"] == "bool"
    )
    assert roles["industry", "sector"] == "category" and roles["fund_company", "website"] == "text"
    assert tables["fund_size"].name_column is None and tables["stock"].name_column.name == "stock_name"
    assert "equity" in next(c for c in tables["fund"].columns if c.name == "fund_type").values
    two_hops = {path[-1].parent for path in synthesizer.profile.paths("stock_financials", 2)}
    assert "industry" in two_hops


def test_every_kept_pair_validates_runs_and_answers(demo_synth) -> None:
    con, synthesizer, pairs, report = demo_synth
    assert len(pairs) == report.kept == 300
    assert set(report.to_json()["templates_covered"]) == set(TEMPLATES)  # the demo schema allows them all
    for pair in pairs:
        check_sql(pair.sql, synthesizer.schema)
        result = run_query(con, pair.sql, max_rows=50)
        assert result.rows and not result.truncated, pair
        assert any(v is not None for row in result.rows for v in row), pair
        assert pair.db == "demo" and pair.category[0] == SYNTHETIC and pair.category[1] in TEMPLATES
        assert pair.question[0].isupper() and pair.question[-1] in "?."
    assert len({p.sql.lower() for p in pairs}) == len(pairs)
    assert len({p.question.lower() for p in pairs}) == len(pairs)
    assert sum(report.dropped.values()) > 0  # some drafts are refused: the check is not a formality
    assert report.dropped["groups single rows"] > 0
    assert not any(groups_single_rows(con, p.sql) for p in pairs if p.category[1] != "per_year")


def test_groups_of_one_row_are_found_by_running_the_grouping(demo_db: Path) -> None:
    con = connect(demo_db)
    # a name per row: each group one stock, each maximum that stock's own figure
    assert groups_single_rows(con, "SELECT stock_name, max(employees) FROM stock GROUP BY stock_name")
    assert groups_single_rows(
        con, "SELECT company_name, count(*) AS n FROM fund_company GROUP BY company_name ORDER BY n LIMIT 1"
    )
    assert not groups_single_rows(con, "SELECT fund_type, count(*) FROM fund GROUP BY fund_type")
    many = "SELECT f.fund_name, max(s.net_assets_mn) FROM fund_size s "
    many += "JOIN fund f ON s.fund_code = f.fund_code "
    assert not groups_single_rows(con, many + "GROUP BY f.fund_name")  # many reports a fund
    assert not groups_single_rows(con, "SELECT stock_name FROM stock")  # no GROUP BY
    assert not groups_single_rows(con, "SELECT year(listing_date) AS y, count(*) FROM stock GROUP BY 1")
    assert not groups_single_rows(con, "SELECT (((")  # not probed: not judged
    con.close()


def test_joins_follow_foreign_keys_with_aliases(demo_synth) -> None:
    _, _, pairs, _ = demo_synth
    joined = [p.sql for p in pairs if " JOIN " in p.sql]
    assert len(joined) > 30
    assert any(  # two hops: each ON joins the new alias to the one before
        " JOIN stock s ON " in s and "JOIN industry i ON s.industry_id = i.industry_id" in s for s in joined
    )
    assert all(" ON " in sql for sql in joined)


def test_same_seed_same_pairs_other_seed_other_pairs(demo_db: Path) -> None:
    con = connect(demo_db)
    try:
        schema = introspect(con)
        first, _ = Synthesizer(con, schema).run(60, seed=3)
        again, _ = Synthesizer(con, schema).run(60, seed=3)
        other, _ = Synthesizer(con, schema).run(60, seed=4)
    finally:
        con.close()
    assert first == again and first != other


def test_synthesized_sql_is_in_the_schema_grammar(demo_synth, tiny_model_dir: Path) -> None:
    """What experts learn from synthesized pairs, constrained decoding can write."""
    from transformers import AutoTokenizer

    con, synthesizer, pairs, _ = demo_synth
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    grammar = sql_grammar(
        synthesizer.schema, values=collect_values(con, synthesizer.schema, lengths=(1, 200))
    )
    rejected = [(p.sql, grammar_error(grammar, p.sql, tok)) for p in pairs[:120]]
    assert [r for r in rejected if r[1] is not None] == []


def test_words_from_identifiers_and_comments() -> None:
    assert humanize("net_assets_mn") == "net assets" and humanize("cpi_yoy") == "CPI year-on-year"
    assert humanize("pct_of_nav") == "percent of NAV" and humanize("closePrice") == "close price"
    assert comment_phrase("Net assets at the report date, in millions of CNY") is None  # too long
    assert comment_phrase("Net assets, in millions of CNY") == "net assets"
    assert comment_phrase("Opening price in CNY") == "opening price"
    assert comment_phrase("Where the bond trades") is None and comment_phrase("Tradable (free float)") is None
    assert plural("fund company") == "fund companies" and plural("stock financials") == "stock financials"
    assert nice_threshold(1234.5) == 1200 and nice_threshold(0.04567) == 0.046


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def csv_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two related CSV tables without declared keys: branches and their monthly loans."""
    folder = tmp_path_factory.mktemp("csv-bank")
    cities = ["Shanghai", "Beijing", "Shenzhen"]
    _write_csv(
        folder / "branch.csv",
        ["branch_id", "branch_name", "city"],
        [[i, f"Branch {chr(65 + i)}", cities[i % 3]] for i in range(8)],
    )
    _write_csv(
        folder / "loans.csv",
        ["branch_id", "month", "loan_type", "amount_mn"],
        [
            [
                i % 8,
                f"2023-{1 + i % 12:02d}-01",
                ["mortgage", "business", "consumer"][i % 3],
                10 + (i * 37) % 90,
            ]
            for i in range(120)
        ],
    )
    return folder


def test_csv_folder_gets_inferred_joins_and_pairs(csv_folder: Path) -> None:
    con = connect(materialize_folder(csv_folder))
    try:
        synthesizer = Synthesizer(con, introspect(con))
        (edge,) = synthesizer.profile.edges
        assert (edge.child, edge.child_columns, edge.parent) == ("loans", ("branch_id",), "branch")
        pairs, report = synthesizer.run(80, seed=0)
    finally:
        con.close()
    assert len(pairs) >= 40 and report.seconds > 0
    assert any("JOIN branch b ON l.branch_id = b.branch_id" in p.sql for p in pairs)
    assert any("'mortgage'" in p.sql or "'Shanghai'" in p.sql for p in pairs)  # values read from the data


def test_user_pairs_weigh_more_only_among_synthesized() -> None:
    user = Pair("How many funds?", "SELECT count(*) FROM fund")
    made = Pair("How many bonds?", "SELECT count(*) FROM bond", (SYNTHETIC, "count"))
    assert weigh_user_pairs([user, made], 3) == [user, user, user, made]
    assert weigh_user_pairs([user], 3) == [user] and is_synthetic(made) and not is_synthetic(user)


def _finsql(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if k != "FINSQL_LOAD_PLUGINS"},
        "FINSQL_CACHE_DIR": str(cache),
    }
    return subprocess.run(
        [sys.executable, "-m", "finsql", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_cli_synth_writes_pairs_and_a_report(cache: Path, csv_folder: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "pairs.jsonl", tmp_path / "report.json"
    args = ["synth", "--db", str(csv_folder), "--n", "30", "--out", str(out), "--report", str(report)]
    proc = _finsql(*args, "--paraphraser", "rules", cache=cache)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    summary = json.loads(report.read_text())
    assert summary["kept"] == 30 and len(rows) == 30 + summary["paraphrased"] and summary["paraphrased"] > 0
    assert all(row["category"][0] == SYNTHETIC for row in rows)
    assert f"wrote {len(rows)} pairs" in proc.stderr
    for bad, fragment in (
        (["--template", "nope"], "unknown template"),
        (["--paraphraser", "nope"], "unknown paraphraser"),
    ):
        failed = _finsql(*args, *bad, cache=cache)
        lines = [line for line in failed.stderr.splitlines() if line.strip()]
        assert failed.returncode == 2 and len(lines) == 1 and fragment in lines[0], failed.stderr


def test_train_from_the_database_alone(cache: Path, small_db: Path, tiny_model_dir: Path) -> None:
    """``finsql train --db`` with no pairs trains on synthesized ones, recorded in the manifest."""
    from finsql.lm import hub

    proc = _finsql(
        "train", "--db", str(small_db), "--model", str(tiny_model_dir), "--name", "from-db", "--synth", "24",
        "--steps", "1", "--layers", "1", "--batch-size", "2", "--val-split", "0.25", "--val-ex", "2",
        "--shots", "1", "--threads", "1", cache=cache,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "synthesized 24 pairs" in proc.stderr
    manifest = hub.load_manifest("from-db")  # the module's cache
    assert manifest.data["synthetic_pairs"] == 24 and manifest.data["pairs"] == 24


def test_train_on_a_bull_import_needs_pairs(cache: Path, tmp_path: Path) -> None:
    """An import folder holds several databases: synthesizing for all of them is refused in one line."""
    (tmp_path / "manifest.json").write_text(json.dumps({"databases": {}}))
    proc = _finsql("train", "--db", str(tmp_path), "--name", "x", cache=cache)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "give --data" in lines[0], proc.stderr


def test_the_pool_is_drawn_once_per_schema_and_kept_with_its_embeddings(cache, demo_db: Path) -> None:
    import numpy as np

    from finsql.synth.pool import pool_path, synthesized_pool, synthesizer_digest

    con = connect(demo_db)
    try:
        schema = introspect(con)
        first = synthesized_pool(con, schema, demo_db, n=50, seed=11)
        path = pool_path(schema, demo_db, 50, 11)
        kept = path.stat().st_mtime_ns
        again = synthesized_pool(con, schema, demo_db, n=50, seed=11)
        drawn, _ = Synthesizer(con, schema).run(50, seed=11)
    finally:
        con.close()
    assert synthesizer_digest() in path.name and schema.fingerprint() in path.name
    copy = cache / "copy.duckdb"
    copy.write_bytes(demo_db.read_bytes())
    os.utime(copy, ns=(1, 1))
    assert pool_path(schema, copy, 50, 11) != path  # other data (or the same, touched): drawn again
    assert path.stat().st_mtime_ns == kept  # read back, not drawn again
    assert [(p.question, p.sql) for p in again.pairs] == [(p.question, p.sql) for p in drawn]
    assert all(is_synthetic(p) for p in again.pairs)
    assert again.vectors.shape[0] == len(again.pairs) == 50
    assert np.allclose(again.vectors, first.vectors)


def test_tables_get_plain_counts_and_top_k_asks_for_the_figure_only_when_it_shows_it(
    demo_db: Path,
) -> None:
    con = connect(demo_db)
    try:
        pairs, _ = Synthesizer(con, introspect(con)).run(1500, seed=0)
    finally:
        con.close()
    plain_counts = {p.sql for p in pairs if p.category[1] == "count" and " WHERE " not in p.sql}
    assert len(plain_counts) >= 10  # of the 18 tables
    assert any(p.category[1] == "filter" and " WHERE " not in p.sql for p in pairs)  # "List all ..."
    top = [p for p in pairs if p.category[1] == "top_k"]
    name_only = [p for p in top if p.sql.split(" FROM ")[0].count(",") == 0]
    assert name_only and len(name_only) < len(top)
    for pair in top:
        shows_figure = pair.sql.split(" FROM ")[0].count(",") == 1
        assert shows_figure == (", with their" in pair.question or ", and what is it" in pair.question), pair
