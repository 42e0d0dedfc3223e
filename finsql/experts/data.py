"""The training data of a run: the pairs split per database, prompted as ``ask`` prompts them, tokenized once.

Each database gets a session set up as asking sets it up (base model only); the prompts come from the same
``PromptBuilder`` as at inference, with examples retrieved from the training pairs but never the pair being
prompted (``ExcludingRetriever``).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from finsql.ask.evaluation import resolve_targets
from finsql.ask.pairs import ExampleRetriever, Pair
from finsql.ask.prompting import PromptBuilder
from finsql.ask.session import Session
from finsql.console import status
from finsql.errors import InputError
from finsql.experts.config import CheckedConfig, TrainConfig
from finsql.experts.examples import Example, ExampleCounts, ExcludingRetriever, build_examples
from finsql.lm.models import LoadedModel, load_model
from finsql.synth.synthesizer import is_synthetic


@dataclass
class TrainingData:
    """The pairs split per database (key ``""`` for one database) and tokenized: what the trainer sees."""

    pairs: list[Pair]
    sessions: dict[str, Session]
    train_pairs: dict[str, list[Pair]]
    val_pairs: dict[str, list[Pair]]
    train_examples: list[Example]
    val_examples: list[Example]
    counts: ExampleCounts
    val_counts: ExampleCounts
    max_length: int | None

    @property
    def lm(self) -> LoadedModel:
        """The base model every database's session shares."""
        return next(iter(self.sessions.values())).lm

    @property
    def joint(self) -> bool:
        """Whether the pairs span several databases (a joint expert)."""
        return len(self.sessions) > 1

    @property
    def fingerprints(self) -> dict[str, str]:
        """Each database's schema fingerprint."""
        return {db: session.schema.fingerprint() for db, session in self.sessions.items()}

    @property
    def all_train(self) -> list[Pair]:
        """Every database's training pairs: the expert's few-shot pool."""
        return [p for pairs in self.train_pairs.values() for p in pairs]

    @property
    def all_val(self) -> list[Pair]:
        """Every database's validation pairs."""
        return [p for pairs in self.val_pairs.values() for p in pairs]


def training_databases(db_path: str | os.PathLike | None, pairs: Sequence[Pair]) -> dict[str, Path]:
    """The database each pair is prompted with: ``{"": path}`` for one database (None: the demo), or for a
    ``finsql bull import`` folder ``{db: first instance}`` of every database the pairs name by ``db``."""
    return {name: paths[0] for name, paths in resolve_targets(db_path, pairs).items()}


@contextlib.contextmanager
def open_sessions(
    db_path: str | os.PathLike | None, pairs: Sequence[Pair], config: TrainConfig
) -> Iterator[dict[str, Session]]:
    """One session per database, set up as asking sets it up (base model only), sharing one model and
    linker; closed after the block."""
    sessions: dict[str, Session] = {}
    try:
        for db, path in training_databases(db_path, pairs).items():
            first = next(iter(sessions.values()), None)
            sessions[db] = Session(
                path,
                model_name=config.model_name,
                shots=config.shots,
                expert=False,
                prompt_style=config.prompt_style,
                example_tokens=config.example_tokens,
                linker=first.linker if first else None,
                lm=first.lm if first else load_model(config.model_name),  # as loaded: training's weights
                synth_pool=0,  # training retrieves from its own pairs (prompt_builder)
            )
        yield sessions
    finally:
        for opened in sessions.values():
            opened.close()


def _split(pairs: list[Pair], val_split: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Training and validation pairs. The validation pairs are drawn from the pairs a person wrote when
    there are at least two (synthesized pairs all train): the expert is measured, and gated against the base
    model, on the questions users ask; from all pairs otherwise."""
    people = [i for i, p in enumerate(pairs) if not is_synthetic(p)]
    pool = people if len(people) >= 2 else list(range(len(pairs)))
    order = list(pool)
    random.Random(seed).shuffle(order)
    n_val = int(round(len(pool) * val_split))
    if val_split > 0 and n_val == 0 and len(pool) >= 2:
        n_val = 1
    if n_val >= len(pairs):
        raise InputError(f"--val-split {val_split} leaves no training pairs out of {len(pairs)}")
    held = set(order[:n_val])
    train = [p for i, p in enumerate(pairs) if i not in held]
    return train, [pairs[i] for i in sorted(held)]


def validation_source(pairs: Sequence[Pair]) -> str:
    """What the validation pairs are: ``user`` (pairs a person wrote), ``synthetic`` or ``mixed``."""
    kinds = {is_synthetic(p) for p in pairs}
    return "mixed" if len(kinds) > 1 else "synthetic" if kinds == {True} else "user"


def prompt_builder(session: Session, train_pairs: list[Pair], config: TrainConfig) -> PromptBuilder:
    """The inference prompt of ``session``'s database, its examples retrieved from the training pairs but
    never the pair being prompted."""
    retriever = session.retriever
    if config.shots > 0:
        retriever = ExcludingRetriever(ExampleRetriever(train_pairs), config.seed)
    return PromptBuilder(session.schema, session.linker, retriever, session.lm.tokenizer, session.settings)


def weigh_user_pairs(pairs: list[Pair], weight: int) -> list[Pair]:
    """``pairs`` with each pair a person wrote repeated ``weight`` times when synthesized pairs are among
    them (they are many and plainer: the few real ones should count more); unchanged otherwise."""
    if weight == 1 or not any(is_synthetic(p) for p in pairs):
        return pairs
    return [p for pair in pairs for p in [pair] * (1 if is_synthetic(pair) else weight)]


def prepare_data(sessions: dict[str, Session], pairs: list[Pair], checked: CheckedConfig) -> TrainingData:
    """Split the pairs per database and tokenize their prompts and targets (augmented for training)."""
    config = checked.config
    groups = {db: [p for p in pairs if not db or p.db == db] for db in sessions}
    splits = {db: _split(group, config.val_split, config.seed) for db, group in groups.items()}
    data = TrainingData(
        pairs,
        sessions,
        {db: train for db, (train, _) in splits.items()},
        {db: val for db, (_, val) in splits.items()},
        [],
        [],
        ExampleCounts(),
        ExampleCounts(),
        config.max_length,
    )
    if config.progress:
        status(
            f"building prompts for {len(data.all_train)} training and {len(data.all_val)} validation pairs"
        )
    if data.max_length is None:
        data.max_length = getattr(data.lm.model.config, "max_position_embeddings", None)
    builders = {db: prompt_builder(session, data.train_pairs[db], config) for db, session in sessions.items()}
    for db, builder in builders.items():
        uid = len(data.train_examples)
        weighted = weigh_user_pairs(data.train_pairs[db], config.user_weight)
        built, counts = build_examples(builder, weighted, checked.augment, config.seed, data.max_length, uid)
        data.train_examples += built
        data.counts += counts
    for db, builder in builders.items():
        uid = len(data.train_examples) + len(data.val_examples)
        built, counts = build_examples(builder, data.val_pairs[db], (), config.seed, data.max_length, uid)
        data.val_examples += built
        data.val_counts += counts
    if not data.train_examples:
        raise InputError("no usable training pairs (gold SQL must start with SELECT and fit the model)")
    return data
