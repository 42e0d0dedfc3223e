"""A tiny randomly initialised causal LM for tests and device checks, built in-process (no download)."""

from __future__ import annotations

import json
from pathlib import Path

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


WORDS = "select from where group by order limit count sum avg fund stock price name date year".split()
CORPUS = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12)) for i in range(200)]
TOKENIZER_STYLES = ("byte-level", "metaspace")


def _byte_level_bpe():
    """GPT-2 style: byte-level pre-tokenizer, every byte a base token (SmolLM2's kind)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(CORPUS, trainer)
    return bpe, None


def _metaspace_bpe():
    """SentencePiece style (Llama, Gemma): words start with ``▁``, unknown characters fall back to
    ``<0xNN>`` byte tokens of the vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    metaspace = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = metaspace
    alphabet = list("abcdefghijklmnopqrstuvwxyz\u2581")
    trained.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, initial_alphabet=alphabet))
    model = json.loads(trained.to_str())["model"]
    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + [f"<0x{b:02X}>" for b in range(256)])}
    for token in sorted(model["vocab"], key=model["vocab"].get):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    bpe = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True))
    bpe.pre_tokenizer = metaspace
    bpe.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    bpe.add_special_tokens(specials)
    return bpe, "<unk>"


def build_tiny_model(
    folder: Path, tokenizer_style: str = "byte-level", sliding_window: int | None = None
) -> Path:
    """Save a 2-layer Llama with a small BPE tokenizer trained on SQL-ish words into ``folder``; return it.
    ``tokenizer_style``: ``byte-level`` (GPT-2, SmolLM2) or ``metaspace`` (SentencePiece, byte fallback).
    ``sliding_window``: a Mistral whose layers attend to that many tokens instead (as Gemma's do)."""
    import torch
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        PreTrainedTokenizerFast,
    )

    if tokenizer_style not in TOKENIZER_STYLES:
        raise ValueError(f"unknown tokenizer style {tokenizer_style!r}")
    bpe, unk = _byte_level_bpe() if tokenizer_style == "byte-level" else _metaspace_bpe()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token=unk,
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    windowed = {"sliding_window": sliding_window} if sliding_window else {}
    config = (MistralConfig if sliding_window else LlamaConfig)(
        **windowed,
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
    folder.mkdir(parents=True, exist_ok=True)
    (MistralForCausalLM if sliding_window else LlamaForCausalLM)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
