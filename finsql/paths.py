"""Where finsql keeps its cache: converted models, demo database, embeddings."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FINSQL_CACHE_DIR"


def cache_dir() -> Path:
    """The cache: ``$FINSQL_CACHE_DIR``, else ``$XDG_CACHE_HOME/finsql``, else ``~/.cache/finsql``."""
    if os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "finsql"
    root.mkdir(parents=True, exist_ok=True)
    return root
