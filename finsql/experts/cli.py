"""``finsql train``, ``finsql experts`` and ``finsql hub``: training, listing and composing domain experts.

Training imports transformers, so ``train`` and ``hub compose`` import their machinery when they run: the
command line starts fast.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from finsql.console import err, out, status
from finsql.errors import InputError, UsageError
from finsql.experts.combiners import Combiner
from finsql.experts.config import TrainConfig, check_config
from finsql.experts.pairs_io import read_pairs_any
from finsql.lm import hub
from finsql.lm.manifest import ExpertManifest
from finsql.options import ExampleTokensOption, ModelOption, PromptStyle
from finsql.plugins import combiners, peft_methods
from finsql.synth.pool import FEW_PAIRS

SYNTH_ALONE = 2000
"""Pairs synthesized for an expert trained from the database alone (no --data)."""
SYNTH_FEW = 1000
"""Pairs synthesized and mixed in when fewer than ``FEW_PAIRS`` pairs are given."""

experts_app = typer.Typer(help="List, show or remove trained domain experts.", no_args_is_help=True)
hub_app = typer.Typer(
    help="Compose trained domain experts into a new expert (LoRAHub, average, cat, ties).",
    no_args_is_help=True,
)


class Precision(str, Enum):
    """The arithmetic training runs in."""

    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


def add_commands(app: typer.Typer) -> None:
    """Register ``train`` on the ``finsql`` app."""
    app.command("train")(train_cmd)


def train_cmd(
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Question/SQL pairs: JSONL or a Spider/BULL JSON array. Without it, the expert learns from "
        "pairs synthesized from the database (`finsql synth`).",
    ),
    method: str = typer.Option("lora", "--method", help="PEFT method (see `finsql plugins`)."),
    name: str = typer.Option(..., "--name", help="Name of the expert to write."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="DuckDB file, folder of CSV/Parquet files, or a `finsql bull import` folder: one joint expert "
        "for every database the pairs name (default: the demo database).",
    ),
    model: str | None = ModelOption,
    data_db: str | None = typer.Option(None, "--data-db", help="Keep only the pairs of this db_id/db_name."),
    epochs: float | None = typer.Option(None, "--epochs", help="Passes over the training data (default 3)."),
    steps: int | None = typer.Option(None, "--steps", help="Optimizer steps (instead of --epochs)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Examples per step (per device)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default: per method, 2e-4 for LoRA)."),
    layers: int = typer.Option(8, "--layers", min=0, help="Adapt only the top N model layers (0 = all)."),
    settings: list[str] = typer.Option([], "--set", help="Method setting key=value (repeatable)."),
    val_split: float = typer.Option(0.1, "--val-split", min=0.0, max=0.9, help="Share of pairs held out."),
    seed: int = typer.Option(0, "--seed", help="Random seed (split, shuffling, initialisation)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint of this run."),
    no_skeleton: bool = typer.Option(False, "--no-augment-skeleton", help="No SQL-skeleton examples."),
    no_paraphrase: bool = typer.Option(False, "--no-augment-paraphrase", help="No paraphrased questions."),
    patience: int = typer.Option(3, "--patience", min=0, help="Stop after N evals without gain (0: never)."),
    eval_steps: int | None = typer.Option(None, "--eval-steps", min=1, help="Steps between evaluations."),
    val_ex: int = typer.Option(
        50, "--val-ex", min=0, help="Validation pairs answered and executed at the end (0: none)."
    ),
    no_constrain: bool = typer.Option(
        False, "--no-constrain", help="Answer the validation pairs without the SQL grammar (to compare)."
    ),
    shots: int = typer.Option(
        3, "--shots", min=0, max=16, help="Retrieved training pairs in each prompt, as at inference."
    ),
    prompt: PromptStyle = typer.Option(
        PromptStyle.names,
        "--prompt",
        help="Schema in the prompt: names (no column types, fastest), compact (with types) or full.",
    ),
    example_tokens: int | None = ExampleTokensOption,
    prompt_gradients: bool = typer.Option(
        False,
        "--prompt-gradients/--no-prompt-gradients",
        help="Back-propagate through the prompt positions too (the exact gradient; slower, twice the "
        "memory). Default: the prompt runs once without gradients; back-propagation covers the SQL only.",
    ),
    group_by_length: bool = typer.Option(
        True,
        "--group-by-length/--no-group-by-length",
        help="Batch examples of similar length, so batches carry little padding (off: a plain shuffle).",
    ),
    precision: Precision = typer.Option(
        Precision.auto,
        "--precision",
        help="auto: bf16 autocast on a GPU, and on a CPU where a bf16 matmul is measured 1.5x faster than "
        "fp32 (AMX, AVX512-BF16); fp32 elsewhere. bf16 or fp32 force it.",
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)."),
    synth: int | None = typer.Option(
        None,
        "--synth",
        min=0,
        max=200_000,
        help=f"Pairs synthesized from the database and mixed in (default: {SYNTH_ALONE} without --data, "
        f"{SYNTH_FEW} when --data has fewer than {FEW_PAIRS} pairs, else none; 0: none).",
    ),
    user_weight: int = typer.Option(
        2,
        "--user-weight",
        min=1,
        help="With synthesized pairs mixed in, train on each given pair this often.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing expert of this name."),
) -> None:
    """Train a domain expert (a PEFT adapter) for one database schema on question/SQL pairs.

    With --db naming a `finsql bull import` folder, one joint expert is trained for every database the pairs
    name, each pair prompted with its own database's schema."""
    from finsql.experts.train import train_expert

    methods = peft_methods()
    if method not in methods:
        raise UsageError(f"unknown PEFT method {method!r}; methods: {', '.join(methods) or 'none installed'}")
    if epochs is not None and steps is not None:
        raise UsageError("give --epochs or --steps, not both")
    overrides = methods[method].settings(settings)
    pairs = read_pairs_any(data, data_db) if data is not None else []
    if data is not None and not pairs:
        raise InputError(f"{data} holds no pairs")
    augment = tuple(a for a, off in (("skeleton", no_skeleton), ("paraphrase", no_paraphrase)) if not off)
    config = TrainConfig(
        method=method,
        name=name,
        model_name=model,
        overrides=overrides,
        layers=layers,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        val_split=val_split,
        seed=seed,
        resume=resume,
        augment=augment,
        shots=shots,
        prompt_style=prompt.value,
        example_tokens=example_tokens,
        prompt_gradients=prompt_gradients,
        group_by_length=group_by_length,
        precision=precision.value,
        force=force,
        patience=patience,
        eval_steps=eval_steps,
        val_ex_limit=val_ex,
        constrain=not no_constrain,
        threads=threads,
        user_weight=user_weight,
    )
    check_config(config)  # a bad setting or a taken name is one line before any pair is synthesized
    pairs += _taught(db, pairs)
    pairs += _synthesized(db, pairs, synth, seed)
    folder = train_expert(db, pairs, config)
    _print_expert_summary(folder)


