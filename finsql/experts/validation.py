"""Validating a trained expert as ``ask`` would use it, and the base model on the same held-out pairs.

Both figures go into the expert's manifest: routing uses an expert by itself only when its validation EX is
at least the base model's (``finsql.ask.routing``). The base model is asked as ``ask`` asks it when the expert
is skipped: default prompt settings, examples retrieved from the same pool (the expert's training pairs,
which ``ask`` keeps using), so the two figures differ by the trained weights and the settings trained with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from finsql.ask.evaluation import evaluate
from finsql.ask.pairs import ExampleRetriever, Pair
from finsql.ask.prompting import PromptSettings
from finsql.ask.session import Session
from finsql.console import status
from finsql.experts.config import TrainConfig
from finsql.experts.data import TrainingData, validation_source
from finsql.lm.models import LoadedModel, load_model


@dataclass
class Validation:
    """Execution accuracy of the trained expert and of its base model on the same held-out pairs."""

    expert_ex: float | None
    base_ex: float | None
    n: int
    source: str
    """What the held-out pairs are: ``user`` (written by a person), ``synthetic`` or ``mixed``."""


def validation_accuracy(session: Session, pairs: Sequence[Pair], progress: bool = False) -> float | None:
    """Execution accuracy of greedy answers by ``session``'s model on ``pairs``."""
    if not pairs:
        return None
    session.lm.model.eval()
    return evaluate(session, list(pairs), samples=0, progress=progress).accuracy


def _accuracy(
    data: TrainingData, pairs: list[Pair], lm: LoadedModel, settings: PromptSettings, config: TrainConfig
) -> float:
    """EX of ``lm`` asked with ``settings`` on ``pairs``, each database's pairs on its own database."""
    correct = 0.0
    for db, opened in data.sessions.items():
        chosen = [p for p in pairs if not db or p.db == db]
        if not chosen:
            continue
        session = Session(
            opened.db_path,
            model_name=config.model_name,
            linker=opened.linker,
            shots=settings.shots,
            expert=False,
            prompt_style=settings.style,
            example_tokens=settings.example_tokens,
            lm=lm,
            retriever=ExampleRetriever(data.train_pairs[db]),
            grammar="schema" if config.constrain else "off",
        )
        try:
            correct += (validation_accuracy(session, chosen, progress=config.progress) or 0.0) * len(chosen)
        finally:
            session.close()
    return correct / len(pairs)


def validate(data: TrainingData, trained: LoadedModel, config: TrainConfig) -> Validation:
    """The trained model's EX and the base model's on (at most ``val_ex_limit``) validation pairs."""
    pairs = data.all_val
    pairs = pairs[: config.val_ex_limit] if config.val_ex_limit is not None else pairs
    if not pairs:
        return Validation(None, None, 0, "none")
    trained.model.eval()
    settings = PromptSettings(config.prompt_style, config.shots, config.example_tokens)
    expert_ex = _accuracy(data, pairs, trained, settings, config)
    if config.progress:
        status(f"validating the base model on the same {len(pairs)} pairs")
    base = load_model(config.model_name)
    base_ex = _accuracy(data, pairs, base, PromptSettings(), config)
    return Validation(expert_ex, base_ex, len(pairs), validation_source(pairs))
