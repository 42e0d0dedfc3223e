"""Batching for training: length-grouped, seeded order; left padding that keeps the loss exact."""

from __future__ import annotations

import torch

from finsql.experts.batching import Collator, LengthGroupedSampler
from finsql.experts.examples import Example


def test_length_grouped_sampler_is_seeded_and_groups_lengths():
    lengths = [(i * 37) % 101 + 1 for i in range(203)]
    sampler = LengthGroupedSampler(lengths, batch_size=8, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(203)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    batches = [first[i : i + 8] for i in range(0, 200, 8)]
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert sum(spread) / len(spread) < 15  # random batches would spread ~70
    assert list(LengthGroupedSampler(lengths, 8, seed=3)) == first
    shuffled = list(LengthGroupedSampler(lengths, 8, seed=3, mega=1))  # --no-group-by-length
    assert sorted(shuffled) == list(range(203)) and shuffled != first
    plain = [shuffled[i : i + 8] for i in range(0, 200, 8)]
    assert sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plain) / len(plain) > 40


def test_fast_collator_loss_equals_full_loss(tiny_model_dir):
    """Left padding + logits_to_keep computes exactly the loss of plain right padding."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    features = [Example(list(range(5, 25)), 15, "sql"), Example(list(range(30, 42)), 4, "sql")]
    with torch.no_grad():
        fast = model(**Collator(0, fast=True)(features)).loss
        plain = model(**Collator(0, fast=False)(features)).loss
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)
