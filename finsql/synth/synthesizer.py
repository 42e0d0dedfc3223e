"""Synthesize question/SQL pairs from a database alone, keeping only the pairs that execute well.

GAZP-style: queries are drawn inside the target database (``templates``), each one is validated as an
answer would be (sqlglot, ``check_sql``) and run in the sandbox, and it is kept only when it returns a
non-empty, non-degenerate result and neither its SQL nor its question was drawn before. Paraphraser plugins
(``register_paraphrasers``) may add more wordings of the kept questions. One seed, one list of pairs.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb

from finsql.ask.pairs import Pair
from finsql.ask.sqlcheck import check_sql, parse_query
from finsql.db.sandbox import run_query
from finsql.db.schema import Schema
from finsql.errors import FinsqlError, UsageError
from finsql.synth.paraphrase import Paraphraser
from finsql.synth.profile import DatabaseProfile, profile_database
from finsql.synth.templates import TEMPLATES, Composer, Draft

SYNTHETIC = "synthetic"
"""The category label every synthesized pair carries (with its template's name)."""
MAX_ROWS = 50
"""A result with more rows than this is too broad to be a question's answer."""
ATTEMPTS_PER_PAIR = 8
"""Drafts tried per pair asked for, at most, before the synthesizer settles for fewer."""
TIMEOUT_S = 2.0


@dataclass
class SynthReport:
    """What a synthesis run kept, what it dropped and why, per template, and how long it took."""

    database: str
    requested: int
    seed: int
    kept: int = 0
    paraphrased: int = 0
    dropped: Counter = field(default_factory=Counter)
    templates: dict[str, Counter] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, template: str, outcome: str) -> None:
        """Record one draft of ``template``: ``kept`` or the reason it was dropped."""
        self.templates.setdefault(template, Counter())[outcome] += 1
        if outcome == "kept":
            self.kept += 1
        else:
            self.dropped[outcome] += 1

    def to_json(self) -> dict:
        """The report as plain JSON."""
        return {
            "database": self.database,
            "requested": self.requested,
            "seed": self.seed,
            "kept": self.kept,
            "paraphrased": self.paraphrased,
            "dropped": dict(sorted(self.dropped.items())),
            "templates": {name: dict(sorted(c.items())) for name, c in sorted(self.templates.items())},
            "templates_covered": sorted(n for n, c in self.templates.items() if c["kept"]),
            "seconds": round(self.seconds, 2),
        }


