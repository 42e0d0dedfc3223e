"""Train the demo expert shipped in data/experts/ (or check that training reproduces it bit for bit).

Usage: python scripts/make_demo_expert.py [--check | --copy-only]
Runs `finsql train` with the flags below on data/train.jsonl for the demo database and copies the expert
into data/experts/demo-lora/, without the paths of this machine. `--check` trains into a scratch name and
compares the adapter's sha256 with the shipped one (same torch version and thread count needed: CPU float
sums are only reproducible in the same order). `--copy-only` ships the hub's demo-lora trained before.
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
    "--method", "lora", "--epochs", "3", "--lr", "4e-4", "--layers", "8", "--prompt", "compact",
    "--shots", "0", "--no-augment-skeleton", "--eval-steps", "84", "--seed", "0", "--threads", "2",
    "--prompt-gradients", "--precision", "fp32",  # as the shipped adapter was trained (the defaults changed)
]  # fmt: skip
MACHINE_FIELDS = ("database", "base_model_path", "path")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="retrain and compare with the shipped adapter")
    parser.add_argument("--copy-only", action="store_true", help="ship the hub's expert, do not train")
    args = parser.parse_args()

    from finsql.lm.hub import MANIFEST, expert_dir
    from finsql.lm.models import DEFAULT_MODEL_ID

    name = f"{NAME}-check" if args.check else NAME
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
