"""Errors a user can cause, each with its own process exit code."""

from __future__ import annotations


class FinsqlError(Exception):
    """Base class: a problem reported to the user as one line, never a traceback."""

    exit_code = 1


class UsageError(FinsqlError):
    """A bad command-line option or value."""

    exit_code = 2


class InputError(FinsqlError):
    """An empty or malformed question, pair file or argument value."""

    exit_code = 3


class DatabaseError(FinsqlError):
    """The database path is missing, unreadable or not a database."""

    exit_code = 4


class ModelError(FinsqlError):
    """The language model could not be found, downloaded or loaded."""

    exit_code = 5


class SQLRefused(FinsqlError):
    """A SQL statement failed validation: not a single pure read, or names unknown objects."""

    exit_code = 6


class NoValidSQL(FinsqlError):
    """The model produced no candidate that passed validation and executed."""

    exit_code = 6

    def __init__(
        self, message: str, sql: str = "", attempts: list | None = None, seconds: dict | None = None
    ) -> None:
        super().__init__(message)
        self.sql = sql  # the greedy candidate, kept so evaluation reports can show it
        self.attempts = attempts or []  # every candidate's attempt, for --explain
        self.seconds = seconds or {}  # where the time went, as ``Answer.seconds``


class GrammarEngineError(FinsqlError):
    """The grammar engine could not compute a mask (one of its limits): a finsql defect, not the model's."""

    exit_code = 6


class QueryFailed(FinsqlError):
    """A validated query failed at execution: runtime error or timeout."""

    exit_code = 7


class StorageError(FinsqlError):
    """finsql could not write its cache or an output file: read-only, full or not permitted."""

    exit_code = 8


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error message (the error's type name when it has no message)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__ if isinstance(error, BaseException) else ""
    return text.splitlines()[0].strip()
