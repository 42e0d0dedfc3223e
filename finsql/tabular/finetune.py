"""Few-shot fine-tuning for TabLLM: a PEFT method plugin fitted to k labelled rows in a short torch loop.

The loss is the cross-entropy of the correct choice's tokens after the prompt, length-normalised (T-Few's
loss without its unlikelihood terms). By default only the top ``DEFAULT_LAYERS`` layers are adapted: what
enters the first adapted layer then never changes, so it is computed once per row and the frozen layers below
are skipped at every step (checked once against a plain forward pass, and dropped if they differ).
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from finsql.errors import UsageError
from finsql.lm.models import LoadedModel
from finsql.tabular.scoring import DEFAULT_BATCH_SIZE, answer_logprobs, choice_ids, encode_prompts

DEFAULT_STEPS = 30
DEFAULT_LAYERS = 8
FEW_SHOT_LR = {"ia3": 1e-2, "bitfit": 3e-3, "prompt-tuning": 3e-2, "prefix-tuning": 1e-2}
"""Learning rates for a few dozen steps; other methods (LoRA and kin) get ``DEFAULT_FEW_SHOT_LR``."""
DEFAULT_FEW_SHOT_LR = 1e-3


class _Captured(Exception):
    """Stops a forward pass once the first adapted layer's input is stored."""


class _PassThrough(torch.nn.Module):
    """Stands in for a frozen layer whose output is already known: returns its input."""

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


class FrozenPrefix:
    """Each sequence's input to the first adapted layer, and the layers below swapped out while it is used."""

    def __init__(self, model: Any, first: int) -> None:
        from finsql.experts.training import layer_count

        n_layers = layer_count(model)
        self.layers = next(
            (m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers), None
        )
        self.first = first
        self.enabled = self.layers is not None and 0 < first < len(self.layers)
        self.states: list[torch.Tensor] = []

    @torch.no_grad()
    def capture(self, model: Any, sequences: Sequence[list[int]]) -> None:
        """Run each sequence up to the first adapted layer and keep what enters it."""

        def hook(module, args, kwargs):
            self.states.append((args[0] if args else kwargs["hidden_states"])[0].detach())
            raise _Captured

        device = next(model.parameters()).device
        handle = self.layers[self.first].register_forward_pre_hook(hook, with_kwargs=True)
        try:
            for sequence in sequences:
                with contextlib.suppress(_Captured):
                    model(input_ids=torch.tensor([sequence], device=device))
        finally:
            handle.remove()

    @contextlib.contextmanager
    def skipping(self) -> Iterator[None]:
        """The layers below the first adapted one replaced by pass-throughs."""
        saved = [self.layers[i] for i in range(self.first)]
        try:
            for i in range(self.first):
                self.layers[i] = _PassThrough()
            yield
        finally:
            for i, layer in enumerate(saved):
                self.layers[i] = layer


def _first_adapted(model: Any, how: str, layers: int | None) -> int:
    from finsql.experts.training import layer_count

    n_layers = layer_count(model) or 0
    limited = how in ("layers_to_transform", "frozen-below") and layers and layers < n_layers
    return n_layers - layers if limited else 0


def finetune(
    lm: LoadedModel,
    texts: Sequence[str],
    labels: Sequence[int],
    question: str,
    choices: Sequence[str],
    *,
    method: str,
    params: dict | None = None,
    steps: int = DEFAULT_STEPS,
    lr: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    layers: int | None = DEFAULT_LAYERS,
    seed: int = 0,
) -> tuple[LoadedModel, list[float]]:
    """A copy of the model with ``method`` fitted to the labelled rows (top ``layers`` layers; all when 0 or
    None); returns it ready for scoring, and the loss of every step."""
    from finsql.experts.training import wrap_for_training
    from finsql.plugins import peft_methods

    methods = peft_methods()
    if method not in methods:
        raise UsageError(f"unknown PEFT method {method!r}; methods: {', '.join(methods) or 'none installed'}")
    peft_method = methods[method]
    torch.manual_seed(seed)
    settings = dict(peft_method.defaults if params is None else params)
    model, how = wrap_for_training(peft_method, copy.deepcopy(lm.model), settings, layers or None, steps)
    tok = lm.tokenizer
    prompts = encode_prompts(tok, texts, question, choices)
    choice_tokens = choice_ids(tok, choices)
    answers = [choice_tokens[label] for label in labels]
    prefix = FrozenPrefix(model, _first_adapted(model, how, layers))
    rng = random.Random(seed)
    queue: list[int] = []

    def batch_logprobs(rows: list[int], cached: bool = True) -> torch.Tensor:
        args = ([prompts[i] for i in rows], [answers[i] for i in rows], tok.pad_token_id)
        if not (cached and prefix.enabled):
            return answer_logprobs(model, *args)
        with prefix.skipping():
            return answer_logprobs(model, *args, embeds=[prefix.states[i] for i in rows])

    model.eval()
    if prefix.enabled:
        prefix.capture(model, [p + a for p, a in zip(prompts, answers, strict=True)])
        with torch.no_grad():
            rows = list(range(min(batch_size, len(prompts))))
            plain = batch_logprobs(rows, cached=False)
            prefix.enabled = torch.allclose(batch_logprobs(rows), plain, atol=1e-4, rtol=1e-4)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr or FEW_SHOT_LR.get(method, DEFAULT_FEW_SHOT_LR))
    losses = []
    model.train()
    for step in range(1, steps + 1):
        if len(queue) < min(batch_size, len(prompts)):
            queue.extend(rng.sample(range(len(prompts)), len(prompts)))
        rows, queue = queue[:batch_size], queue[batch_size:]
        loss = -batch_logprobs(rows).mean()
        loss.backward()
        optimizer.step()
        if peft_method.on_step is not None:
            peft_method.on_step(model, step)
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    return LoadedModel(model, tok, f"{lm.name}+{method}", lm.path, lm.device), losses
