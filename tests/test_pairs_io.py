"""Reading training pairs from JSONL, Spider and BULL files."""

from __future__ import annotations

import json

import pytest

from finsql.ask.pairs import Pair
from finsql.errors import InputError
from finsql.experts.pairs_io import read_pairs_any


def test_read_pairs_any_jsonl_spider_bull(tmp_path):
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"question": "q1", "sql": "SELECT 1"}\n\n{"question": "q2", "query": "SELECT 2"}\n')
    assert [(p.question, p.sql) for p in read_pairs_any(jsonl)] == [("q1", "SELECT 1"), ("q2", "SELECT 2")]
    spider = tmp_path / "spider.json"
    spider.write_text(
        json.dumps(
            [
                {"db_id": "bank", "question": "a", "query": "SELECT 1"},
                {"db_id": "shop", "question": "b", "query": "SELECT 2"},
            ]
        )
    )
    assert [p.db for p in read_pairs_any(spider)] == ["bank", "shop"]
    assert [p.question for p in read_pairs_any(spider, db="shop")] == ["b"]
    with pytest.raises(InputError, match="bank, shop"):
        read_pairs_any(spider, db="nope")
    bull = tmp_path / "bull.json"
    bull.write_text(json.dumps([{"question": "c", "sql_query": "SELECT 3", "db_name": "ccks_fund"}]))
    assert read_pairs_any(bull, db="ccks_fund") == [Pair("c", "SELECT 3", (), "ccks_fund")]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"question": "no sql"}]))
    with pytest.raises(InputError, match="no SQL"):
        read_pairs_any(broken)