def _taught(db: str | None, pairs: list) -> list:
    """The pairs taught for ``db``'s schema (``finsql examples``) whose questions are not among ``pairs``;
    none for a ``finsql bull import`` folder (its pairs name their databases)."""
    from finsql.ask.taught import TaughtStore, question_key
    from finsql.bull.suite import is_import
    from finsql.db.database import resolve_database
    from finsql.db.sandbox import connect
    from finsql.db.schema import introspect

    if db is not None and is_import(Path(db)):
        return []
    con = connect(resolve_database(db))
    try:
        fingerprint = introspect(con).fingerprint()
    finally:
        con.close()
    given = {question_key(p.question) for p in pairs}
    taught = [p for p in TaughtStore(fingerprint).pairs() if question_key(p.question) not in given]
    if taught:
        status(f"training on {len(taught)} taught pairs too (finsql examples list)")
    return taught


def _synthesized(db: str | None, pairs: list, synth: int | None, seed: int) -> list:
    """The pairs ``--synth`` asks for (or its default for this many given pairs), drawn from ``db``; none by
    default for a ``finsql bull import`` folder (several databases: give pairs, or train on one database)."""
    from finsql.bull.suite import is_import
    from finsql.db.database import resolve_database
    from finsql.synth.synthesizer import synthesize_database

    several = db is not None and is_import(Path(db))
    if several and (synth or not pairs):
        raise UsageError("--db is a `finsql bull import` folder: give --data and no --synth, or one database")
    if synth is not None:
        count = synth
    elif several or len(pairs) >= FEW_PAIRS:
        count = 0
    else:
        count = SYNTH_FEW if pairs else SYNTH_ALONE
    if count == 0:
        return []
    status(f"synthesizing {count} question/SQL pairs from the database")
    made, report = synthesize_database(resolve_database(db), count, seed)
    status(
        f"synthesized {report.kept} pairs in {report.seconds:.1f} s ({sum(report.dropped.values())} dropped)"
    )
    return made


