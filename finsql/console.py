"""Shared rich consoles: results on stdout, progress and messages on stderr."""

from __future__ import annotations

from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def status(message: str) -> None:
    """Tell the user what a slow step is doing (stderr, so stdout stays machine-readable)."""
    err.print(f"[dim]finsql:[/dim] {message}", highlight=False)
