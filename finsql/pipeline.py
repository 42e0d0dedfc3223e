"""The question-to-answer pipeline: link schema, retrieve examples, prompt, generate, check, run, vote."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from finsql.decoding import Decision, decide
from finsql.errors import InputError, NoValidSQL
from finsql.generation import generate
from finsql.linking import EmbeddingLinker, LinkedSchema, SchemaLinker
from finsql.models import LoadedModel, load_model
from finsql.pairs import ExampleRetriever, Pair, demo_pairs, read_pairs
from finsql.prompting import build_messages, render_prompt
from finsql.sandbox import connect
from finsql.schema import Schema, introspect
from finsql.sqlcheck import check_sql

DEFAULT_SHOTS = 3


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
    ) -> None:
        self.db_path = db_path
        self.con = connect(db_path)
        self.schema: Schema = introspect(self.con)
        self.linker = linker or EmbeddingLinker()
        if isinstance(self.linker, EmbeddingLinker):
            self.linker.index_values(self.schema, self.con)
        self.model_name = model_name
        self._lm: LoadedModel | None = None
        self.shots = shots
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.examples = ExampleRetriever(self._example_pairs(examples_path))

    def _example_pairs(self, examples_path: Path | None) -> list[Pair]:
        """Few-shot pool: the given file, else the demo training pairs when this database has the demo schema."""
        if examples_path is not None:
            return read_pairs(examples_path)
        from finsql.database import demo_fingerprint

        return read_pairs(demo_pairs("train")) if self.schema.fingerprint() == demo_fingerprint() else []

    @property
    def lm(self) -> LoadedModel:
        """The language model, loaded on first use."""
        if self._lm is None:
            self._lm = load_model(self.model_name)
        return self._lm

    def prompt_for(self, question: str) -> tuple[str, LinkedSchema, list[Pair]]:
        """The exact prompt the model sees for ``question`` (also used for training)."""
        examples = self.examples.nearest(question, self.shots)
        used = tuple(dict.fromkeys(t for e in examples for t in _tables_in(e.sql, self.schema)))
        linked = self.linker.link(question, self.schema, must_include=used)
        return render_prompt(self.lm.tokenizer, build_messages(question, linked, examples)), linked, examples

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
        decision = decide(candidates, self.schema, self.con, timeout_s=self.timeout_s, max_rows=self.max_rows)
        t_run = time.perf_counter()
        if decision.best is None:
            reasons = "; ".join(dict.fromkeys(a.reason for a in decision.attempts))
            raise NoValidSQL(f"no valid SQL could be produced ({reasons})")
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
