"""Adapter combiners: how experts' LoRA adapters become one, registered through ``register_combiners``.

For experts i with LoRA matrices A_i, B_i (same base model, rank, alpha and target modules) the linear
composition of LoRAHub (Huang et al. 2023) is the adapter with A = sum(w_i A_i) and B = sum(w_i B_i), of the
same rank; it is rewritten in place (``copy_``) for every new set of weights, nothing reloaded or merged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from finsql.errors import FinsqlError, UsageError
from finsql.plugins import combiners as registered_combiners


def uniform_weights(n: int) -> list[float]:
    """1/n for each of ``n`` experts."""
    return [1.0 / n] * n


@dataclass(frozen=True)
class Combiner:
    """An adapter combiner, registered through the ``register_combiners`` hook.

    ``combine(model, adapters, weights, target)`` adds adapter ``target`` to a peft ``model`` holding the
    experts as adapters named ``adapters``, built from them with ``weights``. When ``learns_weights`` is
    true the weights come from LoRAHub's search (on the linear composition), else from ``default_weights(n)``.
    """

    name: str
    description: str
    combine: Callable[[Any, list[str], list[float], str], None]
    learns_weights: bool = False
    default_weights: Callable[[int], list[float]] = uniform_weights


def get_combiner(name: str, manager: Any = None) -> Combiner:
    """The registered combiner ``name``; UsageError when there is none."""
    found = registered_combiners(manager)
    if name not in found:
        raise UsageError(f"unknown combiner {name!r}; combiners: {', '.join(found) or 'none installed'}")
    combiner = found[name]
    if not isinstance(combiner, Combiner):
        raise FinsqlError(f"combiner {name!r} is a {type(combiner).__name__}, not a finsql Combiner")
    return combiner


def _lora_layers(model: Any, adapter: str) -> Iterator[Any]:
    from peft.tuners.lora import LoraLayer

    for module in model.modules():
        if isinstance(module, LoraLayer) and adapter in module.lora_A:
            yield module


class LinearComposer:
    """Adapter ``target`` with A = sum(w_i A_i), B = sum(w_i B_i) of ``adapters``, rewritten in place."""

    def __init__(self, model: Any, adapters: Sequence[str], target: str) -> None:
        import torch

        model.add_adapter(target, copy.deepcopy(model.peft_config[adapters[0]]))
        self.slots = []
        for module in _lora_layers(model, target):
            for own in (module.lora_A, module.lora_B):
                sources = [own[a].weight.detach().float() for a in adapters]
                self.slots.append((own[target].weight, torch.stack(sources)))
        if not self.slots:
            raise UsageError("the experts have no LoRA layers to compose")

    def write(self, weights: Sequence[float]) -> None:
        """Put the composition with ``weights`` into the target adapter's weights (``copy_``)."""
        import torch

        with torch.no_grad():
            w = torch.tensor([float(x) for x in weights])
            for weight, stack in self.slots:
                weight.copy_(torch.tensordot(w.to(stack.device), stack, dims=1))


def linear_combine(model: Any, adapters: list[str], weights: list[float], target: str) -> None:
    """LoRAHub's composition: adapter ``target`` with A = sum(w_i A_i), B = sum(w_i B_i).

    Not peft's ``linear``, which scales A and B by square roots of the weights.
    """
    LinearComposer(model, adapters, target).write(weights)
