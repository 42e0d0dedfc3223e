"""Training a domain expert: a PEFT adapter fitted to one database schema with HF ``Trainer``.

Given a ``finsql bull import`` folder instead of one database, one *joint* expert is trained for every
database the pairs name (each pair prompted with its own database's schema); it answers on any of them.

The training prompt *is* the inference prompt: every pair goes through ``Session.prompt_for`` (same schema
linking, same template, ending with the answer prefix ``SELECT``); the target is the rest of the gold SQL plus
the end-of-turn token, and the loss covers the target tokens only. An expert is used at inference with the
number of retrieved examples (``shots``) it was trained with; the default is 3, as ``ask`` gives the base
model: the k training pairs whose questions are closest (DAIL-SQL style; when training never the pair itself,
nor the pair a paraphrase rewrites). Measured on BULL fund, the examples carry most of what a short run can
learn, at about 1.6x the step time of no examples (``benchmarks/results/train-speed-*.json``).

Speed (CPU first):

* every example is tokenized once; batches are drawn from a length-grouped sampler (seeded per epoch) and
  padded to the longest example of the batch only;
* batches are left-padded, so every target sits at the end of its row: the LM head and the loss run on the
  last ``max target length + 1`` positions only (``logits_to_keep``), not on the whole prompt;
* only the top ``layers`` transformer layers are adapted (``layers_to_transform`` where the method's config
  takes it, else the adapter parameters of lower layers stay frozen at their identity initialisation), so
  back-propagation stops at the first adapted layer;
* without prompt gradients (``prompt_gradients=False``, the default): each batch's prompt positions (all
  but the last ``max target length + 1``) run first, once, without autograd, keeping their keys and values;
  the target window runs on top of them with autograd, so back-propagation covers the window only (about an
  eighth of the positions on BULL fund). The forward values, hence the loss, are those of one whole pass; the
  gradient leaves out what flows back into the prompt's keys and values, so it is an approximation (cosine
  0.91 to the exact gradient on a test batch): 1.38x the examples/s, half the memory, the same EX (README).
  Cached batches (below) split the same way;
* the input of the first adapted layer is cached per example the first time it is computed
  (``ActivationCache``): from the second epoch on, the frozen layers below are skipped (about 2x faster
  steps with the default 8 of 30 layers); a run of one epoch or less keeps no cache;
* bf16 autocast (fp32 master weights) where it is faster: on CUDA, and on a CPU where a bf16 matmul of the
  model's width is measured at least 1.5x faster than fp32 (``mixed_precision``; AMX makes it about 12x per
  matmul and 2.2x per step on the machine of the README's tables);
* torch uses every CPU core this process may run on (``$FINSQL_THREADS`` or ``threads`` to override).

Augmentation (FinSQL-style, rule based, no hosted LLM), each switchable:

* ``skeleton``: one more example per pair whose question carries the marker ``[SQL skeleton]`` and whose
  target is the gold SQL's skeleton (every literal replaced by ``_``), the "skeleton first" auxiliary task of
  FinSQL / RESDSQL: it teaches the query's shape apart from its values. The marker is put on the *prompt* side
  so the plain prompt keeps exactly one target and inference is unchanged;
* ``paraphrase``: one more example per pair with a template rewrite of its question ("How many" <-> "What is
  the number of", "top 5" <-> "5 highest", a few synonyms ...), the same SQL as target; deterministic for a
  seed.

Multi-GPU: run ``accelerate launch -m finsql train ...``; ``Trainer`` does the data parallelism and only the
main process writes the expert.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import random
import re
import shutil
import statistics
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finsql.ask.linking import embed
from finsql.ask.pairs import Pair
from finsql.ask.prompting import ANSWER_PREFIX, build_messages, render_prompt
from finsql.console import err, status
from finsql.errors import FinsqlError, InputError, UsageError
from finsql.lm.methods import is_prompt_learning
from finsql.paths import cache_dir

DEFAULT_LAYERS = 8
DEFAULT_EPOCHS = 3
DEFAULT_AUGMENT = ("skeleton", "paraphrase")
DEFAULT_SHOTS = 3  # retrieved examples: k=0 experts answer worse than the untrained model given k=3
DEFAULT_PROMPT_STYLE = "names"  # compact DDL without column types: 16% fewer tokens, EX no worse (README)
DEFAULT_EXAMPLE_TOKENS: int | None = None  # no cap on the retrieved examples' tokens
DEFAULT_PROMPT_GRADIENTS = False  # prompt without autograd: faster, same EX, lower dev loss (README)
AUGMENTATIONS = frozenset(DEFAULT_AUGMENT)
SKELETON_MARKER = "[SQL skeleton]"
DEFAULT_LR = 2e-4
METHOD_LR = {"ia3": 3e-3, "bitfit": 1e-3, "prompt-tuning": 3e-2, "prefix-tuning": 1e-2, "vera": 4e-3}
"""Learning rates for methods that train far fewer (or differently scaled) parameters than LoRA."""
ACTIVATION_CACHE_BYTES = 6 << 30
"""At most this much memory (CPU) holds cached activations of the frozen lower layers."""
TRAINABLE_FILE = "finsql-trainable.safetensors"
EXTRA_STATE_FILE = "finsql-extra-state.pt"
RUN_FILE = "finsql-run.json"
_LAYER_INDEX = re.compile(r"\.(?:layers|h|layer|blocks)\.(\d+)\.")


# ---- reading pairs ----------------------------------------------------------------------------------------

_SQL_KEYS = ("sql", "query", "sql_query", "SQL")
_DB_KEYS = ("db", "db_id", "db_name")


def _pair_from(item: Any, where: str) -> Pair:
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        raise InputError(f"{where}: expected an object with a 'question'")
    sql = next((item[k] for k in _SQL_KEYS if isinstance(item.get(k), str)), None)
    if sql is None:
        raise InputError(f"{where}: no SQL ('sql', 'query' or 'sql_query')")
    db = next((str(item[k]) for k in _DB_KEYS if item.get(k)), "")
    category = item.get("category") or ()
    return Pair(item["question"], sql, tuple(category) if isinstance(category, list) else (), db)


def read_pairs_any(path: str | os.PathLike, db: str | None = None) -> list[Pair]:
    """Question/SQL pairs from JSONL (``question`` + ``sql``) or a Spider/BULL-style JSON array.

    Array items need ``question`` and ``query`` or ``sql_query`` (or ``sql``); ``db`` keeps only the items
    whose ``db_id``/``db_name``/``db`` equals it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pair file not found: {path}")
    text = path.read_text(encoding="utf-8")
    pairs: list[Pair] = []
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from exc
        pairs = [_pair_from(item, f"{path}[{i}]") for i, item in enumerate(items)]
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{path}:{number}: not a JSON object ({exc})") from exc
            pairs.append(_pair_from(item, f"{path}:{number}"))
    if db is not None:
        known = sorted({p.db for p in pairs if p.db})
        pairs = [p for p in pairs if p.db == db]
        if not pairs:
            shown = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
            raise InputError(f"{path} holds no pairs of database {db!r} (databases: {shown or 'none named'})")
    return pairs


