"""TabLLM row serializers: text sentences, a list, values only, and a list in a seeded shuffled order.

Each gets a prepared row (column description -> value text, missing values already left out, table order)
and returns the text the language model reads (Hegselmann et al., TabLLM, AISTATS 2023, section 3.2).
"""

from __future__ import annotations

import hashlib

from finsql.hookspecs import hookimpl


def text(row: dict[str, str]) -> str:
    """One sentence per feature: "The age is 42. The education is Master." (TabLLM's best)."""
    return " ".join(f"The {name} is {value}." for name, value in row.items())


def list_items(row: dict[str, str]) -> str:
    """One "- name: value" line per feature."""
    return "\n".join(f"- {name}: {value}" for name, value in row.items())


def list_values(row: dict[str, str]) -> str:
    """One "- value" line per feature, without the names."""
    return "\n".join(f"- {value}" for value in row.values())


def list_shuffled(row: dict[str, str], seed: int = 0) -> str:
    """The list with the features in an order fixed by ``seed`` (a control: does the order matter?).

    A feature's place depends only on the seed and its name, so every row of a table gets the same order.
    """

    def rank(name: str) -> bytes:
        return hashlib.sha256(f"{seed}\0{name}".encode()).digest()

    return list_items({name: row[name] for name in sorted(row, key=rank)})


@hookimpl
def register_serializers(register):
    register(text, name="text")
    register(list_items, name="list")
    register(list_values, name="list-values")
    register(list_shuffled, name="list-shuffled")
