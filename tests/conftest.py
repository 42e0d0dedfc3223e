"""Shared fixtures: an isolated cache, the demo database, a tiny random model, the real default model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


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
    from finsql.database import ensure_demo_db

    return ensure_demo_db()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Llama with a small BPE tokenizer trained in-process on SQL-ish text."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = "select from where group by order limit count sum avg fund stock price name date year".split()
    corpus = [" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) for i in range(200)]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-model")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


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
