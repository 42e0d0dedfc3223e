"""Kill a `finsql train` run half-way, `--resume` it, and compare with an uninterrupted run of the same seed.

Usage: python benchmarks/resume_check.py [--pairs 64] [--steps 12] [--eval-steps 4] [--method lora]
Runs the real CLI three times in subprocesses on the demo database with the default model:
  A  uninterrupted;
  B  the same command, SIGKILLed as soon as its first checkpoint past half-way is complete
     (checks that no half-written expert appeared), then
  B' the same command with --resume.
Writes benchmarks/results/resume-check.json: A's and B''s metrics, the largest difference between their
adapter tensors and whether the adapter files are byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finsql.ask.pairs import demo_pairs, read_pairs
from finsql.experts.checkpoints import TRAINABLE_FILE, runs_dir
from finsql.lm.hub import expert_dir, load_manifest
from finsql.storage import write_json_atomic

RESULTS = Path(__file__).parent / "results"
COMPARED = ("train_loss", "train_loss_mean", "val_loss", "best_val_loss", "best_step", "val_ex", "steps")


def train_command(data: Path, name: str, args: argparse.Namespace, resume: bool = False) -> list[str]:
    command = [
        sys.executable, "-m", "finsql", "train", "--data", str(data), "--name", name,
        "--method", args.method, "--steps", str(args.steps), "--eval-steps", str(args.eval_steps),
        "--seed", str(args.seed), "--batch-size", "8", "--no-augment-skeleton",
    ]  # fmt: skip
    return command + (["--resume"] if resume else [])


def checkpoint_steps(name: str) -> list[int]:
    """Steps of the complete checkpoints of run ``name``."""
    folder = runs_dir() / name
    return sorted(
        int(p.name.split("-")[1])
        for p in folder.glob("checkpoint-*")
        if (p / "trainer_state.json").is_file() and (p / TRAINABLE_FILE).is_file()
    )


def adapter_tensors(name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(expert_dir(name) / "adapter_model.safetensors")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def metrics(name: str) -> dict:
    recorded = load_manifest(name).metrics
    return {k: recorded.get(k) for k in (*COMPARED, "train_seconds", "seconds_per_step")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64, help="first N demo training pairs")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--eval-steps", type=int, default=4)
    parser.add_argument("--method", default="lora")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pairs = read_pairs(demo_pairs("train"))[: args.pairs]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "pairs.jsonl"
        data.write_text("".join(json.dumps(p.__dict__) + "\n" for p in pairs), encoding="utf-8")
        a, b = f"resume-check-a-{args.method}", f"resume-check-b-{args.method}"
        for name in (a, b):
            subprocess.run([sys.executable, "-m", "finsql", "experts", "rm", name], capture_output=True)

        clock = time.perf_counter()
        subprocess.run(train_command(data, a, args), check=True)
        seconds_a = time.perf_counter() - clock

        kill_after = args.steps // 2
        clock = time.perf_counter()
        process = subprocess.Popen(train_command(data, b, args), start_new_session=True)
        killed_at = None
        while process.poll() is None:
            done = [s for s in checkpoint_steps(b) if s >= kill_after]
            if done:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                killed_at = done[0]
                break
            time.sleep(0.5)
        if killed_at is None:
            raise SystemExit("the run finished before it could be killed; use more --steps")
        half_expert = expert_dir(b).exists()
        subprocess.run(train_command(data, b, args, resume=True), check=True)
        seconds_b = time.perf_counter() - clock

    ta, tb = adapter_tensors(a), adapter_tensors(b)
    max_diff = max(float((ta[k] - tb[k]).abs().max()) for k in ta)
    ma, mb = metrics(a), metrics(b)
    payload = {
        "benchmark": "resume-check",
        "method": args.method,
        "pairs": len(pairs),
        "steps": args.steps,
        "seed": args.seed,
        "killed_after_checkpoint": killed_at,
        "expert_present_after_kill": half_expert,
        "uninterrupted": ma,
        "killed_and_resumed": mb,
        "metrics_equal": all(ma[k] == mb[k] for k in COMPARED),
        "adapter_max_abs_diff": max_diff,
        "adapter_bytes_identical": sha256(expert_dir(a) / "adapter_model.safetensors")
        == sha256(expert_dir(b) / "adapter_model.safetensors"),
        "wall_seconds": {"uninterrupted": round(seconds_a, 1), "killed_and_resumed": round(seconds_b, 1)},
    }
    out = RESULTS / f"resume-check-{args.method}.json"
    write_json_atomic(out, payload)
    print(json.dumps({k: v for k, v in payload.items() if k not in ("uninterrupted", "killed_and_resumed")}))
    for key in COMPARED:
        print(f"{key:16} {ma[key]!s:>24} {mb[key]!s:>24}")


if __name__ == "__main__":
    main()
