"""What ``finsql ask`` reports for a question: the SQL, its result, and how it was reached."""

from __future__ import annotations

from dataclasses import dataclass, field

from finsql.ask.linking import LinkedSchema
from finsql.ask.pairs import Pair
from finsql.ask.voting import Assessment, Decision


@dataclass
class Answer:
    """Everything ``finsql ask`` reports: SQL, result, and how it was reached."""

    question: str
    sql: str
    columns: list[str]
    rows: list[tuple]
    truncated: bool
    assessment: Assessment
    """How far to trust the answer: confidence, whether it is low, and why."""
    linked: LinkedSchema | None
    """The schema linked to the question (None for a taught answer: no prompt was built)."""
    examples: list[Pair]
    decision: Decision
    seconds: dict[str, float] = field(default_factory=dict)
    expert: str | None = None
    grammar: str = "off"
    retry_tables: tuple[str, ...] = ()
    """When no candidate was valid, the answer was decoded again within these tables (``retry_samples``)."""
    steps: int = 0
    """Decoding steps of the first generation (its longest row), for per-token timing."""
    taught: bool = False
    """Answered with the SQL taught for this very question (``finsql examples``), no model involved."""
    counted_sql: str | None = None
    """A count question answered with a list: the list's SQL, whose rows ``sql`` counts (``shape``)."""
    unfiltered_sql: str | None = None
    """The model's SQL before the filter on a value the question names was added (``filters``)."""
    miscounted_sql: str | None = None
    """The model's SQL before a bare count of another table was made to count the table the question
    counts (``shape``)."""
    unjoined_sql: str | None = None
    """The SQL before a table it read only to join, which the question never names, was dropped
    (``joins``)."""
    unbounded_sql: str | None = None
    """The model's SQL before the period the question names ("after 2015", "in 2023") bounded it
    (``periods``)."""
    ungrouped_sql: str | None = None
    """The SQL before the groups the question states were formed or bounded (``groups``)."""
    unranked_sql: str | None = None
    """The SQL before the question's superlative ranked it and kept the rows asked for (``ranking``)."""
    unlisted_sql: str | None = None
    """The SQL before the list was made to show what the question pairs, or sorted as it asks
    (``listing``)."""
    grouped_sql: str | None = None
    """The SQL before a grouping whose every group is one row was dropped for one figure (``reshape``)."""
