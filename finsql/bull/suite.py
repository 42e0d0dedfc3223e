"""Test-suite instance sets on disk: a folder of ``instance-<k>.duckdb`` files per database, and the
import folder that holds one such folder per BULL database (with ``manifest.json``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from finsql.errors import DatabaseError

MANIFEST = "manifest.json"
INSTANCE_GLOB = "instance-*.duckdb"
_NUMBER = re.compile(r"instance-(\d+)\.duckdb$")


def instance_name(k: int) -> str:
    """File name of instance ``k``."""
    return f"instance-{k}.duckdb"


def instances_in(folder: Path) -> list[Path]:
    """The instance files of a database folder, instance 0 first (empty when there are none)."""
    found = [p for p in folder.glob(INSTANCE_GLOB) if _NUMBER.search(p.name) and p.is_file()]
    return sorted(found, key=lambda p: int(_NUMBER.search(p.name).group(1)))


def suites_in(root: Path) -> dict[str, list[Path]]:
    """``{database: instances}`` of an import folder (its manifest names the databases)."""
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        names = list(manifest["databases"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatabaseError(f"{root / MANIFEST} is not a BULL import manifest ({exc})") from None
    return {name: instances_in(root / name) for name in names if instances_in(root / name)}


def is_import(root: Path) -> bool:
    """Whether ``root`` is an import folder (has a manifest)."""
    return (root / MANIFEST).is_file()


def train_pairs_of(db_path: Path) -> Path | None:
    """The import's train pair file when ``db_path`` is an instance inside an import folder, else None."""
    root = Path(db_path).parent.parent
    if not is_import(root):
        return None
    try:
        name = json.loads((root / MANIFEST).read_text(encoding="utf-8"))["pair_files"]["train"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return root / name if (root / name).is_file() else None
