"""torch.compile for expert training: does it pay for its compile time on this machine?

Usage: python benchmarks/compile_check.py --bull DIR [--db ccks_fund] [--steps 8] [--shots 3] [--threads 2]
                                          [--label L]
DIR is a `finsql bull import` folder. Builds `finsql train`'s examples (compact prompt, --shots retrieved
examples, never the pair itself) and its model (the lora plugin's defaults on the top 8 layers), then times
forward + backward on the same length-grouped batches of 8, alternating the eager model and `torch.compile`
of it (the same parameters), so both see the same machine load. Reports each step's seconds, the steady
state (medians of the second half of the steps), the compile cost (the compiled arm's first half over its
steady median) and after how many steps compiling would pay; writes
benchmarks/results/compile-check-<label>.json.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
BATCH = 8


def examples_for(args: argparse.Namespace, lm) -> list:
    """The training examples `finsql train` would build for the first batches of the database's pairs."""
    from train_speed import database, pairs_for

    from finsql.ask.pairs import ExampleRetriever
    from finsql.ask.prompting import PromptBuilder
    from finsql.ask.session import Session
    from finsql.experts.examples import ExcludingRetriever, build_examples

    pairs = pairs_for(args.bull, args.db, "train")
    session = Session(
        database(args.bull, args.db), expert=False, shots=args.shots, prompt_style="compact", lm=lm
    )
    retriever = ExcludingRetriever(ExampleRetriever(pairs))
    prompts = PromptBuilder(session.schema, session.linker, retriever, lm.tokenizer, session.settings)
    examples, _ = build_examples(prompts, pairs[: BATCH * args.steps * 4], (), 0, None)
    return examples


def batches_of(examples: list, steps: int, pad_id: int) -> list[dict]:
    """``steps`` batches as the trainer draws them: length-grouped, left-padded, logits for targets only."""
    from finsql.experts.batching import Collator, LengthGroupedSampler

    order = list(LengthGroupedSampler([len(e) for e in examples], BATCH, seed=0))
    collate = Collator(pad_id)
    out = []
    for step in range(steps):
        batch = collate([examples[i] for i in order[step * BATCH : (step + 1) * BATCH]])
        batch.pop("example_ids", None)
        out.append(batch)
    return out


def timed_step(model, batch: dict) -> float:
    started = time.perf_counter()
    model(**batch).loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bull", type=Path, required=True)
    parser.add_argument("--db", default="ccks_fund")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--label", default="default")
    args = parser.parse_args()

    import torch

    from finsql.lm.models import load_model
    from finsql.lm.wrapping import wrap_for_training
    from finsql.plugins import peft_methods
    from finsql.storage import write_json_atomic

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lm = load_model()
    batches = batches_of(examples_for(args, lm), args.steps, lm.tokenizer.pad_token_id)
    method = peft_methods()["lora"]
    model, how = wrap_for_training(method, lm.model, dict(method.defaults), args.layers, args.steps)
    model.train()
    compiled = torch.compile(model)
    eager_s, compiled_s = [], []
    for batch in batches:  # alternate, so both arms share the machine's load
        eager_s.append(timed_step(model, batch))
        compiled_s.append(timed_step(compiled, batch))
        print(f"eager {eager_s[-1]:.1f}s  compiled {compiled_s[-1]:.1f}s", flush=True)
    half = len(batches) // 2  # the first half holds the compiles; both arms' steady state is the second
    eager = statistics.median(eager_s[half:])
    steady = statistics.median(compiled_s[half:])
    overhead = sum(compiled_s[:half]) - steady * half  # the first compile and every recompile
    saving = eager - steady
    result = {
        "benchmark": "compile-check",
        "db": args.db,
        "shots": args.shots,
        "layers": args.layers,
        "layers_applied": how,
        "threads": args.threads,
        "batch": BATCH,
        "tokens": [int(b["input_ids"].shape[1]) for b in batches],
        "eager_s": [round(x, 2) for x in eager_s],
        "compiled_s": [round(x, 2) for x in compiled_s],
        "eager_steady_s": round(eager, 2),
        "compiled_steady_s": round(steady, 2),
        "steady_speedup": round(eager / steady, 3),
        "compile_overhead_s": round(overhead, 1),
        "pays_after_steps": round(overhead / saving) if saving > 0 else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    write_json_atomic(RESULTS / f"compile-check-{args.label}.json", result)
    print({k: v for k, v in result.items() if k not in ("eager_s", "compiled_s")})


if __name__ == "__main__":
    main()
