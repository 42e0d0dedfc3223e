"""Few-shot fine-tuning for TabLLM: a PEFT method plugin fitted to k labelled rows in a short torch loop.

The loss is the cross-entropy of the correct choice's tokens after the prompt, length-normalised (T-Few's
loss without its unlikelihood terms). By default only the top ``DEFAULT_LAYERS`` layers are adapted: what
enters the first adapted layer then never changes, so it is computed once per row (``ActivationCache``) and
the frozen layers below are skipped at every step (checked once against a plain forward pass, dropped if they
differ).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence

import torch

from finsql.errors import UsageError
from finsql.lm.activations import ActivationCache
from finsql.lm.models import LoadedModel
from finsql.lm.wrapping import first_adapted_layer, wrap_for_training
from finsql.plugins import peft_methods
from finsql.tabular.scoring import DEFAULT_BATCH_SIZE, answer_logprobs, choice_ids, encode_prompts

DEFAULT_STEPS = 30
DEFAULT_LAYERS = 8


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
    prefix = ActivationCache(model, first_adapted_layer(model, how, layers), limit_bytes=None)
    rng = random.Random(seed)
    queue: list[int] = []

    def batch_logprobs(rows: list[int], cached: bool = True) -> torch.Tensor:
        args = ([prompts[i] for i in rows], [answers[i] for i in rows], tok.pad_token_id)
        if not (cached and prefix.enabled):
            return answer_logprobs(model, *args)
        with prefix.skipping():
            return answer_logprobs(model, *args, embeds=prefix.inputs(rows))

    model.eval()
    if prefix.enabled:
        prefix.precompute(model, {i: p + a for i, (p, a) in enumerate(zip(prompts, answers, strict=True))})
        with torch.no_grad():
            rows = list(range(min(batch_size, len(prompts))))
            plain = batch_logprobs(rows, cached=False)
            if not torch.allclose(batch_logprobs(rows), plain, atol=1e-4, rtol=1e-4):
                prefix.disable()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr or peft_method.few_shot_lr)
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
