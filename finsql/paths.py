"""Where finsql keeps its cache: converted models, demo database, embeddings."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FINSQL_CACHE_DIR"


def cache_root() -> Path:
    """Where the cache is: ``$FINSQL_CACHE_DIR``, else ``$XDG_CACHE_HOME/finsql``, else ``~/.cache/finsql``
    (not created: see ``cache_dir``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "finsql"


def cache_dir() -> Path:
    """The cache (``cache_root``), created when missing."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    return root
