"""What enters the first adapted layer, kept per sequence, so the frozen layers below run once per sequence.

With only the top layers adapted (and no dropout below them), the input of the first adapted layer never
changes while the adapter trains. ``ActivationCache`` keeps it per sequence: captured on the way through a
normal forward pass (expert training, where a run of one epoch or less keeps nothing) or computed up front
up to that layer only (TabLLM fine-tuning, LoRAHub's loss). Later passes feed it as ``inputs_embeds`` with
the frozen layers swapped for pass-throughs (``skipping``): about 2x faster training steps with the default 8
of 30 layers adapted. Callers check the first cached pass against a plain one and ``disable`` the cache when
they differ (a model the cache does not fit).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any

from finsql.lm.wrapping import layer_count

ACTIVATION_CACHE_BYTES = 6 << 30
"""At most this much memory (CPU) holds cached activations of the frozen lower layers."""
_CACHE_KWARGS = ("cache", "past_key_values", "past_key_value")  # transformers 5.x, 4.x names


@functools.cache
def skip_class() -> type:
    """The pass-through layer class (built on first use: torch is slow to import)."""
    import torch

    class Skip(torch.nn.Module):
        """Stands in for a frozen decoder layer whose output is already known: returns its input.

        Given a key/value cache it still takes its place in it (one-number keys and values per position),
        so that the cache's length, which sizes the attention mask of later passes, stays right.
        """

        def __init__(self, layer_idx: int | None = None) -> None:
            super().__init__()
            self.layer_idx = layer_idx

        def forward(self, hidden_states, *args, **kwargs):
            cache = next((kwargs[k] for k in _CACHE_KWARGS if kwargs.get(k) is not None), None)
            if cache is not None and self.layer_idx is not None:
                placeholder = hidden_states.new_zeros(hidden_states.shape[0], 1, hidden_states.shape[1], 1)
                cache.update(placeholder, placeholder, self.layer_idx)
            return hidden_states

    return Skip


def decoder_layers(model: Any) -> Any:
    """The model's list of transformer layers (the ``ModuleList`` of ``layer_count`` modules), or None."""
    import torch

    n_layers = layer_count(model)
    return next(
        (m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers), None
    )


class _Reached(Exception):
    """Stops a forward pass once the first adapted layer's input is stored."""


def _layer_input(args: tuple, kwargs: dict) -> Any:
    return args[0] if args else kwargs.get("hidden_states")


class ActivationCache:
    """The input of the first adapted layer per sequence (by key), and the layers below it skipped.

    ``limit_bytes`` caps the memory of the kept inputs (None: no cap); they are kept on the CPU.
    """

    def __init__(
        self, model: Any, first_layer: int, limit_bytes: int | None = ACTIVATION_CACHE_BYTES
    ) -> None:
        self.layers = decoder_layers(model)
        self.first = first_layer
        self.limit = limit_bytes
        self.store: dict[Hashable, Any] = {}
        self.bytes = 0
        self.enabled = self.layers is not None and 0 < first_layer < len(self.layers)
        self.verified = False
        self.hits = 0

    def ready(self, keys: Iterable[Hashable]) -> bool:
        """Whether the cache is on and holds every one of ``keys``."""
        return self.enabled and all(k in self.store for k in keys)

    def _keep(self, key: Hashable, hidden: Any) -> None:
        if key not in self.store and (self.limit is None or self.bytes < self.limit):
            kept = hidden.to("cpu", copy=True)
            self.store[key] = kept
            self.bytes += kept.numel() * kept.element_size()

    @contextlib.contextmanager
    def capture(self, keys: Sequence[Hashable], lengths: Sequence[int]) -> Iterator[None]:
        """Store the first adapted layer's input of each (left-padded) row once the model has run.

        The layer may see the batch in pieces along the sequence (a detached prompt, then the target window):
        they are joined in order before the rows are stored.
        """
        if not self.enabled or all(k in self.store for k in keys):
            yield
            return
        pieces = []

        def hook(module, args, kwargs):
            hidden = _layer_input(args, kwargs)
            if hidden is not None and hidden.shape[0] == len(keys):
                pieces.append(hidden.detach())

        handle = self.layers[self.first].register_forward_pre_hook(hook, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()
        if not pieces:
            return
        import torch

        hidden = torch.cat(pieces, dim=1)
        for row, (key, n) in enumerate(zip(keys, lengths, strict=True)):
            self._keep(key, hidden[row, hidden.shape[1] - n :])

    def precompute(self, model: Any, sequences: dict[Hashable, list[int]]) -> None:
        """Run each token sequence alone up to the first adapted layer (no further) and keep its input."""
        if not self.enabled:
            return
        import torch

        current: list[Hashable] = []

        def hook(module, args, kwargs):
            self._keep(current[-1], _layer_input(args, kwargs)[0].detach())
            raise _Reached

        device = next(model.parameters()).device
        handle = self.layers[self.first].register_forward_pre_hook(hook, with_kwargs=True)
        try:
            with torch.no_grad():
                for key, sequence in sequences.items():
                    current.append(key)
                    with contextlib.suppress(_Reached):
                        model(input_ids=torch.tensor([sequence], device=device))
        finally:
            handle.remove()

    def inputs(self, keys: Iterable[Hashable]) -> list[Any]:
        """The kept inputs of ``keys``, each ``(length, hidden)``."""
        return [self.store[k] for k in keys]

    def embeds(self, keys: Sequence[Hashable], lengths: Sequence[int], width: int, like: Any) -> Any:
        """The kept inputs of a batch, left-padded to ``width`` like the token batch."""
        import torch

        hidden = self.store[keys[0]].shape[-1]
        batch = torch.zeros((len(keys), width, hidden), dtype=like.dtype, device=like.device)
        for row, (key, n) in enumerate(zip(keys, lengths, strict=True)):
            batch[row, width - n :] = self.store[key].to(like.device, like.dtype)
        return batch

    @contextlib.contextmanager
    def skipping(self) -> Iterator[None]:
        """The frozen layers below the first adapted one replaced by pass-throughs."""
        saved = [self.layers[i] for i in range(self.first)]
        skip = skip_class()
        try:
            for i in range(self.first):
                self.layers[i] = skip(i)
            yield
        finally:
            for i, layer in enumerate(saved):
                self.layers[i] = layer

    def verify(self, plain: Any, cached: Any, tolerance: float) -> float:
        """Record the one check that logits from cached activations match plain ones (within ``tolerance``
        of the logits' scale; None for ``cached``: they could not be computed); a cache that does not fit
        the model is turned off. Returns the largest difference."""
        self.verified = True
        if cached is None:
            self.disable()
            return float("nan")
        plain, cached = plain.float(), cached.float()
        difference = float((plain - cached).abs().max())
        if not difference <= tolerance * max(float(plain.abs().max()), 1e-6):
            self.disable()
        return difference

    def record_hit(self) -> None:
        """Count a batch served from the cache."""
        self.hits += 1

    def disable(self) -> None:
        """Turn the cache off for good and free what it holds."""
        self.enabled = False
        self.store.clear()
        self.bytes = 0