def _normal(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().lower()


def _degenerate(rows: list[tuple], truncated: bool) -> str | None:
    """Why a result is no answer to a question: none, all NULL, a zero count or NaN, or too many rows."""
    if not rows:
        return "empty result"
    if truncated or len(rows) > MAX_ROWS:
        return "too many rows"
    cells = [v for row in rows for v in row]
    if all(v is None for v in cells):
        return "all NULL"
    if (
        len(cells) == 1
        and isinstance(cells[0], int | float)
        and (cells[0] == 0 or not math.isfinite(cells[0]))
    ):
        return "zero or not finite"
    return None


SERIES = ("per_year",)
"""Templates whose GROUP BY is a period, which ``groups_single_rows`` does not judge."""


def groups_single_rows(con: duckdb.DuckDBPyConnection, sql: str) -> bool:
    """Whether ``sql`` groups by keys that each hold one row, so its aggregates read one value each ("the
    highest employees for each stock" is every stock's own count): a needless GROUP BY, which as an example
    teaches a model to group a plain superlative. False for SQL without GROUP BY or that cannot be probed."""
    from sqlglot import exp

    tree = parse_query(sql)
    if not isinstance(tree, exp.Select) or not tree.args.get("group"):
        return False
    for part in ("having", "order", "limit", "offset", "distinct", "qualify"):
        tree.set(part, None)
    tree.set("expressions", [exp.alias_(exp.Count(this=exp.Star()), "group_rows")])
    probe = f"SELECT max(group_rows) FROM ({tree.sql(dialect='duckdb')})"
    try:  # keys naming select aliases or positions do not survive the probe: not judged
        rows = run_query(con, probe, timeout_s=TIMEOUT_S, max_rows=1).rows
    except FinsqlError:
        return False
    return bool(rows) and rows[0][0] == 1


class Synthesizer:
    """Draws, checks and runs synthesized pairs for one open database."""

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: Schema, db_name: str = "") -> None:
        self.con = con
        self.schema = schema
        self.db_name = db_name
        self.profile: DatabaseProfile = profile_database(con, schema)

    def _outcome(self, draft: Draft, seen_sql: set[str], seen_questions: set[str]) -> str:
        """``kept``, or why ``draft`` is dropped."""
        if _normal(draft.sql) in seen_sql:
            return "duplicate SQL"
        if draft.question.lower() in seen_questions:
            return "duplicate question"
        try:
            check_sql(draft.sql, self.schema)
            result = run_query(self.con, draft.sql, timeout_s=TIMEOUT_S, max_rows=MAX_ROWS)
        except FinsqlError as exc:
            return "timed out" if "timed out" in str(exc) else "does not run"
        degenerate = _degenerate(result.rows, result.truncated)
        # a series per period is asked that way even where a period holds one row (a firm's yearly figure)
        if degenerate is None and draft.template not in SERIES and groups_single_rows(self.con, draft.sql):
            return "groups single rows"
        return degenerate or "kept"

    def run(
        self,
        n: int,
        seed: int = 0,
        templates: Sequence[str] = TEMPLATES,
        paraphrasers: Sequence[Paraphraser] = (),
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Pair], SynthReport]:
        """Up to ``n`` kept pairs (fewer when the schema cannot give that many distinct ones), and the report.

        Templates take turns in a seeded order, so every template the schema allows is covered."""
        unknown = sorted(set(templates) - set(TEMPLATES))
        if unknown:
            raise UsageError(f"unknown template {unknown[0]!r}; templates: {', '.join(TEMPLATES)}")
        started = time.perf_counter()
        rng = random.Random(seed)
        composer = Composer(self.profile, rng)
        report = SynthReport(self.db_name, n, seed)
        pairs: list[Pair] = []
        seen_sql: set[str] = set()
        seen_questions: set[str] = set()
        order = list(templates)
        rng.shuffle(order)
        barren: set[str] = set()
        for attempt in range(n * ATTEMPTS_PER_PAIR):
            if len(pairs) >= n or len(barren) == len(order):
                break
            template = order[attempt % len(order)]
            if template in barren:
                continue
            draft = composer.draft(template)
            if draft is None:
                report.count(template, "not applicable")
                if (
                    report.templates[template]["not applicable"] >= 20
                    and not report.templates[template]["kept"]
                ):
                    barren.add(template)
                continue
            outcome = self._outcome(draft, seen_sql, seen_questions)
            report.count(template, outcome)
            if outcome != "kept":
                continue
            seen_sql.add(_normal(draft.sql))
            seen_questions.add(draft.question.lower())
            pairs.append(Pair(draft.question, draft.sql, (SYNTHETIC, template), self.db_name))
            if progress is not None:
                progress(len(pairs))
        for paraphraser in paraphrasers:
            for number, pair in enumerate(list(pairs)):
                for question in paraphraser.paraphrase(pair.question, pair.sql, seed + number):
                    if question.lower() not in seen_questions:
                        seen_questions.add(question.lower())
                        pairs.append(Pair(question, pair.sql, pair.category, pair.db))
                        report.paraphrased += 1
        report.seconds = time.perf_counter() - started
        return pairs, report


def is_synthetic(pair: Pair) -> bool:
    """Whether ``pair`` was synthesized (not written by a person)."""
    return SYNTHETIC in pair.category


def synthesize_database(
    path,
    n: int,
    seed: int = 0,
    db_name: str = "",
    templates: Sequence[str] = TEMPLATES,
    paraphrasers: Sequence[Paraphraser] = (),
) -> tuple[list[Pair], SynthReport]:
    """``Synthesizer.run`` on the database file at ``path`` (opened read-only and closed again)."""
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect

    con = connect(path)
    try:
        return Synthesizer(con, introspect(con), db_name).run(n, seed, templates, paraphrasers)
    finally:
        con.close()
