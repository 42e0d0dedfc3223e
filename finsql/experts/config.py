"""What a training run is asked to do (``TrainConfig``), and the check that refuses bad settings up front.

Every setting is refused with one line before anything slow happens (loading the model, building prompts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from finsql.errors import UsageError
from finsql.experts.augment import AUGMENTATIONS, DEFAULT_AUGMENT
from finsql.lm import hub
from finsql.lm.methods import PeftMethod
from finsql.lm.runtime import PRECISIONS
from finsql.plugins import peft_methods

DEFAULT_LAYERS = 8
DEFAULT_EPOCHS = 3
DEFAULT_SHOTS = 3  # retrieved examples: k=0 experts answer worse than the untrained model given k=3
# compact DDL without column types: 16% fewer tokens, EX no worse (docs/benchmarks.md)
DEFAULT_PROMPT_STYLE = "names"
DEFAULT_EXAMPLE_TOKENS: int | None = None  # no cap on the retrieved examples' tokens
# the prompt without autograd: faster, same EX, lower dev loss (docs/benchmarks.md)
DEFAULT_PROMPT_GRADIENTS = False
"""Learning rates for methods that train far fewer (or differently scaled) parameters than LoRA."""


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run: ``train_expert(db, pairs, TrainConfig(method="lora", name="x"))``."""

    method: str
    """A registered PEFT method (``finsql plugins``)."""
    name: str
    """The expert's name in the hub."""
    model_name: str | None = None
    """The base model: a Hugging Face id or local path (None: the default SmolLM2)."""
    overrides: dict[str, Any] | None = None
    """Updates to the method's default settings (``--set key=value``)."""
    layers: int | None = DEFAULT_LAYERS
    """Adapt only the top N transformer layers (None or 0: all)."""
    epochs: float | None = None
    """Passes over the training examples; give this or ``steps`` (neither: ``DEFAULT_EPOCHS``)."""
    steps: int | None = None
    """Optimizer steps, instead of ``epochs``."""
    batch_size: int = 8
    """Examples per optimizer step, per process."""
    lr: float | None = None
    """Learning rate (None: the one the method declares, ``PeftMethod.lr``)."""
    val_split: float = 0.1
    """Share of the pairs (seeded, per database) held out for validation loss, early stopping and EX."""
    seed: int = 0
    """Seed of the split, the batch order, the paraphrases and the adapter's initialisation."""
    resume: bool = False
    """Continue from the last checkpoint of a run started with the same settings."""
    augment: Sequence[str] = DEFAULT_AUGMENT
    """Augmentations to add: ``skeleton``, ``paraphrase`` (see ``finsql.experts.augment``)."""
    shots: int = DEFAULT_SHOTS
    """Retrieved training pairs in each prompt; the expert is asked with as many."""
    prompt_style: str = DEFAULT_PROMPT_STYLE
    """How the schema is written into the prompt: ``full``, ``compact`` or ``names``."""
    example_tokens: int | None = DEFAULT_EXAMPLE_TOKENS
    """Token budget of the retrieved examples (questions plus SQL); None: no cap."""
    progress: bool = True
    """Show a progress bar and what each slow step is doing (stderr)."""
    force: bool = False
    """Replace an expert of the same name."""
    patience: int = 3
    """Stop after this many evaluations without a better validation loss (0: never)."""
    eval_steps: int | None = None
    """Steps between evaluations and checkpoints (None: a tenth of the run, at most 50)."""
    max_length: int | None = None
    """Examples longer than this many tokens are left out (None: the model's context length)."""
    val_ex_limit: int | None = 50
    """Validation pairs answered and executed at the end, at most (None: all)."""
    constrain: bool = True
    """Answer the validation pairs within the schema grammar, as ``ask`` does (False: free decoding)."""
    keep_run: bool = False
    """Keep the run's checkpoints once the expert is saved."""
    callbacks: Sequence[Any] = ()
    """Extra ``transformers.TrainerCallback``s."""
    threads: int | None = None
    """Torch CPU threads during the run (None: ``cpu_threads()``)."""
    activation_cache: bool = True
    """Keep what enters the first adapted layer per example (``finsql.lm.activations``)."""
    prompt_gradients: bool = DEFAULT_PROMPT_GRADIENTS
    """Back-propagate through the prompt positions too (exact gradient, slower); see ``trainer``."""
    group_by_length: bool = True
    """Batch examples of similar length (little padding); False: a plain seeded shuffle."""
    precision: str = "auto"
    """``auto`` (bf16 autocast where it is faster, see ``mixed_precision``), ``bf16`` or ``fp32``."""
    user_weight: int = 1
    """When synthesized pairs are mixed in (``finsql synth``), each pair a person wrote is trained on this
    many times per epoch; synthesized ones once."""

    def replace(self, **changes: Any) -> TrainConfig:
        """This config with ``changes``."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CheckedConfig:
    """A config that passed the checks, and what they resolved: method, settings, lr and augmentations."""

    config: TrainConfig
    method: PeftMethod
    params: dict[str, Any]
    augment: tuple[str, ...]
    lr: float


def check_config(config: TrainConfig) -> CheckedConfig:
    """Refuse bad training settings with one line each (UsageError); resolve the method and defaults."""
    c = config
    if c.precision not in PRECISIONS:
        raise UsageError(f"unknown precision {c.precision!r}; choose one of {', '.join(PRECISIONS)}")
    hub.validate_name(c.name)
    methods = peft_methods()
    if c.method not in methods:
        raise UsageError(
            f"unknown PEFT method {c.method!r}; methods: {', '.join(methods) or 'none installed'}"
        )
    method = methods[c.method]
    params = method.check(c.overrides or {})
    if c.epochs is not None and c.steps is not None:
        raise UsageError("give --epochs or --steps, not both")
    if (
        (c.epochs is not None and c.epochs <= 0)
        or (c.steps is not None and c.steps <= 0)
        or c.batch_size <= 0
    ):
        raise UsageError("--epochs, --steps and --batch-size must be positive")
    if c.user_weight < 1:
        raise UsageError(f"--user-weight must be 1 or more, not {c.user_weight}")
    if not 0 <= c.val_split < 1:
        raise UsageError(f"--val-split must be in [0, 1), not {c.val_split}")
    if c.layers is not None and c.layers < 0:
        raise UsageError(f"--layers must be 0 (all) or more, not {c.layers}")
    chosen = set(c.augment)
    bad = sorted(chosen - AUGMENTATIONS)
    if bad:
        raise UsageError(f"unknown augmentation {bad[0]!r}; known: {', '.join(sorted(AUGMENTATIONS))}")
    if hub.expert_dir(c.name).exists() and not c.force:
        raise UsageError(f"expert {c.name!r} already exists; use --force to replace it")
    lr = c.lr if c.lr is not None else method.lr
    return CheckedConfig(config, method, params, tuple(a for a in DEFAULT_AUGMENT if a in chosen), lr)
