"""The question-to-answer pipeline: link schema, retrieve examples, prompt, generate, check, run, vote."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from finsql.ask.generation import generate
from finsql.ask.linking import EmbeddingLinker, LinkedSchema, SchemaLinker
from finsql.ask.pairs import ExampleRetriever, Pair, demo_pairs, read_pairs
from finsql.ask.prompting import PROMPT_STYLES, build_messages, render_prompt
from finsql.ask.sqlcheck import check_sql
from finsql.ask.voting import Decision, decide
from finsql.db.sandbox import connect
from finsql.db.schema import Schema, introspect
from finsql.errors import InputError, NoValidSQL, UsageError
from finsql.lm.models import LoadedModel, load_model
from finsql.plugins import sql_repairers

DEFAULT_SHOTS = 3
CANDIDATES_PER_SHOT = 4  # with a token budget, the closest 4k examples are considered for k shots


@dataclass
class Answer:
    """Everything ``finsql ask`` reports: SQL, result, and how it was reached."""

    question: str
    sql: str
    columns: list[str]
    rows: list[tuple]
    truncated: bool
    confidence: float
    linked: LinkedSchema
    examples: list[Pair]
    decision: Decision
    seconds: dict[str, float] = field(default_factory=dict)
    expert: str | None = None


class Session:
    """An open database (sandboxed) with its schema, linker, example store and, lazily, a model."""

    def __init__(
        self,
        db_path: Path,
        model_name: str | None = None,
        examples_path: Path | None = None,
        linker: SchemaLinker | None = None,
        shots: int = DEFAULT_SHOTS,
        timeout_s: float = 10.0,
        max_rows: int = 1000,
        expert: str | None | Literal[False] = None,
        force_expert: bool = False,
        repair: bool = True,
        prompt_style: str = "full",
        example_tokens: int | None = None,
    ) -> None:
        """``expert``: None picks the expert trained for this schema and base model (if any), a name uses that
        expert, False the base model alone. With an expert, ``shots``, ``prompt_style`` and
        ``example_tokens`` are the ones it was trained with. ``example_tokens`` caps the tokens of the
        retrieved examples (questions plus SQL): the closest ``shots`` examples that fit; None: no cap."""
        if prompt_style not in PROMPT_STYLES:
            raise UsageError(f"unknown prompt style {prompt_style!r}; styles: {', '.join(PROMPT_STYLES)}")
        if example_tokens is not None and example_tokens < 1:
            raise UsageError("the example token budget must be at least 1")
        self.db_path = db_path
        self.con = connect(db_path)
        self.schema: Schema = introspect(self.con)
        self.linker = linker or EmbeddingLinker()
        if isinstance(self.linker, EmbeddingLinker):
            self.linker.index_values(self.schema, self.con)
        self.model_name = model_name
        self._lm: LoadedModel | None = None
        self.shots = shots
        self.prompt_style = prompt_style
        self.example_tokens = example_tokens
        self._example_sizes: dict[Pair, int] = {}  # tokens of each candidate example, counted once
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.repairers = list(sql_repairers().items()) if repair else []
        self.examples = ExampleRetriever(self._example_pairs(examples_path))
        self.force_expert = force_expert
        self.expert_name: str | None = self._route_expert(expert)
        if self.expert_name is not None and self.shots > 0 and examples_path is None:
            from finsql.lm.hub import example_pool

            pool = example_pool(self.expert_name, self.schema.fingerprint())
            if pool is not None:  # the examples the expert was trained with
                self.examples = ExampleRetriever(pool)

    def _route_expert(self, expert: str | None | Literal[False]) -> str | None:
        """The expert to use (see ``__init__``); sets the model and shots a named expert was trained with."""
        if expert is False:
            return None
        from finsql.lm import hub
        from finsql.lm.models import resolve_model_path

        fingerprint = self.schema.fingerprint()
        if expert is None:
            hub.install_bundled(fingerprint=fingerprint)
            if not any(fingerprint in hub.fingerprints_of(m) for m in hub.list_experts()):
                return None
            base_hash = hub.weights_hash(resolve_model_path(self.model_name))
            name = hub.find_expert_for(fingerprint, base_hash)
            if name is None:
                return None
            manifest = hub.load_manifest(name)
        else:
            hub.install_bundled(name=expert)
            manifest = hub.load_manifest(expert)
            name = expert
            if self.model_name is None and manifest.get("base_model"):
                self.model_name = manifest["base_model"]
            base_hash = hub.weights_hash(resolve_model_path(self.model_name))
            hub.check_expert(manifest, fingerprint, base_hash, force=self.force_expert)
        self.shots = int(manifest.get("shots", 0))
        self.prompt_style = manifest.get("prompt_style", "full")
        self.example_tokens = manifest.get("example_tokens")
        return name

    def _example_pairs(self, examples_path: Path | None) -> list[Pair]:
        """Few-shot pool: the given file, else this database's train pairs when it is an instance of a
        `finsql bull import`, else the demo training pairs if the database has the demo schema."""
        if examples_path is not None:
            return read_pairs(examples_path)
        from finsql.bull.suite import train_pairs_of
        from finsql.db.database import demo_fingerprint

        imported = train_pairs_of(Path(self.db_path))
        if imported is not None:
            name = Path(self.db_path).parent.name
            return [pair for pair in read_pairs(imported) if pair.db == name]

        return read_pairs(demo_pairs("train")) if self.schema.fingerprint() == demo_fingerprint() else []

    @property
    def lm(self) -> LoadedModel:
        """The language model, loaded on first use."""
        if self._lm is None:
            lm = load_model(self.model_name)
            if self.expert_name is not None:
                from finsql.lm.hub import load_expert

                lm = load_expert(lm, self.expert_name, self.schema, force=self.force_expert)
            self._lm = lm
        return self._lm

    @lm.setter
    def lm(self, value: LoadedModel | None) -> None:
        """Use ``value``, a model already loaded, as it is (no expert is applied to it); None loads on use."""
        self._lm = value
        self._example_sizes.clear()  # counted with the previous model's tokenizer

    @contextmanager
    def using(self, lm: LoadedModel) -> Iterator[Session]:
        """The session answering with ``lm`` inside the block, with its own model again after it."""
        previous = self._lm
        self.lm = lm
        try:
            yield self
        finally:
            self.lm = previous

    def prompt_for(self, question: str) -> tuple[str, LinkedSchema, list[Pair]]:
        """The exact prompt the model sees for ``question`` (also used for training)."""
        examples = self.examples_for(question)
        used = tuple(dict.fromkeys(t for e in examples for t in _tables_in(e.sql, self.schema)))
        linked = self.linker.link(question, self.schema, must_include=used)
        messages = build_messages(question, linked, examples, self.prompt_style)
        return render_prompt(self.lm.tokenizer, messages), linked, examples

    def examples_for(self, question: str) -> list[Pair]:
        """The retrieved examples for ``question``: the ``shots`` closest, or with a token budget the closest
        ``shots`` whose questions and SQL fit in it together; least similar first, as ``nearest`` orders."""
        if self.example_tokens is None or self.shots == 0:
            return self.examples.nearest(question, self.shots)
        tok = self.lm.tokenizer
        sizes = self._example_sizes
        chosen, used = [], 0
        for pair in reversed(self.examples.nearest(question, self.shots * CANDIDATES_PER_SHOT)):
            if pair not in sizes:
                sizes[pair] = len(tok(f"{pair.question}\n{pair.sql}", add_special_tokens=False)["input_ids"])
            size = sizes[pair]
            if used + size <= self.example_tokens:
                chosen.append(pair)
                used += size
                if len(chosen) == self.shots:
                    break
        return chosen[::-1]

    def ask(self, question: str, samples: int = 0, temperature: float = 0.7, top_p: float = 0.95) -> Answer:
        """Answer ``question``: the voted SQL and its result; NoValidSQL when nothing valid ran."""
        question = question.strip()
        if not question:
            raise InputError("the question is empty")
        clock = time.perf_counter()
        prompt, linked, examples = self.prompt_for(question)
        t_prompt = time.perf_counter()
        candidates = generate(self.lm, prompt, samples, temperature=temperature, top_p=top_p)
        t_gen = time.perf_counter()
        decision = decide(
            candidates,
            self.schema,
            self.con,
            timeout_s=self.timeout_s,
            max_rows=self.max_rows,
            repairers=self.repairers,
        )
        t_run = time.perf_counter()
        if decision.best is None:
            reasons = "; ".join(dict.fromkeys(a.reason for a in decision.attempts))
            raise NoValidSQL(f"no valid SQL could be produced ({reasons})", candidates[0].sql)
        best = decision.best
        return Answer(
            question,
            best.candidate.sql,
            best.result.columns,
            best.result.rows,
            best.result.truncated,
            decision.confidence,
            linked,
            examples,
            decision,
            {
                "link": t_prompt - clock,
                "generate": t_gen - t_prompt,
                "execute": t_run - t_gen,
                "total": t_run - clock,
            },
            self.expert_name,
        )

    def close(self) -> None:
        """Close the database connection."""
        self.con.close()


def _tables_in(sql: str, schema: Schema) -> list[str]:
    """Schema tables an example's SQL reads (examples that do not check are ignored)."""
    try:
        return list(check_sql(sql, schema).tables)
    except Exception:  # noqa: BLE001 - a stale example must not break asking
        return []
