"""The built-in question paraphraser: the rule-based rewrites training already uses ("How many" <-> "What
is the number of", synonyms, "top 5" <-> "5 highest"), offered to ``finsql synth --paraphraser rules``.

A plugin with a larger model registers its own ``Paraphraser`` the same way.
"""

from __future__ import annotations

from finsql.experts.augment import paraphrase_question
from finsql.hookspecs import hookimpl
from finsql.synth.paraphrase import Paraphraser


def rules(question: str, sql: str, seed: int) -> list[str]:
    """One rule-based rewrite of ``question`` (none when no rule applies); ``sql`` is not needed."""
    found = paraphrase_question(question, seed)
    return [found] if found else []


@hookimpl
def register_paraphrasers(register):
    register(Paraphraser("rules", rules, "rule-based rewrites: openings, synonyms, 'top N' (no model)"))
