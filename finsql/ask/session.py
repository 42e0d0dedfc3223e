"""The question-to-answer pipeline: link schema, retrieve examples, prompt, generate, check, run, vote."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Literal

from finsql.ask.answer import Answer
from finsql.ask.generation import Candidate, generate
from finsql.ask.grammar import sql_grammar
from finsql.ask.grounding import ValueGrounder, mentioned_dates, mentioned_numbers
from finsql.ask.keyvalues import through_key
from finsql.ask.linking import EmbeddingLinker, SchemaLinker, collect_values, embed
from finsql.ask.pairs import ExampleRetriever, Pair, demo_pairs, read_pairs
from finsql.ask.prompting import (
    ANSWER_PREFIX,
    DEFAULT_SHOTS,
    Prompt,
    PromptBuilder,
    PromptSettings,
    Retriever,
)
from finsql.ask.reshape import reshape
from finsql.ask.routing import Route, expert_examples, route_expert
from finsql.ask.runon import continue_after_runon
from finsql.ask.speculative import SAMPLE_DRAFT
from finsql.ask.sqlcheck import retry_sources
from finsql.ask.taught import TaughtStore
from finsql.ask.voting import Assessment, Decision, assess, decide
from finsql.bull.suite import train_pairs_of
from finsql.db.database import demo_fingerprint
from finsql.db.sandbox import connect
from finsql.db.schema import Schema, introspect
from finsql.errors import InputError, NoValidSQL, UsageError
from finsql.inputs import clean_question
from finsql.lm import hub
from finsql.lm.inference import Prepared, check_precision, prepare
from finsql.lm.models import DEFAULT_MODEL, LoadedModel, load_model
from finsql.plugins import sql_repairers
from finsql.synth.pool import FEW_PAIRS, POOL_PAIRS, PooledRetriever, synthesized_pool

GRAMMARS = ("schema", "linked", "off")
"""What constrains decoding: the whole schema's grammar, the grammar of the question's linked tables only,
or nothing (to compare)."""
RETRY_SAMPLES = 8
"""When no candidate validates, the greedy answer and this many samples are decoded again within the tables
and aliases the refused answer named (closed), and voted with the first candidates. 8 against 3, demo
expert, seeds 0-2: held-out 24, 24, 23/80 with 1, 1, 0 invalid against 23/80 with 3, 3, 1; everyday 47, 48,
48/55 with 2, 0, 0 invalid against 47, 48, 47 with 2, 1, 2; ~1 s more on the mean held-out question."""
GRAMMAR_VALUE_CHARS = (1, 200)
"""Text values of this many characters become the value-aware literals of the grammar."""
DEFAULT_LOOKUP = 10
"""Tokens prompt-lookup decoding drafts per step for a greedy answer (``benchmarks/latency.py``)."""


def _checked_grammar(name: str) -> str:
    """``name`` when it is one of ``GRAMMARS``; one clear line otherwise."""
    if name not in GRAMMARS:
        raise InputError(f"unknown grammar {name!r}; choose one of {', '.join(GRAMMARS)}")
    return name


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
        lm: LoadedModel | None = None,
        retriever: Retriever | None = None,
        grammar: str = "schema",
        precision: str = "auto",
        lookup: int = DEFAULT_LOOKUP,
        sample_draft: int = SAMPLE_DRAFT,
        merge: bool = True,
        synth_pool: int = POOL_PAIRS,
        retry_samples: int = RETRY_SAMPLES,
        seed: int = 0,
        ground: bool = True,
        count_shape: bool = True,
        value_filters: bool = True,
        joins: bool = True,
        one_figure: bool = True,
        year_bounds: bool = True,
        groups: bool = True,
        rankings: bool = True,
        listings: bool = True,
        continue_runons: bool = True,
    ) -> None:
        """``expert``: None picks the expert trained here for this schema and base model (if any), a name
        uses that expert, False the base model alone. With an expert, the prompt settings (``shots``,
        ``prompt_style``, ``example_tokens``: see ``PromptSettings``) are the ones it was trained with.
        ``lm``: a model already loaded, used as it is (no expert is applied to it), and ``retriever``: where
        examples come from instead of the default pool; training validates its model this way. ``grammar``:
        one of ``GRAMMARS``, what constrains decoding. ``precision``: one of ``inference.PRECISIONS``, how
        the loaded model runs (a model passed as ``lm`` runs as it is). ``lookup``: tokens drafted by
        prompt-lookup decoding for a greedy answer (0: none; see ``generation.generate``). ``sample_draft``:
        tokens each row first drafts per pass when samples are decoded (0: none; see ``speculative``).
        ``merge``: fold a LoRA expert into the weights (``inference.prepare``; off only to measure what it
        saves).
        ``synth_pool``: pairs synthesized from the database (``finsql.synth.pool``; 0: none) and retrieved
        beside the pairs people wrote when they are fewer than ``FEW_PAIRS`` and no expert brings its pool.
        ``retry_samples``: samples beside the greedy row when an answer is decoded again (0: greedy alone,
        with prompt lookup). ``seed``: the samples' random draws (the same seed and question give the same
        answer; another seed, other draws). ``ground``: a closed text column equals only the values the
        question mentions, a comparison's bare number and LIMIT only its numbers, a date literal only its
        years (and months) (``grounding``; off only to compare). ``year_bounds``, ``value_filters``,
        ``joins``, ``groups``, ``rankings``, ``listings``, ``one_figure``, ``count_shape``: the steps after
        the vote (``reshape``: periods, filters, joins, groups, rankings, listings, one figure, counts), each
        off only to compare.
        ``continue_runons``: a greedy answer that ran on is decoded on from before its repeats (``runon``;
        off only to compare)."""
        self.grammar = _checked_grammar(grammar)
        self.precision = check_precision(precision)
        self.prepared: Prepared | None = None
        if lookup < 0 or sample_draft < 0:
            raise UsageError("the prompt-lookup draft length cannot be negative")
        if synth_pool < 0 or retry_samples < 0:
            raise UsageError("the synthesized pool size and the retry samples cannot be negative")
        self.retry_samples, self.seed = retry_samples, seed
        self.steps = {"bounds": year_bounds, "filters": value_filters, "joins": joins, "groups": groups}
        self.steps |= {"rankings": rankings, "listings": listings}
        self.steps |= {"one_figure": one_figure, "counts": count_shape}
        self.lookup, self.merge, self.continue_runons = lookup, merge, continue_runons
        self.sample_draft = sample_draft
        self._values: dict | None = None
        self.ground = ground
        self._grounder: ValueGrounder | None = None
        self.settings = PromptSettings(prompt_style, shots, example_tokens)
        self.db_path = db_path
        self.con = connect(db_path)
        self.schema: Schema = introspect(self.con)
        self.linker = linker or EmbeddingLinker()
        if isinstance(self.linker, EmbeddingLinker):
            self.linker.index_values(self.schema, self.con)
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.repairers = list(sql_repairers().items()) if repair else []
        self.force_expert = force_expert
        self.route = (
            Route(None, model_name)
            if lm is not None
            else route_expert(self.schema, model_name, expert, force_expert)
        )
        self.expert_name: str | None = self.route.expert
        self.model_name = self.route.model_name
        if self.route.settings is not None:
            self.settings = self.route.settings
        self._lm = lm
        self._prompts: PromptBuilder | None = None
        self.taught = TaughtStore(self.schema.fingerprint())
        self.synth_pool = 0
        self.retriever: Retriever = retriever or self._retriever(examples_path, synth_pool)

    def _retriever(self, examples_path: Path | None, synth_pool: int) -> Retriever:
        """Retrieval from ``_example_pairs``, and from ``synth_pool`` pairs synthesized from the database when
        fewer than ``FEW_PAIRS`` were written or taught (the base model's pool; an expert brings its own)."""
        pairs = self._example_pairs(examples_path)
        if self.route.pool is not None or self.settings.shots == 0 or len(pairs) >= FEW_PAIRS:
            return ExampleRetriever(pairs)
        self.synth_pool = synth_pool
        if not synth_pool:
            return ExampleRetriever(pairs)
        return PooledRetriever(
            pairs, lambda: synthesized_pool(self.con, self.schema, self.db_path, synth_pool)
        )

    def _example_pairs(self, examples_path: Path | None) -> list[Pair]:
        """Few-shot pool: the pairs taught for this schema (``finsql examples``), with the given file, else
        the pairs the routed (or skipped) expert was trained with, else this database's train pairs when it
        is an instance of a `finsql bull import`, else the demo training pairs for the demo schema."""
        return self.taught.pairs() + self._stored_pairs(examples_path)

    def _stored_pairs(self, examples_path: Path | None) -> list[Pair]:
        if examples_path is not None:
            return read_pairs(examples_path)
        if self.route.pool is not None and self.settings.shots > 0:
            pool = expert_examples(self.route.pool, self.schema.fingerprint())
            if pool is not None:
                return pool
        imported = train_pairs_of(Path(self.db_path))
        if imported is not None:
            name = Path(self.db_path).parent.name
            return [pair for pair in read_pairs(imported) if pair.db == name]
        return read_pairs(demo_pairs("train")) if self.schema.fingerprint() == demo_fingerprint() else []

    @property
    def lm(self) -> LoadedModel:
        """The language model (with the expert applied, merged and at the session's precision), loaded on
        first use."""
        if self._lm is None:
            lm = load_model(self.model_name)
            if self.expert_name is not None:
                lm = hub.load_expert(lm, self.expert_name, self.schema, force=self.force_expert)
            self._lm, self.prepared = prepare(lm, self.precision, self.merge)
        return self._lm

    @property
    def prompts(self) -> PromptBuilder:
        """The prompt builder for this database, made once the model's tokenizer is there."""
        if self._prompts is None:
            self._prompts = PromptBuilder(
                self.schema, self.linker, self.retriever, self.lm.tokenizer, self.settings
            )
        return self._prompts

    def grammar_for(
        self,
        prompt: Prompt,
        tables: tuple[str, ...] | None = None,
        scope: str | None = None,
        aliases: dict[str, str] | None = None,
    ) -> str | None:
        """The grammar that constrains the answer to ``prompt`` (None when decoding is free): the text after
        the prompt's ``SELECT``, over the whole schema, the linked tables or ``tables``, with this database's
        values (those the question mentions, when grounded). ``scope``: one of ``GRAMMARS`` instead of the
        session's; ``aliases`` closes aliases too."""
        scope = scope or self.grammar
        if scope == "off":
            return None
        if self._values is None:
            self._values = collect_values(self.con, self.schema, lengths=GRAMMAR_VALUE_CHARS)
            if self.ground:
                self._grounder = ValueGrounder.index(self.con, self.schema, self._values, embed)
        values, numbers, (years, months) = self._values, None, ((), ())
        if self._grounder is not None:
            values, numbers = self._grounder.mentioned(prompt.question), mentioned_numbers(prompt.question)
            years, months = mentioned_dates(prompt.question)
        if tables is None and scope == "linked":
            tables = tuple(prompt.linked.table_names())
        after_select = prompt.text.endswith(ANSWER_PREFIX)
        return sql_grammar(
            self.schema,
            values=values,
            tables=tables,
            after_select=after_select,
            aliases=aliases,
            numbers=numbers,
            years=years,
            months=months,
        )

    def ask(
        self,
        question: str,
        samples: int = 0,
        temperature: float = 0.7,
        top_p: float = 0.95,
        grammar: str | None = None,
        sample_draft: int | None = None,
    ) -> Answer:
        """Answer ``question``: the voted SQL and its result; NoValidSQL when nothing valid ran.
        ``grammar``: one of ``GRAMMARS`` for this question instead of the session's, ``sample_draft``: the
        samples' first drafts instead of the session's (to compare)."""
        scope = self.grammar if grammar is None else _checked_grammar(grammar)
        drafts = self.sample_draft if sample_draft is None else sample_draft
        question = clean_question(question)
        clock = time.perf_counter()
        taught = self.taught.answer_for(question)
        if taught is not None:
            answer = self._taught_answer(question, taught, clock)
            if answer is not None:
                return answer
        prompt = self.prompts.build(question)
        t_prompt = time.perf_counter()
        text = self.grammar_for(prompt, scope=scope)
        generation = generate(
            self.lm,
            prompt.text,
            samples,
            temperature=temperature,
            top_p=top_p,
            grammar=text,
            lookup=self.lookup,
            sample_draft=drafts,
            seed=self.seed,
        )
        candidates = generation.candidates
        continued = (
            continue_after_runon(self.lm, prompt.text, candidates[0], text, self.lookup)
            if self.continue_runons
            else None
        )
        if continued is not None:  # the continuation answers for the greedy row; the run-on still votes
            candidates[0].greedy = False
            candidates = [continued, *candidates]
        t_gen = time.perf_counter()
        values = prompt.linked.values_anywhere or prompt.linked.matched_values
        # a key compared with the name it points at is read there; it needs the question's values
        keyed = partial(through_key, question=question, matched=values)
        repairers = [*self.repairers, ("key-values", keyed)] if self.repairers else []
        decision = self._decide(candidates, repairers)
        retry_scope: tuple[str, ...] = ()
        retry_seconds = 0.0
        if decision.best is None and text is not None:
            sources = retry_sources(candidates[0].sql, self.schema, prompt.linked.table_names())
            if sources:
                retry_scope = tuple(dict.fromkeys(sources.values()))
                scoped = self.grammar_for(prompt, retry_scope, scope, sources)
                started = time.perf_counter()
                retry = generate(
                    self.lm,
                    prompt.text,
                    self.retry_samples,
                    temperature=temperature,
                    grammar=scoped,
                    lookup=self.lookup,
                    sample_draft=drafts,
                    seed=self.seed,
                )
                retry_seconds = time.perf_counter() - started
                for candidate in retry.candidates:
                    candidate.greedy = False
                candidates = candidates + retry.candidates
                decision = self._decide(candidates, repairers)
        t_run = time.perf_counter()
        seconds = {
            "link": t_prompt - clock,
            "generate": t_gen - t_prompt,
            "prefill": generation.prefill_seconds,
            "grammar": generation.mask_seconds,
            "execute": t_run - t_gen - retry_seconds,
            "retry": retry_seconds,
            "total": t_run - clock,
        }
        if decision.best is None:
            reasons = list(dict.fromkeys(a.reason for a in decision.attempts))
            first = reasons[0] if len(reasons[0]) <= 120 else reasons[0][:117] + "..."
            message = (
                f"no valid SQL could be produced ({len(decision.attempts)} candidates refused, the first: "
                f"{first}); rephrase the question, or check that this database holds what it asks about "
                "(--explain shows every candidate)"
            )
            raise NoValidSQL(message, candidates[0].sql, decision.attempts, seconds)
        logprob = decision.best.candidate.logprob
        shaped = reshape(
            question,
            decision,
            values,
            lambda sql: self._decide([Candidate(sql, sql, logprob, True)]),
            self.schema,
            **self.steps,
        )
        decision = shaped.decision
        best = decision.best
        return Answer(
            question,
            best.candidate.sql,
            best.result.columns,
            best.result.rows,
            best.result.truncated,
            assess(decision),
            prompt.linked,
            prompt.examples,
            decision,
            seconds,
            self.expert_name,
            scope,
            retry_scope,
            generation.steps,
            counted_sql=shaped.counted,
            unfiltered_sql=shaped.unfiltered,
            grouped_sql=shaped.grouped,
            unranked_sql=shaped.unranked,
            unlisted_sql=shaped.unlisted,
            ungrouped_sql=shaped.ungrouped,
            unjoined_sql=shaped.unjoined,
            miscounted_sql=shaped.miscounted,
            unbounded_sql=shaped.unbounded,
        )

    def _taught_answer(self, question: str, taught: Pair, clock: float) -> Answer | None:
        """The answer of the SQL taught for ``question``; None when it no longer runs (the model answers)."""
        decision = self._decide([Candidate(taught.sql, taught.sql, 0.0, True)])
        if decision.best is None or decision.best.result is None:
            return None
        result = decision.best.result
        seconds = {"link": 0.0, "generate": 0.0, "grammar": 0.0}
        seconds["execute"] = seconds["total"] = time.perf_counter() - clock
        trusted = Assessment(1.0, False)  # the user's own answer to this very question
        return Answer(
            question, taught.sql, result.columns, result.rows, result.truncated, trusted, None, [taught],
            decision, seconds, None, "off", taught=True,
        )  # fmt: skip

    @property
    def model_label(self) -> str:
        """The model's name, without loading it."""
        return self._lm.name if self._lm is not None else self.model_name or DEFAULT_MODEL

    def _decide(self, candidates: list, repairers: list | None = None) -> Decision:
        """Run and vote on ``candidates``, repaired by ``repairers`` (the plugins' when None)."""
        return decide(
            candidates,
            self.schema,
            self.con,
            timeout_s=self.timeout_s,
            max_rows=self.max_rows,
            repairers=self.repairers if repairers is None else repairers,
        )

    def close(self) -> None:
        """Close the database connection."""
        self.con.close()
