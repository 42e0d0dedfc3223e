"""finsql: ask financial databases questions in plain language."""

__version__ = "0.1.0"
