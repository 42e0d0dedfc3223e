"""Batches for training: examples of similar length together, padded to the batch's longest only.

Batches are left-padded, so every target sits at the end of its row: the LM head and the loss run on the
last ``max target length + 1`` positions only (``logits_to_keep``), not on the whole prompt.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from finsql.experts.examples import Example

LENGTH_GROUP_BATCHES = 50  # batches per sorted mega-batch in ``LengthGroupedSampler``


class LengthGroupedSampler:
    """Indices in batches of similar length: a seeded shuffle, sorted within mega-batches, batches shuffled.

    Deterministic for ``seed`` and the epoch (``set_epoch``), so a resumed run sees the same order. Only the
    last batch may be short. ``mega=1`` sorts within single batches only: a plain seeded shuffle.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int, mega: int = LENGTH_GROUP_BATCHES
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = max(1, batch_size)
        self.seed = seed
        self.mega = mega
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of ``epoch`` (the trainer calls this before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        import torch

        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        size = self.batch_size * self.mega
        grouped = []
        for start in range(0, len(order), size):
            grouped += sorted(order[start : start + size], key=lambda i: -self.lengths[i])
        batches = [grouped[i : i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        tail = [batches.pop()] if batches and len(batches[-1]) < self.batch_size else []
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()] + tail
        return iter([i for batch in shuffled for i in batch])


class Collator:
    """Dynamic padding to the batch's longest example; labels -100 on prompts and padding.

    ``fast`` (methods that keep the sequence as given): left padding with explicit position ids, and only the
    last ``longest target + 1`` positions go through the LM head (``logits_to_keep``, labels cut to match).
    Prompt-learning methods prepend virtual tokens, so they get plain right padding and full labels.
    """

    def __init__(self, pad_id: int, fast: bool = True, multiple_of: int = 1) -> None:
        self.pad_id = pad_id
        self.fast = fast
        self.multiple_of = max(1, multiple_of)

    def __call__(self, features: list[Example]) -> dict:
        import torch

        longest = max(len(f) for f in features)
        longest = math.ceil(longest / self.multiple_of) * self.multiple_of
        ids = torch.full((len(features), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        labels = torch.full((len(features), longest), -100, dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f.input_ids)
            span = slice(longest - n, longest) if self.fast else slice(0, n)
            ids[row, span] = torch.tensor(f.input_ids)
            mask[row, span] = 1
            labels[row, span.start + f.prompt_len : span.stop] = torch.tensor(f.input_ids[f.prompt_len :])
        batch = {"input_ids": ids, "attention_mask": mask}
        if not self.fast:
            batch["labels"] = labels
            return batch
        keep = max(len(f.input_ids) - f.prompt_len for f in features) + 1
        batch["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        batch["labels"] = labels[:, -keep:]
        batch["logits_to_keep"] = keep
        if all(f.uid >= 0 for f in features):
            batch["example_ids"] = torch.tensor([f.uid for f in features])
        return batch