def data_hash(pairs: Sequence[Pair]) -> str:
    """First 16 hex digits of the sha256 of the pairs' questions and SQL, in order."""
    canon = json.dumps([[p.question, p.sql] for p in pairs], ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


# ---- augmentation -----------------------------------------------------------------------------------------


def sql_skeleton(sql: str) -> str | None:
    """``sql`` with every literal (string, number) replaced by ``_``; None when sqlglot cannot parse it."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:  # noqa: BLE001 - sqlglot raises several error types; no skeleton then
        return None
    if tree is None:
        return None
    tree = tree.transform(lambda node: exp.Var(this="_") if isinstance(node, exp.Literal) else node)
    return tree.sql(dialect="duckdb")


def _case_like(template: str, text: str) -> str:
    return text[:1].upper() + text[1:] if template[:1].isupper() else text


# (name, pattern, replacement); rules of one group are alternatives: at most one of them is applied
_AUX = r"(?:had|has|have|were|was|are|is)"
# the opening phrase: alternatives, tried in order; an imperative ends with ".", a question with "?"
_OPENINGS = [
    ("what-number>how-many", r"^what is the number of\b", "how many", "?"),
    ("how-many-there>what-number", r"^how many\b(.*?)\s+are there\b", r"what is the number of\1", "?"),
    ("how-many>what-number", r"^how many\b", "what is the number of", "?"),
    ("what-is>show-me", r"^what (?:is|are)\b", "show me", "."),
    ("show-me>what-is", r"^show me\b", "what is", "?"),
    ("list>which", r"^list(?: all| the)?\b", "which are the", "?"),
    (
        "which-aux>list",
        rf"^which\b(.*?)\s+{_AUX}\b",
        lambda m: f"list the{m.group(1)} that {m.group(0).split()[-1]}",
        ".",
    ),
    ("which>what", r"^which\b", "what", None),
    ("show>display", r"^show\b(?!\s+me\b)", "display", None),
    ("display>show", r"^display\b", "show", None),
]
_RANKS = [
    ("top-n>n-highest", r"\btop (\d+)\b", r"\1 highest"),
    ("n-highest>top-n", r"\b(\d+) (?:highest|largest)\b", r"top \1"),
]
_SYNONYMS = [
    ("average", "mean"),
    ("largest", "biggest"),
    ("smallest", "lowest"),
    ("companies", "firms"),
    ("company", "firm"),
    ("each", "every"),
    ("more than", "over"),
    ("less than", "under"),
    ("greater than", "above"),
]
_QUOTED = re.compile(r"('[^']*'|\"[^\"]*\")")


def _rules() -> list[list[tuple]]:
    groups = [
        [(name, re.compile(pattern, re.I), repl, end) for name, pattern, repl, end in _OPENINGS],
        [(name, re.compile(pattern, re.I), repl, None) for name, pattern, repl in _RANKS],
    ]
    for a, b in _SYNONYMS:
        groups.append(
            [
                (f"{a}>{b}", re.compile(rf"\b{re.escape(a)}\b", re.I), b, None),
                (f"{b}>{a}", re.compile(rf"\b{re.escape(b)}\b", re.I), a, None),
            ]
        )
    return groups


_RULE_GROUPS = _rules()


def _anchored(pattern: re.Pattern) -> bool:
    return pattern.pattern.startswith("^")


def _apply_outside_quotes(text: str, pattern: re.Pattern, repl) -> str:
    parts = _QUOTED.split(text)
    outside = [0] if _anchored(pattern) else range(0, len(parts), 2)  # even parts are unquoted
    expand = repl if callable(repl) else (lambda m: m.expand(repl))
    for i in outside:
        parts[i] = pattern.sub(lambda m: _case_like(m.group(0), expand(m)), parts[i])
    return "".join(parts)


def paraphrase_question(question: str, seed: int = 0) -> str | None:
    """A template rewrite of ``question`` (None when no rule applies); the same for the same seed.

    Each applicable rule group (opening phrase, "top N", each synonym pair) is used with probability 1/2, at
    least one; quoted values are never touched.
    """
    rng = random.Random(f"{seed}\0{question}")
    parts = _QUOTED.split(question)
    unquoted = " ".join(parts[0::2])
    applicable = []
    for group in _RULE_GROUPS:
        found = [rule for rule in group if rule[1].search(parts[0] if _anchored(rule[1]) else unquoted)]
        if found:
            applicable.append(found[0])
    if not applicable:
        return None
    chosen = [rule for rule in applicable if rng.random() < 0.5] or [rng.choice(applicable)]
    text = question
    for _name, pattern, repl, end in chosen:
        text = _apply_outside_quotes(text, pattern, repl)
        if end and text.rstrip()[-1:] in ".?":
            text = text.rstrip()[:-1] + end
    return text if text != question else None


# ---- examples ---------------------------------------------------------------------------------------------


@dataclass
class Example:
    """One tokenized training example: prompt + target ids, the target starting at ``prompt_len``."""

    input_ids: list[int]
    prompt_len: int
    kind: str  # "sql", "skeleton" or "paraphrase"
    uid: int = -1  # unique among the examples of one run (key of the activation cache)

    def __len__(self) -> int:
        return len(self.input_ids)


class _ExcludingRetriever:
    """Few-shot retrieval from the training pairs that never returns the pair being prompted: not for its
    own question, nor for its ``paraphrase`` rewrite (whose nearest pair is the original: its gold SQL)."""

    def __init__(self, retriever, seed: int = 0) -> None:
        self.retriever = retriever
        self.rewritten_from = {paraphrase_question(p.question, seed): p.question for p in retriever.pairs}
        self.rewritten_from.pop(None, None)

    def nearest(self, question: str, k: int) -> list[Pair]:
        if k <= 0:
            return []
        own = {question, self.rewritten_from.get(question, question)}
        found = [p for p in self.retriever.nearest(question, k + 2) if p.question not in own]
        return found[-k:]


def _target_text(sql: str) -> str | None:
    """The gold SQL after the answer prefix (whitespace collapsed, no ';'); None if it does not start so."""
    sql = " ".join(sql.strip().rstrip(";").split())
    if sql[: len(ANSWER_PREFIX)].upper() != ANSWER_PREFIX.upper():
        return None
    return sql[len(ANSWER_PREFIX) :]


def end_of_turn_id(tokenizer) -> int:
    """The token that ends an assistant turn in the chat template (else the tokenizer's eos token)."""
    eos = tokenizer.eos_token_id
    if getattr(tokenizer, "chat_template", None):
        try:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": "q"}, {"role": "assistant", "content": "XYZ"}], tokenize=False
            )
            rest = text.split("XYZ", 1)[1]
            ids = tokenizer(rest, add_special_tokens=False)["input_ids"]
            if ids and ids[0] in set(tokenizer.all_special_ids):
                return ids[0]
        except Exception:  # noqa: BLE001 - odd templates fall back to eos
            pass
    if eos is None:
        raise UsageError("the model's tokenizer has no end-of-sequence token to end the SQL with")
    return eos


def build_examples(
    session,
    pairs: Sequence[Pair],
    augment: Iterable[str] = (),
    seed: int = 0,
    max_length: int | None = None,
    first_uid: int = 0,
) -> tuple[list[Example], dict[str, int]]:
    """Tokenize the pairs' inference prompts and targets once (plus the augmented examples)."""
    tok = session.lm.tokenizer
    end = end_of_turn_id(tok)
    augment = set(augment)
    examples: list[Example] = []
    stats = {"sql": 0, "skeleton": 0, "paraphrase": 0, "skipped_not_select": 0, "skipped_too_long": 0}

    def add(prompt: str, target: str, kind: str) -> None:
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        target_ids = tok(target, add_special_tokens=False)["input_ids"] + [end]
        if max_length is not None and len(prompt_ids) + len(target_ids) > max_length:
            stats["skipped_too_long"] += 1
            return
        examples.append(Example(prompt_ids + target_ids, len(prompt_ids), kind, first_uid + len(examples)))
        stats[kind] += 1

    questions = [pair.question for pair in pairs]
    if "paraphrase" in augment:
        rewrites = (paraphrase_question(pair.question, seed) for pair in pairs)
        questions += [q for q in rewrites if q is not None]
    embed(questions)  # one batched pass: each prompt below links its question from the memo
    for pair in pairs:
        target = _target_text(pair.sql)
        if target is None:
            stats["skipped_not_select"] += 1
            continue
        prompt, linked, shots = session.prompt_for(pair.question)
        add(prompt, target, "sql")
        if "skeleton" in augment:
            skeleton = sql_skeleton(pair.sql)
            skeleton_target = _target_text(skeleton) if skeleton else None
            if skeleton_target is not None:
                question = f"{SKELETON_MARKER} {pair.question}"
                messages = build_messages(question, linked, shots, session.prompt_style)
                add(render_prompt(tok, messages), skeleton_target, "skeleton")
        if "paraphrase" in augment:
            rewrite = paraphrase_question(pair.question, seed)
            if rewrite is not None:
                add(session.prompt_for(rewrite)[0], target, "paraphrase")
    return examples, stats


# ---- batching ---------------------------------------------------------------------------------------------


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
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
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


_CACHE_KWARGS = ("cache", "past_key_values", "past_key_value")  # transformers 5.x, 4.x names


@functools.cache
def _skip_class():
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


class ActivationCache:
    """The input of the first adapted layer, per example: the frozen layers below it run once per example.

    With only the top layers adapted (and no dropout below them), what enters the first adapted layer never
    changes during training. It is captured by a hook the first time an example goes through the model; later
    batches whose examples are all captured start from the cache (``inputs_embeds``, lower layers skipped),
    which saves most of the forward pass from the second epoch on. The first cached batch is checked against a
    plain forward pass (eval mode); any difference disables the cache for the rest of the run.
    """

    def __init__(self, model, first_layer: int, limit_bytes: int) -> None:
        import torch

        n_layers = layer_count(model)
        self.layers = next(
            (m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers), None
        )
        self.first = first_layer
        self.limit = limit_bytes
        self.store: dict[int, Any] = {}
        self.bytes = 0
        self.enabled = self.layers is not None and 0 < first_layer < len(self.layers)
        self.verified = False
        self.hits = 0

    def ready(self, uids: list[int]) -> bool:
        return self.enabled and all(u in self.store for u in uids)

    @contextlib.contextmanager
    def capture(self, uids: list[int], lengths: list[int]):
        """Store the first adapted layer's input of each (left-padded) row once the model has run.

        The layer may see the batch in pieces along the sequence (a detached prompt, then the target window):
        they are joined in order before the rows are stored.
        """
        if not self.enabled or all(u in self.store for u in uids):
            yield
            return
        pieces = []

        def hook(module, args, kwargs):
            hidden = args[0] if args else kwargs.get("hidden_states")
            if hidden is not None and hidden.shape[0] == len(uids):
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
        for row, (uid, n) in enumerate(zip(uids, lengths, strict=True)):
            if uid not in self.store and self.bytes < self.limit:
                kept = hidden[row, hidden.shape[1] - n :].to("cpu", copy=True)
                self.store[uid] = kept
                self.bytes += kept.numel() * kept.element_size()

    def embeds(self, uids: list[int], lengths: list[int], width: int, like):
        """The cached inputs of a batch, left-padded to ``width`` like the token batch."""
        import torch

        hidden = self.store[uids[0]].shape[-1]
        batch = torch.zeros((len(uids), width, hidden), dtype=like.dtype, device=like.device)
        for row, (uid, n) in enumerate(zip(uids, lengths, strict=True)):
            batch[row, width - n :] = self.store[uid].to(like.device, like.dtype)
        return batch

    @contextlib.contextmanager
    def skipping(self):
        """The frozen layers below the first adapted one replaced by pass-throughs."""
        saved = [self.layers[i] for i in range(self.first)]
        try:
            for i in range(self.first):
                self.layers[i] = _skip_class()(i)
            yield
        finally:
            for i, layer in enumerate(saved):
                self.layers[i] = layer

    def disable(self) -> None:
        self.enabled = False
        self.store.clear()
        self.bytes = 0


# ---- wrapping ---------------------------------------------------------------------------------------------


def _cache_kwarg(model) -> str:
    """The model's key/value cache argument: ``cache`` (transformers 5), else ``past_key_values``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def layer_count(model) -> int | None:
    """Number of transformer layers (``config.num_hidden_layers``), None when unknown."""
    config = getattr(model, "config", None)
    return getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)


def wrap_for_training(method, model, params: dict, layers: int | None, total_steps: int):
    """The method's trainable model, adapted in the top ``layers`` layers only where that makes sense.

    Returns ``(model, how)``; ``how`` says how the layer limit was applied: ``layers_to_transform`` (the peft
    config takes it), ``frozen-below`` (adapter parameters of lower layers frozen at their identity init),
    ``all`` (no limit asked, or not fewer than the model's layers) or ``not-layered`` (e.g. prompt tuning).
    """
    with warnings.catch_warnings():  # peft asks transformers 5 a deprecated question; not ours to answer
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        return _wrap_top_layers(method, model, params, layers, total_steps)


def _wrap_top_layers(method, model, params: dict, layers: int | None, total_steps: int):
    params = dict(params)
    if method.needs_total_steps:
        params["total_step"] = total_steps
    n_layers = layer_count(model)
    if not layers or n_layers is None or layers >= n_layers:
        return method.wrap(model, params), "all"
    top = list(range(n_layers - layers, n_layers))
    try:
        wrapped, how = method.wrap(model, {**params, "layers_to_transform": top}), "layers_to_transform"
    except (TypeError, ValueError, FinsqlError) as exc:  # the config does not take it: nothing was changed
        if "layers_to_transform" not in str(exc):
            raise
        wrapped, how = method.wrap(model, params), "frozen-below"
    lowest = n_layers - layers
    layered = False
    for name, param in wrapped.named_parameters():
        found = _LAYER_INDEX.search(name)
        if param.requires_grad and found:
            layered = True
            if int(found.group(1)) < lowest:
                param.requires_grad_(False)
                how = "frozen-below"  # also when the method ignored layers_to_transform (e.g. bitfit)
    if how == "frozen-below" and not layered:
        how = "not-layered"
    return wrapped, how


def trainable_state(model) -> dict:
    """The trainable parameters by name, detached on CPU."""
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _extra_state(model) -> dict | None:
    """Training state outside the parameters: AdaLoRA's importance scores and rank pattern."""
    allocator = getattr(getattr(model, "base_model", None), "rankallocator", None)
    if allocator is None:
        return None
    config = model.base_model.peft_config[model.base_model.trainable_adapter_name]
    return {
        "ipt": allocator.ipt,
        "exp_avg_ipt": allocator.exp_avg_ipt,
        "exp_avg_unc": allocator.exp_avg_unc,
        "rank_pattern": config.rank_pattern,
    }


def _load_trainable(model, folder: str | os.PathLike) -> None:
    """Put the trainable state saved in a checkpoint folder back into ``model`` (same wrapping)."""
    import torch
    from safetensors.torch import load_file

    path = Path(folder) / TRAINABLE_FILE
    if not path.is_file():
        raise InputError(f"checkpoint {folder} has no {TRAINABLE_FILE}")
    state = load_file(str(path))
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != set(params):
        differ = sorted(set(state) ^ set(params))
        raise InputError(
            f"checkpoint {folder} does not fit this model ({len(differ)} tensors differ: {differ[0]})"
        )
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name].to(param.device, param.dtype))
    extra = Path(folder) / EXTRA_STATE_FILE
    allocator = getattr(getattr(model, "base_model", None), "rankallocator", None)
    if extra.is_file() and allocator is not None:
        saved = torch.load(extra, map_location="cpu", weights_only=False)
        device = next(iter(params.values())).device
        for key in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
            setattr(allocator, key, {n: t.to(device) for n, t in saved[key].items()})
        config = model.base_model.peft_config[model.base_model.trainable_adapter_name]
        config.rank_pattern = saved["rank_pattern"]


