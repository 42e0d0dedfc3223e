"""Train the demo expert shipped in data/experts/ (or check that training reproduces it bit for bit).

Usage: python scripts/make_demo_expert.py [--check | --copy-only [--name NAME]]
Runs `finsql train` with the flags below on data/train.jsonl plus 2000 pairs synthesized from the demo
database (the recipe of docs/benchmarks.md, "Synthesized training pairs") and copies the expert, with its
example pool, into data/experts/demo-lora/, without the paths of this machine. `--check` trains into a
scratch name and compares the adapter's sha256 with the shipped one (same torch version, thread count and
precision needed: CPU float sums are only reproducible in the same order). `--copy-only` ships an expert of
the hub trained before with these flags (`--name`, default demo-lora).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
NAME = "demo-lora"
FLAGS = [
    "--method", "lora", "--synth", "2000", "--user-weight", "2", "--epochs", "2", "--lr", "2e-4",
    "--layers", "8", "--prompt", "names", "--shots", "3", "--val-split", "0.05", "--eval-steps", "150",
    "--no-augment-skeleton", "--no-augment-paraphrase", "--seed", "0", "--threads", "2",
    "--precision", "fp32",
]  # fmt: skip
MACHINE_FIELDS = ("database", "base_model_path", "path")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="retrain and compare with the shipped adapter")
    parser.add_argument("--copy-only", action="store_true", help="ship the hub's expert, do not train")
    parser.add_argument("--name", default=NAME, help="with --copy-only: the hub expert to ship")
    args = parser.parse_args()

    from finsql.lm.hub import MANIFEST, expert_dir
    from finsql.lm.models import DEFAULT_MODEL_ID

    name = f"{NAME}-check" if args.check else args.name if args.copy_only else NAME
    command = [sys.executable, "-m", "finsql", "train", "--data", str(DATA / "train.jsonl"), "--name", name]
    if not args.copy_only:
        subprocess.run([*command, *FLAGS, "--force"], check=True)
    trained = expert_dir(name)
    shipped = DATA / "experts" / NAME
    if args.check:
        same = sha256(trained / "adapter_model.safetensors") == sha256(shipped / "adapter_model.safetensors")
        print("identical" if same else "different", "adapter weights")
        raise SystemExit(0 if same else 1)
    manifest = json.loads((trained / MANIFEST).read_text(encoding="utf-8"))
    for field in MACHINE_FIELDS:
        manifest.pop(field, None)
    manifest["name"] = NAME
    manifest["training_command"] = "python scripts/make_demo_expert.py"
    shutil.rmtree(shipped, ignore_errors=True)
    shipped.mkdir(parents=True)
    config = json.loads((trained / "adapter_config.json").read_text(encoding="utf-8"))
    local = config["base_model_name_or_path"]
    for item in trained.iterdir():
        if item.name in ("adapter_config.json", "README.md"):  # the Hub id instead of this machine's path
            text = item.read_text(encoding="utf-8").replace(local, DEFAULT_MODEL_ID)
            (shipped / item.name).write_text(text, encoding="utf-8")
        elif item.is_file() and item.name != MANIFEST:
            shutil.copy2(item, shipped / item.name)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (shipped / MANIFEST).write_text(text, encoding="utf-8")
    print(f"shipped {trained} -> {shipped}")


if __name__ == "__main__":
    main()