def _print_expert_summary(folder: Path) -> None:
    """What was trained, how long it took, how it measured and whether ``ask`` uses it, in five lines."""
    from finsql.ask.routing import gate_reason

    manifest = hub.load_manifest(folder.name)
    m = manifest.metrics

    def fmt(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    val_ex = "n/a" if m.get("val_ex") is None else f"{m['val_ex']:.1%} of {m.get('val_ex_n')}"
    if m.get("base_val_ex") is not None:
        val_ex += f" (base model {m['base_val_ex']:.1%})"
    reason = gate_reason(manifest)
    used = "ask uses it by default" if reason is None else f"ask skips it unless named: {reason}"
    out.print(
        f"expert {manifest.name} -> {folder}\n"
        f"  {manifest.method} on {manifest.base_model}, {m.get('steps')} steps, "
        f"{fmt(m.get('seconds_per_step'), '.2f')} s/step, {fmt(m.get('seconds'), '.0f')} s in all\n"
        f"  train loss {fmt(m.get('train_loss'), '.4f')}, val loss {fmt(m.get('val_loss'), '.4f')}, "
        f"val EX {val_ex}\n"
        f"  {m.get('trainable_params', 0):,} trainable parameters, "
        f"adapter {m.get('adapter_bytes', 0) / 1e6:.2f} MB\n  {used}",
        highlight=False,
    )


@experts_app.command("list")
def experts_list(as_json: bool = typer.Option(False, "--json", help="Print JSON, not a table.")) -> None:
    """List the experts (trained and bundled): schema, base model, method and validation figures."""
    from finsql.ask.routing import gate_reason

    hub.install_bundled()
    manifests = hub.list_experts()
    if as_json:
        sys.stdout.write(json.dumps([_manifest_json(m) for m in manifests], indent=2, default=str) + "\n")
        return
    table = Table(
        "expert", "method", "base model", "schema", "shots", "val loss", "val EX", "base EX", "by default"
    )
    for m in manifests:
        val_loss = m.metrics.get("val_loss")
        val_ex, base_ex = m.metrics.get("val_ex"), m.metrics.get("base_val_ex")
        table.add_row(
            m.name,
            str(m.method),
            str(m.base_model),
            _schema_cell(m),
            str(m.shots),
            "" if val_loss is None else f"{val_loss:.4f}",
            "" if val_ex is None else f"{val_ex:.1%}",
            "" if base_ex is None else f"{base_ex:.1%}",
            ("used" if gate_reason(m) is None else "skipped") + (" (shipped)" if m.bundled else ""),
        )
    out.print(table)
    err.print(
        "[dim]val EX and base EX: the expert and the base model on the same held-out pairs; ask uses an "
        "expert by itself only when it is at least as good, one trained here before a shipped one[/dim]",
        highlight=False,
    )


def _manifest_json(manifest: ExpertManifest) -> dict[str, Any]:
    """The manifest as written, with the expert's name and folder."""
    return {**manifest.to_json(), "name": manifest.name, "path": manifest.path}


def _schema_cell(manifest: ExpertManifest) -> str:
    """The schema fingerprint, or the databases of a joint expert."""
    joint = manifest.schema_fingerprints
    return ", ".join(joint) if joint else str(manifest.schema_fingerprint)


@experts_app.command("show")
def experts_show(name: str = typer.Argument(..., help="Expert name.")) -> None:
    """Print an expert's manifest (JSON)."""
    hub.install_bundled(name=name)
    sys.stdout.write(json.dumps(_manifest_json(hub.load_manifest(name)), indent=2, default=str) + "\n")


@experts_app.command("rm")
def experts_rm(name: str = typer.Argument(..., help="Expert name.")) -> None:
    """Delete an expert."""
    hub.remove_expert(name)
    err.print(f"removed expert {name}", highlight=False)


def _expert_names(experts: str | None, all_experts: bool, name: str) -> list[str]:
    """The experts named by ``--experts a,b,...`` or, with ``--all``, every expert in the hub but ``name``."""
    if bool(experts) == all_experts:
        raise UsageError("give --experts a,b,... or --all (one of them)")
    if all_experts:
        return [m.name for m in hub.list_experts() if m.name != name]
    return [part.strip() for part in experts.split(",") if part.strip()]


@hub_app.command("compose")
def compose_cmd(
    experts: str | None = typer.Option(None, "--experts", help="Experts to compose: a,b,..."),
    all_experts: bool = typer.Option(False, "--all", help="Compose every expert in the hub."),
    examples: Path = typer.Option(..., "--examples", help="A few question/SQL pairs of the new database."),
    db: str = typer.Option(..., "--db", help="The database the new expert is for (its schema fingerprint)."),
    name: str = typer.Option(..., "--name", help="Name of the expert to write."),
    combiner: str = typer.Option("lorahub", "--combiner", help="lorahub, average, cat, ties, ..."),
    budget: int = typer.Option(40, "--budget", min=1, help="LoRAHub: loss evaluations of the search."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the search."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Examples per forward pass."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing expert of this name."),
) -> None:
    """Compose experts into a new expert for --db, weights learnt on --examples (LoRAHub) or fixed."""
    from finsql.experts.compose import compose_expert

    names = _expert_names(experts, all_experts, name)
    pairs = read_pairs_any(examples)
    folder = compose_expert(
        names,
        pairs,
        db,
        name,
        combiner=combiner,
        budget=budget,
        seed=seed,
        batch_size=batch_size,
        threads=threads,
        force=force,
    )
    manifest = hub.load_manifest(folder.name)
    composition = manifest.composition or {}
    weights = ", ".join(
        f"{expert} {weight:+.3f}"
        for expert, weight in zip(composition["experts"], composition["weights"], strict=True)
    )
    steps = composition.get("steps") or []
    searched = f", base loss {steps[0]['loss']:.4f}, {len(steps)} steps" if steps else ""
    out.print(
        f"expert {name} -> {folder}\n"
        f"  {composition['combiner']} of {len(composition['experts'])} experts: {weights}\n"
        f"  loss on {composition['examples']} examples {manifest.metrics['examples_loss']:.4f}{searched}, "
        f"{manifest.metrics['seconds']:.0f} s",
        highlight=False,
    )


@hub_app.command("combiners")
def combiners_cmd() -> None:
    """List the registered combiners."""
    table = Table("combiner", "weights", "description")
    for combiner_name, combiner in combiners().items():
        if isinstance(combiner, Combiner):
            table.add_row(
                combiner_name, "learnt" if combiner.learns_weights else "fixed", combiner.description
            )
    out.print(table)
