"""TabLLM scoring: each answer choice's mean token log-likelihood after the prompt, and few-shot fine-tuning.

The prompt is the serialized row, the question and the choices, as a user turn of the model's chat template
(when it has one) with the answer as the assistant turn. Scores are length-normalised (the mean, not the sum,
of the choice's token log-likelihoods); probabilities are their softmax over the choices.

Batches are left-padded and run once per row with the KV cache kept: the last prompt position scores every
choice's first token, and the rest of the choices (often nothing: "Yes" and "No" are one token each) run on
the cache repeated once per choice, so a prompt is never encoded twice. Prompt-learning adapters (prompt and
prefix tuning) take no position ids: they score whole right-padded sequences instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from finsql.errors import InputError
from finsql.lm.methods import is_prompt_learning
from finsql.lm.models import LoadedModel, cache_argument

DEFAULT_BATCH_SIZE = 8


def build_prompt(tokenizer: Any, serialized: str, question: str, choices: Sequence[str]) -> str:
    """The row, the question and the choices as a user turn, ready for the assistant's answer."""
    instruction = f"{serialized}\n\n{question}\nAnswer with one of: {', '.join(choices)}."
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": instruction}]
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return f"{instruction}\nAnswer:"


def choice_ids(tokenizer: Any, choices: Sequence[str]) -> list[list[int]]:
    """The token ids of each choice as the answer (after a space when there is no chat template)."""
    prefix = "" if getattr(tokenizer, "chat_template", None) else " "
    ids = [tokenizer(prefix + choice, add_special_tokens=False)["input_ids"] for choice in choices]
    if not all(ids):
        raise InputError("an answer choice has no tokens")
    return ids


def encode_prompts(
    tokenizer: Any, texts: Sequence[str], question: str, choices: Sequence[str]
) -> list[list[int]]:
    """The token ids of each row's prompt."""
    prompts = [build_prompt(tokenizer, text, question, choices) for text in texts]
    return tokenizer(prompts, add_special_tokens=False)["input_ids"]


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def answer_logprobs(
    model: Any,
    prompts: Sequence[list[int]],
    answers: Sequence[list[int]],
    pad_id: int,
    embeds: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Mean log-likelihood of each answer after its prompt: whole sequences, right-padded, gradients kept.

    Right padding keeps every real token at its natural position; the LM head runs only from the first
    position that predicts an answer token (``logits_to_keep``). ``embeds``, when given, are each
    sequence's hidden states ``(length, hidden)`` to feed in place of its tokens.
    """
    sequences = [list(p) + list(a) for p, a in zip(prompts, answers, strict=True)]
    length = max(map(len, sequences))
    device = _device(model)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        mask[row, : len(sequence)] = 1
    if embeds is None:
        ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
        inputs = {"input_ids": ids.to(device)}
    else:
        hidden = torch.zeros((len(sequences), length, embeds[0].shape[-1]), dtype=embeds[0].dtype)
        for row, states in enumerate(embeds):
            hidden[row, : len(states)] = states
        inputs = {"inputs_embeds": hidden.to(device)}
    start = min(map(len, prompts)) - 1  # the first position whose logits predict an answer token
    keep = length - start
    logits = model(**inputs, attention_mask=mask.to(device), logits_to_keep=keep).logits[:, -keep:]
    rows, cols, targets = [], [], []
    for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        for j, token in enumerate(answer):
            rows.append(row)
            cols.append(len(prompt) + j - 1 - start)
            targets.append(token)
    picked = logits[torch.tensor(rows), torch.tensor(cols)].float().log_softmax(-1)
    token_lp = picked[torch.arange(len(targets)), torch.tensor(targets, device=picked.device)]
    sums = torch.zeros(len(sequences), device=token_lp.device).index_add(
        0, torch.tensor(rows, device=token_lp.device), token_lp
    )
    return sums / torch.tensor([len(a) for a in answers], device=sums.device)


def _choices_on_cache(
    model: Any, prompts: Sequence[list[int]], choices: Sequence[list[int]], pad_id: int
) -> torch.Tensor:
    """Mean log-likelihood of every choice after every prompt, ``(rows, choices)``: each prompt run once."""
    n, c = len(prompts), len(choices)
    device = _device(model)
    length = max(map(len, prompts))
    ids = torch.full((n, length), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, length - len(prompt) :] = torch.tensor(prompt)
        mask[row, length - len(prompt) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
        use_cache=True,
        logits_to_keep=1,
    )
    first = out.logits[:, -1].float().log_softmax(-1)[:, [choice[0] for choice in choices]]
    rest = max(map(len, choices)) - 1
    if rest == 0:
        return first
    # choice j's tokens after the first, fed after the prompt (one copy of the cache per choice)
    inputs = torch.full((c, rest), pad_id, dtype=torch.long)
    targets = torch.zeros((c, rest), dtype=torch.long)
    tmask = torch.zeros((c, rest))
    for j, choice in enumerate(choices):
        inputs[j, : len(choice) - 1] = torch.tensor(choice[:-1])
        targets[j, : len(choice) - 1] = torch.tensor(choice[1:])
        tmask[j, : len(choice) - 1] = 1
    cache_kwarg = cache_argument(model)
    cache = getattr(out, cache_kwarg)
    cache.batch_repeat_interleave(c)
    positions = mask.sum(-1).repeat_interleave(c)[:, None] + torch.arange(rest, device=device)
    attention = torch.cat([mask.repeat_interleave(c, 0), tmask.repeat(n, 1).to(device).long()], dim=1)
    logits = model(
        input_ids=inputs.repeat(n, 1).to(device),
        attention_mask=attention,
        position_ids=positions,
        **{cache_kwarg: cache},
    ).logits
    token_lp = logits.float().log_softmax(-1).gather(-1, targets.repeat(n, 1).to(device)[..., None])[..., 0]
    later = (token_lp * tmask.repeat(n, 1).to(device)).sum(-1).view(n, c)
    lengths = torch.tensor([len(choice) for choice in choices], device=device)
    return (first + later) / lengths


@torch.inference_mode()
def score_prompts(
    model: Any,
    prompts: Sequence[list[int]],
    choices: Sequence[list[int]],
    pad_id: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """``(rows, choices)`` mean choice log-likelihoods, rows batched by prompt length."""
    scores = np.empty((len(prompts), len(choices)))
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    whole = is_prompt_learning(model)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = [prompts[i] for i in rows]
        if whole:
            pairs = [(prompt, choice) for prompt in batch for choice in choices]
            found = answer_logprobs(model, *zip(*pairs, strict=True), pad_id).view(len(rows), len(choices))
        else:
            found = _choices_on_cache(model, batch, choices, pad_id)
        scores[rows] = found.float().cpu().numpy()
    return scores


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax: choice probabilities from their scores."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def score_texts(
    lm: LoadedModel,
    texts: Sequence[str],
    question: str,
    choices: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """The mean log-likelihood of each choice for each serialized row, ``(rows, choices)``."""
    if not texts:
        return np.empty((0, len(choices)))
    tok = lm.tokenizer
    prompts = encode_prompts(tok, texts, question, choices)
    return score_prompts(lm.model, prompts, choice_ids(tok, choices), tok.pad_token_id, batch_size)