def _last_complete_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint whose trainer state (written last) and weights are both there."""
    found = []
    for folder in run_dir.glob("checkpoint-*"):
        step = folder.name.rsplit("-", 1)[-1]
        if (
            step.isdigit()
            and (folder / "trainer_state.json").is_file()
            and (folder / TRAINABLE_FILE).is_file()
        ):
            found.append((int(step), folder))
    return max(found)[1] if found else None


# ---- the trainer ------------------------------------------------------------------------------------------


def _trainer_classes():
    """Trainer subclass and callbacks, built lazily (transformers is slow to import)."""
    from transformers import Trainer, TrainerCallback

    class ExpertTrainer(Trainer):
        """Checkpoints hold only the trainable tensors (any method, peft or not); length-grouped batches."""

        def __init__(
            self,
            *args,
            lengths: Sequence[int],
            data_seed: int,
            activations: ActivationCache | None,
            prompt_gradients: bool = True,
            group_by_length: bool = True,
            **kwargs,
        ) -> None:
            super().__init__(*args, **kwargs)
            self._lengths = lengths
            self._data_seed = data_seed
            self._mega = LENGTH_GROUP_BATCHES if group_by_length else 1
            self.activations = activations
            self.prompt_gradients = prompt_gradients
            self._cache_kwarg = _cache_kwarg(self.model)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)
            uids = inputs.pop("example_ids", None)
            cache = self.activations
            if cache is None or uids is None or not cache.enabled:
                return self._loss(model, inputs, return_outputs, num_items_in_batch)
            uids = uids.tolist()
            lengths = inputs["attention_mask"].sum(-1).tolist()
            if cache.ready(uids):
                cached = {k: v for k, v in inputs.items() if k != "input_ids"}
                width = inputs["input_ids"].shape[1]
                cached["inputs_embeds"] = cache.embeds(uids, lengths, width, self._embed_like)
                if not cache.verified:
                    self._verify(model, inputs, cached, num_items_in_batch)
                if cache.enabled:
                    cache.hits += 1
                    with cache.skipping():
                        return self._loss(model, cached, return_outputs, num_items_in_batch)
            with cache.capture(uids, lengths):
                return self._loss(model, inputs, return_outputs, num_items_in_batch)

        def _loss(self, model, inputs, return_outputs, num_items_in_batch):
            """The batch's loss; without prompt gradients the positions before the target window run first,
            once, without autograd, and the window attends to their keys and values (same forward values)."""
            import torch

            keep = inputs.get("logits_to_keep")
            tokens = "input_ids" if "input_ids" in inputs else "inputs_embeds"
            width = inputs[tokens].shape[1]
            if self.prompt_gradients or not keep or keep >= width or not torch.is_grad_enabled():
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mask, positions = inputs["attention_mask"], inputs["position_ids"]
            with torch.no_grad():
                prompt = model(
                    **{tokens: inputs[tokens][:, :-keep]},
                    attention_mask=mask[:, :-keep],
                    position_ids=positions[:, :-keep],
                    use_cache=True,
                    logits_to_keep=1,
                )
            window = {k: v for k, v in inputs.items() if k != "logits_to_keep"}
            window[tokens] = inputs[tokens][:, -keep:]
            window["position_ids"] = positions[:, -keep:]
            window[self._cache_kwarg] = getattr(prompt, self._cache_kwarg)
            window["use_cache"] = True
            return super().compute_loss(model, window, return_outputs, num_items_in_batch)

        @property
        def _embed_like(self):
            return self.accelerator.unwrap_model(self.model).get_input_embeddings().weight

        def _verify(self, model, inputs, cached, num_items_in_batch) -> None:
            """Cached and plain forward passes must agree (eval mode, no dropout), else the cache goes.

            Under mixed precision the same values, summed in another order, may round apart by a few bf16
            steps; a cache that does not fit the model is off by far more (the logits' own scale)."""
            import torch

            cache = self.activations
            cache.verified = True
            training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    plain = super().compute_loss(model, inputs, True, num_items_in_batch)[1].logits.float()
                    with cache.skipping():
                        fast = super().compute_loss(model, cached, True, num_items_in_batch)[1].logits.float()
                difference = float((plain - fast).abs().max())
                tolerance = 3e-2 if self.args.bf16 or self.args.fp16 else 1e-3  # rounding, not a wrong cache
                ok = difference <= tolerance * max(float(plain.abs().max()), 1e-6)
            except Exception:  # noqa: BLE001 - a model the cache does not fit: train without it
                ok, difference = False, float("nan")
            finally:
                model.train(training)
            if not ok:
                cache.disable()
                status(f"activation cache disabled: cached logits differ from plain ones by {difference:.3g}")

        def _get_train_sampler(self, train_dataset=None):
            batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
            return LengthGroupedSampler(self._lengths, batch, self._data_seed, self._mega)

        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            import torch
            from safetensors.torch import save_file

            if not self.args.should_save:
                return
            output_dir = output_dir or self.args.output_dir
            os.makedirs(output_dir, exist_ok=True)
            model = self.accelerator.unwrap_model(self.model)
            save_file(trainable_state(model), os.path.join(output_dir, TRAINABLE_FILE))
            extra = _extra_state(model)
            if extra is not None:
                torch.save(extra, os.path.join(output_dir, EXTRA_STATE_FILE))

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
            _load_trainable(self.accelerator.unwrap_model(model or self.model), resume_from_checkpoint)

        def _load_best_model(self) -> None:
            _load_trainable(self.accelerator.unwrap_model(self.model), self.state.best_model_checkpoint)

    class StepHook(TrainerCallback):
        """The method's ``on_step(model, step)`` after each optimizer step, before gradients are zeroed."""

        def __init__(self, model, on_step) -> None:
            self.model, self.on_step = model, on_step

        def on_optimizer_step(self, args, state, control, **kwargs):
            self.on_step(self.model, state.global_step + 1)

    class StepTimer(TrainerCallback):
        """Seconds of each optimizer step (forward, backward, update), evaluation and saving excluded."""

        def __init__(self) -> None:
            self.durations: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.durations.append(time.perf_counter() - self._start)

        def seconds_per_step(self) -> float | None:
            steady = self.durations[1:] or self.durations  # the first step warms up caches
            return statistics.fmean(steady) if steady else None

    class RichProgress(TrainerCallback):
        """A rich progress bar with the running loss and s/step; one line per evaluation."""

        def __init__(self, title: str, timer: StepTimer) -> None:
            self.title, self.timer = title, timer
            self.bar = None
            self.task = None
            self.loss = float("nan")

        def on_train_begin(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  {task.fields[sps]:.2f}s/step"),
                TimeRemainingColumn(),
                console=err,
                transient=False,
                disable=not err.is_terminal,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.title, total=state.max_steps, loss=self.loss, sps=0.0)
            self.bar.update(self.task, completed=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                sps = self.timer.seconds_per_step() or 0.0
                self.bar.update(self.task, completed=state.global_step, sps=sps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar is None or not logs or "loss" not in logs:
                return
            self.loss = float(logs["loss"])  # logged after on_step_end: this step's loss
            self.bar.update(self.task, loss=self.loss)
            step, every = state.global_step, max(1, state.max_steps // 20)
            if not err.is_terminal and (step % every == 0 or step == state.max_steps):
                # a log file gets a line per 5% instead of a live bar
                sps = self.timer.seconds_per_step() or 0.0
                self.bar.console.print(
                    f"step {step}/{state.max_steps}  loss {self.loss:.4f}  {sps:.2f} s/step", highlight=False
                )

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if self.bar is None or not metrics or "eval_loss" not in metrics:
                return
            best = state.best_metric is None or metrics["eval_loss"] <= state.best_metric
            self.bar.console.print(
                f"step {state.global_step}/{state.max_steps}  epoch {state.epoch or 0:.2f}  "
                f"train loss {self.loss:.4f}  val loss {metrics['eval_loss']:.4f}"
                + ("  (best)" if best else ""),
                highlight=False,
            )

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.stop()
                self.bar = None

    return ExpertTrainer, StepHook, StepTimer, RichProgress


# ---- the entry point --------------------------------------------------------------------------------------


def runs_dir() -> Path:
    """``<cache>/runs``: one folder of Trainer checkpoints per expert being trained."""
    return cache_dir() / "runs"


THREADS_ENV = "FINSQL_THREADS"
PRECISIONS = ("auto", "bf16", "fp32")
CPU_BF16_MIN_SPEEDUP = 1.5  # a bf16 matmul must beat fp32 by this much before a CPU trains under autocast


def cpu_threads() -> int:
    """Torch threads for training: ``$FINSQL_THREADS``, else every core this process may run on.

    On a machine busy with other work, fewer threads than cores can be much faster (threads waiting on a
    busy core stall every operation).
    """
    if os.environ.get(THREADS_ENV, "").strip().isdigit() and int(os.environ[THREADS_ENV]) > 0:
        return int(os.environ[THREADS_ENV])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def training_databases(db_path: str | os.PathLike | None, pairs: Sequence[Pair]) -> dict[str, Path]:
    """The database each pair is prompted with: ``{"": path}`` for one database (None: the demo), or for a
    ``finsql bull import`` folder ``{db: first instance}`` of every database the pairs name by ``db``."""
    from finsql.ask.evaluation import resolve_targets

    return {name: paths[0] for name, paths in resolve_targets(db_path, pairs).items()}


def _split(pairs: list[Pair], val_split: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_val = int(round(len(pairs) * val_split))
    if val_split > 0 and n_val == 0 and len(pairs) >= 2:
        n_val = 1
    if n_val >= len(pairs):
        raise InputError(f"--val-split {val_split} leaves no training pairs out of {len(pairs)}")
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [pairs[i] for i in train], [pairs[i] for i in val]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def validation_accuracy(session, lm, pairs: Sequence[Pair], progress: bool = False) -> float | None:
    """Execution accuracy of greedy answers by ``lm`` (the trained model) on ``pairs``."""
    if not pairs:
        return None
    from finsql.ask.evaluation import evaluate

    lm.model.eval()
    with session.using(lm):
        return evaluate(session, list(pairs), samples=0, progress=progress).accuracy


def _checked_settings(
    name: str,
    method_name: str,
    overrides: dict[str, Any] | None,
    epochs: float | None,
    steps: int | None,
    batch_size: int,
    val_split: float,
    layers: int | None,
    augment: Iterable[str],
    lr: float | None,
    force: bool,
) -> tuple[Any, dict[str, Any], tuple[str, ...], float]:
    """Refuse bad training settings with one line each; the method, its settings, augmentations and lr."""
    from finsql.lm import hub
    from finsql.plugins import peft_methods

    hub.validate_name(name)
    methods = peft_methods()
    if method_name not in methods:
        raise UsageError(
            f"unknown PEFT method {method_name!r}; methods: {', '.join(methods) or 'none installed'}"
        )
    method = methods[method_name]
    unknown = sorted(set(overrides or {}) - set(method.defaults))
    if unknown:
        raise UsageError(
            f"unknown setting {unknown[0]!r} for {method_name}; "
            f"valid settings: {', '.join(sorted(method.defaults))}"
        )
    if epochs is not None and steps is not None:
        raise UsageError("give --epochs or --steps, not both")
    if (epochs is not None and epochs <= 0) or (steps is not None and steps <= 0) or batch_size <= 0:
        raise UsageError("--epochs, --steps and --batch-size must be positive")
    if not 0 <= val_split < 1:
        raise UsageError(f"--val-split must be in [0, 1), not {val_split}")
    if layers is not None and layers < 0:
        raise UsageError(f"--layers must be 0 (all) or more, not {layers}")
    chosen = set(augment)
    bad = sorted(chosen - AUGMENTATIONS)
    if bad:
        raise UsageError(f"unknown augmentation {bad[0]!r}; known: {', '.join(sorted(AUGMENTATIONS))}")
    if hub.expert_dir(name).exists() and not force:
        raise UsageError(f"expert {name!r} already exists; use --force to replace it")
    params = {**method.defaults, **(overrides or {})}
    lr = lr if lr is not None else METHOD_LR.get(method_name, DEFAULT_LR)
    return method, params, tuple(a for a in DEFAULT_AUGMENT if a in chosen), lr


def mixed_precision(lm, precision: str) -> tuple[str | None, float | None]:
    """The autocast dtype training uses (``"bf16"``, ``"fp16"`` or None for none) and, on a CPU, the measured
    bf16 matmul speedup that decided it.

    ``auto``: on CUDA the model's dtype (bf16, else fp16); on a CPU bf16 where a bf16 matmul of the model's
    width is at least ``CPU_BF16_MIN_SPEEDUP`` times faster than fp32, else fp32. ``bf16``/``fp32`` force it
    (one of ``PRECISIONS``, checked by ``train_expert``).
    """
    import torch

    if lm.device == "cuda":
        native = "bf16" if lm.model.dtype == torch.bfloat16 else "fp16"
        return {"auto": native, "bf16": "bf16", "fp32": None}[precision], None
    if lm.device != "cpu" or precision == "fp32":
        return None, None
    from finsql.lm.models import cpu_bf16_speedup

    config = lm.model.config
    width = getattr(config, "hidden_size", 576)
    speedup = round(cpu_bf16_speedup(width, getattr(config, "intermediate_size", 4 * width)), 2)
    if precision == "bf16" or speedup >= CPU_BF16_MIN_SPEEDUP:
        return "bf16", speedup
    return None, speedup


def _training_arguments(
    run_dir: Path,
    batch_size: int,
    total_steps: int,
    lr: float,
    interval: int,
    has_val: bool,
    seed: int,
    lm,
    autocast: str | None,
):
    """``TrainingArguments`` for an expert: eval and checkpoints every ``interval`` steps, the best kept.

    ``autocast`` is the mixed precision (``mixed_precision``); on CUDA batches are pinned.
    """
    from transformers import TrainingArguments

    on_cuda = lm.device == "cuda"
    return TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        max_steps=total_steps,
        learning_rate=lr,
        lr_scheduler_type="linear",
        warmup_steps=int(0.05 * total_steps),
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_strategy="steps",
        logging_steps=1,
        eval_strategy="steps" if has_val else "no",
        eval_steps=interval if has_val else None,
        save_strategy="steps",
        save_steps=interval,
        save_total_limit=2,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss" if has_val else None,
        greater_is_better=False if has_val else None,
        restore_callback_states_from_checkpoint=True,
        prediction_loss_only=True,
        label_names=["labels"],
        remove_unused_columns=False,
        seed=seed,
        data_seed=seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_cuda,
        use_cpu=lm.device == "cpu",
        bf16=autocast == "bf16",
        fp16=autocast == "fp16",
    )


def train_expert(
    db_path: str | os.PathLike | None,
    pairs: Sequence[Pair] | str | os.PathLike,
    method_name: str,
    name: str,
    *,
    model_name: str | None = None,
    overrides: dict[str, Any] | None = None,
    layers: int | None = DEFAULT_LAYERS,
    epochs: float | None = None,
    steps: int | None = None,
    batch_size: int = 8,
    lr: float | None = None,
    val_split: float = 0.1,
    seed: int = 0,
    resume: bool = False,
    augment: Iterable[str] = DEFAULT_AUGMENT,
    shots: int = DEFAULT_SHOTS,
    prompt_style: str = DEFAULT_PROMPT_STYLE,
    example_tokens: int | None = DEFAULT_EXAMPLE_TOKENS,
    progress: bool = True,
    force: bool = False,
    patience: int = 3,
    eval_steps: int | None = None,
    max_length: int | None = None,
    val_ex_limit: int | None = 50,
    keep_run: bool = False,
    callbacks: Sequence[Any] = (),
    threads: int | None = None,
    activation_cache: bool = True,
    prompt_gradients: bool = DEFAULT_PROMPT_GRADIENTS,
    group_by_length: bool = True,
    precision: str = "auto",
) -> Path:
    """Train a domain expert for the database at ``db_path`` on ``pairs``; returns the expert's folder.

    ``db_path`` may also be a ``finsql bull import`` folder: then each pair is prompted with the schema of the
    database its ``db`` names, the validation split is drawn per database, and the one expert is recorded
    for all their schemas (a joint expert).

    ``method_name`` is a registered PEFT method, ``overrides`` updates its defaults, ``layers`` adapts only
    the top N transformer layers (None or 0: all). Give ``epochs`` or ``steps`` (default: 3 epochs). The
    ``val_split`` share of the pairs (seeded) is held out for validation loss at every evaluation, early
    stopping (``patience`` evaluations without improvement; the best checkpoint is kept) and the final
    validation execution accuracy (at most ``val_ex_limit`` pairs). Checkpoints go to
    ``<cache>/runs/<name>``; ``resume`` continues from the last one. ``eval_steps`` is the evaluation and
    checkpoint interval (default: a tenth of the run, at most 50 steps). ``threads``: torch CPU threads
    (default ``cpu_threads()``), restored afterwards. ``callbacks`` are extra ``TrainerCallback``s.
    ``activation_cache`` keeps what enters the first adapted layer per example (see ``ActivationCache``).
    ``prompt_gradients`` False runs each batch's prompt positions once without autograd and back-propagates
    through the target window only (see the module docstring). ``group_by_length`` batches examples of
    similar length (little padding); False draws batches in a plain seeded shuffle. ``precision``: ``auto``
    (bf16 autocast on CUDA, and on a CPU whose bf16 matmuls are measured faster; see ``mixed_precision``),
    ``bf16`` or ``fp32``.
    ``shots``, ``prompt_style`` and ``example_tokens`` shape the prompt as ``Session`` does at inference.
    """
    from finsql.ask.pairs import ExampleRetriever
    from finsql.ask.session import Session
    from finsql.lm import hub

    started = time.perf_counter()
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    method, params, augment, lr = _checked_settings(
        name, method_name, overrides, epochs, steps, batch_size, val_split, layers, augment, lr, force
    )
    pairs = list(pairs) if isinstance(pairs, list | tuple) else read_pairs_any(pairs)
    if not pairs:
        raise InputError("no training pairs")

    import torch
    from transformers import EarlyStoppingCallback, set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads or cpu_threads())
    set_seed(seed)

    # the inference prompt: same session set-up as asking, base model only; one session per database
    sessions: dict[str, Session] = {}
    try:
        for db, path in training_databases(db_path, pairs).items():
            first = next(iter(sessions.values()), None)
            sessions[db] = Session(
                path,
                model_name=model_name,
                shots=shots,
                expert=False,
                prompt_style=prompt_style,
                example_tokens=example_tokens,
                linker=first.linker if first else None,
            )
            if first:
                sessions[db].lm = first.lm  # one model for every database
        session = next(iter(sessions.values()))
        joint = len(sessions) > 1
        lm = session.lm
        fingerprints = {db: s.schema.fingerprint() for db, s in sessions.items()}
        fingerprint = fingerprints[next(iter(sessions))]
        base_hash = hub.weights_hash(lm.path)
        groups = {db: [p for p in pairs if not db or p.db == db] for db in sessions}
        splits = {db: _split(group, val_split, seed) for db, group in groups.items()}
        train_pairs = [p for train, _ in splits.values() for p in train]
        val_pairs = [p for _, val in splits.values() for p in val]
        if progress:
            status(f"building prompts for {len(train_pairs)} training and {len(val_pairs)} validation pairs")
        if max_length is None:
            max_length = getattr(lm.model.config, "max_position_embeddings", None)
        train_examples: list[Example] = []
        val_examples: list[Example] = []
        stats: dict[str, int] = {}
        val_stats: dict[str, int] = {}
        for db, (db_train, _) in splits.items():
            if shots > 0:
                sessions[db].examples = _ExcludingRetriever(ExampleRetriever(db_train), seed)
            built, counts = build_examples(
                sessions[db], db_train, augment, seed, max_length, first_uid=len(train_examples)
            )
            train_examples += built
            stats = {k: stats.get(k, 0) + v for k, v in counts.items()}
        for db, (_, db_val) in splits.items():
            built, counts = build_examples(
                sessions[db], db_val, (), seed, max_length, first_uid=len(train_examples) + len(val_examples)
            )
            val_examples += built
            val_stats = {k: val_stats.get(k, 0) + v for k, v in counts.items()}
        if not train_examples:
            raise InputError("no usable training pairs (gold SQL must start with SELECT and fit the model)")

        from accelerate import PartialState

        world_state = PartialState(cpu=lm.device == "cpu")  # several CPU processes (torchrun) need it
        world = max(1, world_state.num_processes)
        steps_per_epoch = math.ceil(len(train_examples) / (batch_size * world))
        total_steps = steps or max(1, math.ceil(steps_per_epoch * (epochs or DEFAULT_EPOCHS)))
        interval = eval_steps or max(1, min(50, total_steps // 10))
        has_val = bool(val_examples)

        set_seed(seed)
        model, layer_mode = wrap_for_training(method, lm.model, params, layers, total_steps)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        if trainable == 0:
            raise UsageError(f"{method_name} left nothing to train with --layers {layers}")

        run_dir = runs_dir() / name
        run_config = _jsonable(
            {
                "method": method_name, "params": params, "layers": layers, "model": lm.name,
                "base_model_hash": base_hash, "schema_fingerprint": fingerprints if joint else fingerprint,
                "data_hash": data_hash(pairs),
                "batch_size": batch_size, "lr": lr, "total_steps": total_steps, "seed": seed,
                "augment": augment, "shots": shots, "prompt_style": prompt_style,
                "example_tokens": example_tokens, "prompt_gradients": prompt_gradients,
                "group_by_length": group_by_length, "val_split": val_split, "max_length": max_length,
                "interval": interval, "patience": patience,
            }
        )  # fmt: skip
        resume_from = _prepare_run_dir(run_dir, run_config, resume, world_state.is_main_process)
        world_state.wait_for_everyone()

        autocast, bf16_speedup = mixed_precision(lm, precision)
        args = _training_arguments(
            run_dir, batch_size, total_steps, lr, interval, has_val, seed, lm, autocast
        )
        on_cuda = lm.device == "cuda"
        ExpertTrainer, StepHook, StepTimer, RichProgress = _trainer_classes()
        timer = StepTimer()
        trainer_callbacks: list[Any] = [timer]
        if method.on_step is not None:
            trainer_callbacks.append(StepHook(model, method.on_step))
        if has_val and patience > 0:
            trainer_callbacks.append(EarlyStoppingCallback(early_stopping_patience=patience))
        if progress:
            trainer_callbacks.append(RichProgress(f"training {name}", timer))
        trainer_callbacks += list(callbacks)
        fast = not is_prompt_learning(model)
        prompt_gradients = prompt_gradients or not fast  # virtual tokens: no target window to split
        activations = None
        revisits = total_steps > steps_per_epoch  # a single pass never reads what the cache would keep
        cacheable = layer_mode in ("layers_to_transform", "frozen-below")
        if activation_cache and revisits and fast and world == 1 and cacheable:
            activations = ActivationCache(model, layer_count(model) - layers, ACTIVATION_CACHE_BYTES)
        trainer = ExpertTrainer(
            model=model,
            args=args,
            train_dataset=train_examples,
            eval_dataset=val_examples or None,
            data_collator=Collator(lm.tokenizer.pad_token_id, fast=fast, multiple_of=8 if on_cuda else 1),
            callbacks=trainer_callbacks,
            lengths=[len(e) for e in train_examples],
            data_seed=seed,
            activations=activations,
            prompt_gradients=prompt_gradients,
            group_by_length=group_by_length,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        if progress:
            status(
                f"{method_name} on {lm.name}: {len(train_examples)} examples ({stats['sql']} SQL, "
                f"{stats['skeleton']} skeleton, {stats['paraphrase']} paraphrase), {total_steps} steps of "
                f"{batch_size}, lr {lr:g}, layers {layers or 'all'} ({layer_mode}), {trainable:,} trainable "
                f"parameters" + (f"; resuming from {resume_from.name}" if resume_from else "")
            )
        with warnings.catch_warnings():  # peft prefix tuning still passes `past_key_values` (transformers 5)
            warnings.filterwarnings("ignore", "`past_key_values` is deprecated", FutureWarning)
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
            train_seconds = time.perf_counter() - started
            val_loss = trainer.evaluate()["eval_loss"] if has_val else None
        trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # no autocast: validate as inference

        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        cached_batches = activations.hits if activations is not None and activations.enabled else 0
        if activations is not None:
            activations.disable()  # frees the cached activations
        if not trainer.is_world_process_zero():
            world_state.wait_for_everyone()  # while the main process validates and saves the expert
            return hub.expert_dir(name)
        model.eval()
        ex_pairs = val_pairs[:val_ex_limit] if val_ex_limit is not None else val_pairs
        from finsql.lm.models import LoadedModel

        trained = LoadedModel(model, lm.tokenizer, lm.name, lm.path, lm.device)
        val_ex = None
        if ex_pairs:
            per_db = [(s, [p for p in ex_pairs if not db or p.db == db]) for db, s in sessions.items()]
            val_ex = sum(
                (validation_accuracy(s, trained, chosen, progress=progress) or 0.0) * len(chosen)
                for s, chosen in per_db
                if chosen
            ) / len(ex_pairs)
        seconds_per_step = timer.seconds_per_step()
        metrics = {
            "train_loss": losses[-1] if losses else None,
            "train_loss_mean": statistics.fmean(losses) if losses else None,
            "val_loss": val_loss,
            "best_val_loss": trainer.state.best_metric,
            "best_step": trainer.state.best_global_step,
            "val_ex": val_ex,
            "val_ex_n": len(ex_pairs),
            "steps": trainer.state.global_step,
            "epochs": trainer.state.epoch,
            "seconds": round(time.perf_counter() - started, 2),
            "train_seconds": round(train_seconds, 2),
            "seconds_per_step": round(seconds_per_step, 4) if seconds_per_step is not None else None,
            "trainable_params": trainable,
            "total_params": total,
            "activation_cache": activations is not None,
            "cached_batches": cached_batches,
            "prompt_gradients": prompt_gradients,
            "group_by_length": group_by_length,
            "device": lm.device,
            "precision": autocast or str(lm.model.dtype)[6:],
            "cpu_bf16_speedup": bf16_speedup,
            "processes": world,
        }
        manifest = _jsonable(
            {
                "schema_fingerprint": fingerprint,
                **({"schema_fingerprints": fingerprints} if joint else {}),
                "database": str(db_path if joint else session.db_path),
                "base_model": lm.name,
                "base_model_path": lm.path,
                "base_model_hash": base_hash,
                "method": method_name,
                "params": params,
                "layers": layers,
                "layers_applied": layer_mode,
                "hyperparameters": {
                    "epochs": epochs, "steps": steps, "total_steps": total_steps, "batch_size": batch_size,
                    "lr": lr, "val_split": val_split, "seed": seed, "patience": patience,
                    "eval_steps": interval, "max_length": max_length,
                },
                "augment": augment,
                "shots": shots,
                "prompt_style": prompt_style,
                "example_tokens": example_tokens,
                "data": {
                    "hash": data_hash(pairs), "pairs": len(pairs), "train_pairs": len(train_pairs),
                    "val_pairs": len(val_pairs), "train_examples": len(train_examples),
                    "train_tokens_median": statistics.median(map(len, train_examples)),
                    "val_examples": len(val_examples), **{f"train_{k}": v for k, v in stats.items()},
                    "val_skipped": val_stats["skipped_not_select"] + val_stats["skipped_too_long"],
                },
                "metrics": metrics,
            }
        )  # fmt: skip

        def write_state(target: Path) -> None:
            method.save(model, target)
            if shots > 0:  # the expert answers with examples retrieved from its own training pairs
                rows = [{"question": p.question, "sql": p.sql, "db": p.db} for p in train_pairs]
                text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                (target / hub.EXAMPLES_FILE).write_text(text, encoding="utf-8")

        folder = hub.save_expert(name, write_state, manifest, force=force)
        world_state.wait_for_everyone()
        if not keep_run:
            shutil.rmtree(run_dir, ignore_errors=True)
        return folder
    finally:
        for opened in sessions.values():
            opened.close()
        torch.set_num_threads(previous_threads)


def _prepare_run_dir(run_dir: Path, config: dict, resume: bool, main: bool) -> Path | None:
    """The checkpoint to resume from (None: start fresh, after clearing an earlier run's folder)."""
    run_file = run_dir / RUN_FILE
    if resume and run_file.is_file():
        try:
            earlier = json.loads(run_file.read_text(encoding="utf-8"))
        except ValueError:
            earlier = {}
        differ = sorted(k for k in set(config) | set(earlier) if config.get(k) != earlier.get(k))
        if differ:
            raise UsageError(
                f"cannot resume {run_dir.name}: it was started with other settings ({', '.join(differ)}); "
                "run again without --resume to start over"
            )
        checkpoint = _last_complete_checkpoint(run_dir)
        if checkpoint is not None:
            return checkpoint
    if resume:
        status(f"no checkpoint to resume in {run_dir}: starting from the beginning")
    elif main and run_dir.exists() and any(run_dir.glob("checkpoint-*")):
        status(f"discarding the checkpoints of an earlier run in {run_dir} (use --resume to continue one)")
    if main:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        from finsql.storage import write_json_atomic

        write_json_atomic(run_file, config)
    return None
