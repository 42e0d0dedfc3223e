"""Trainable parameters and saved adapter size of every PEFT method on the default model (no training).

Usage: python benchmarks/method_sizes.py [--layers 8]
Wraps a fresh copy of the model as `finsql train` does (defaults of each method plugin, top N layers) and
saves the untrained adapter. Writes benchmarks/results/method-sizes.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from finsql.lm.hub import folder_bytes
from finsql.lm.models import load_model
from finsql.lm.wrapping import wrap_for_training
from finsql.plugins import peft_methods
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    rows = []
    for name, method in peft_methods().items():
        lm = load_model()
        model, how = wrap_for_training(method, lm.model, dict(method.defaults), args.layers, total_steps=100)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        with tempfile.TemporaryDirectory() as folder:
            method.save(model, Path(folder))
            size = folder_bytes(Path(folder))
        rows.append({"method": name, "trainable_params": trainable, "adapter_bytes": size, "layers": how})
        print(f"| {name} | {trainable:,} | {size / 1e6:.2f} MB | {how} |", flush=True)
    payload = {"benchmark": "method-sizes", "layers": args.layers, "rows": rows}
    write_json_atomic(RESULTS / "method-sizes.json", payload)


if __name__ == "__main__":
    main()
