"""Device check: `finsql train` picks device and precision itself, and `accelerate launch` runs it on several.

Usage: python benchmarks/device_check.py [--model PATH] [--steps 20] [--processes N] [--label L]
Runs the commands a user types, in subprocesses, on the demo database and data/train.jsonl:
  1. `finsql train` with its defaults: the manifest must say cuda + bf16 on a GPU (cpu + float32 without one);
  2. `accelerate launch --num_processes N -m finsql train` on every GPU (without one: `torchrun
     --nproc_per_node 2`, since accelerate needs MPI for several CPU processes); the manifest must say N;
  3. `finsql ask --expert ... --samples 8 --format json` with the trained expert, on the same device.
Without --model it trains the tiny random Llama of the test suite: this checks devices and precision, not
accuracy.
Writes benchmarks/results/device-check-<label>.json; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
QUESTION = "How many funds are there?"


def run(args: list[str], env: dict) -> dict:
    """Run one command; its exit code, wall time and the last lines of its output."""
    clock = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = round(time.perf_counter() - clock, 1)
    print(f"$ {' '.join(args)}\n  exit {proc.returncode} in {seconds} s", flush=True)
    if proc.returncode not in (0, 6):
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", flush=True)
    return {
        "command": " ".join(args),
        "exit": proc.returncode,
        "seconds": seconds,
        "stdout": proc.stdout[-4000:],
        "stderr_tail": proc.stderr.strip().splitlines()[-5:],
        "traceback": "Traceback (most recent call last)" in proc.stderr,
    }


def trained_on(cache: Path, name: str) -> dict:
    """Device, precision, processes and speed recorded in an expert's manifest."""
    path = cache / "experts" / name / "finsql-expert.json"
    if not path.exists():
        return {}
    metrics = json.loads(path.read_text())["metrics"]
    keys = ("device", "precision", "processes", "steps", "train_seconds", "seconds_per_step")
    return {key: metrics.get(key) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model to train (default: a tiny random Llama)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--processes", type=int, default=None, help="accelerate processes (GPUs, else 2)")
    parser.add_argument("--label", default=None)
    args = parser.parse_args()

    import torch

    from finsql.storage import write_json_atomic

    cuda = torch.cuda.is_available()
    expected = ("cuda", "bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else ("cpu", "float32")
    processes = args.processes or (torch.cuda.device_count() if cuda else 2)
    label = args.label or ("gpu" if cuda else "cpu")
    work = Path(tempfile.mkdtemp(prefix="finsql-device-check-"))
    env = {**os.environ, "FINSQL_CACHE_DIR": str(work / "cache"), "PYTHONUNBUFFERED": "1"}
    if args.model:
        model = args.model
    else:
        from finsql.lm.testing import build_tiny_model

        model = str(build_tiny_model(work / "tiny-model"))

    finsql = [sys.executable, "-m", "finsql"]
    train = ["train", "--data", "data/train.jsonl", "--model", model, "--steps", str(args.steps)]
    train += ["--val-ex", "4", "--force"]
    if cuda:
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
        launch += ["--num_machines", "1", "--dynamo_backend", "no"]
        launch += ["--multi_gpu"] if processes > 1 else []
    else:  # accelerate launches several CPU processes only through MPI; torchrun is what it runs on GPUs
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launch += ["--nproc_per_node", str(processes)]
    steps = {
        "train": run([*finsql, *train, "--name", "device-check"], env),
        "accelerate": run([*launch, "-m", "finsql", *train, "--name", "device-check-accel"], env),
        "ask": run([*finsql, "ask", QUESTION, "--model", model, "--expert", "device-check", "--samples", "8",
                    "--format", "json"], env),
    }  # fmt: skip
    steps["train"]["trained_on"] = trained_on(work / "cache", "device-check")
    steps["accelerate"]["trained_on"] = trained_on(work / "cache", "device-check-accel")
    ask = steps["ask"]
    answer = json.loads(ask["stdout"]) if ask["exit"] == 0 and ask["stdout"].strip() else {}
    checks = {
        "train picks the device": steps["train"]["trained_on"].get("device") == expected[0],
        "train picks the precision": steps["train"]["trained_on"].get("precision") == expected[1],
        "accelerate runs every process": steps["accelerate"]["trained_on"].get("processes") == processes,
        # a random tiny model writes no valid SQL: exit 6 with one line is the right answer then
        "ask answers with the expert": ask["exit"] == 0 and answer.get("expert") == "device-check"
        if args.model
        else ask["exit"] in (0, 6),
        "no tracebacks": not any(step["traceback"] for step in steps.values()),
    }
    payload = {
        "benchmark": "device-check",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "gpus": torch.cuda.device_count(),
        "model": args.model or "tiny random Llama (finsql.lm.testing)",
        "expected": {"device": expected[0], "precision": expected[1], "processes": processes},
        "checks": checks,
        "steps": steps,
    }
    out = RESULTS / f"device-check-{label}.json"
    write_json_atomic(out, payload)
    shutil.rmtree(work, ignore_errors=True)
    for check, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {check}")
    print(f"wrote {out}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
