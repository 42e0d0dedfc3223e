"""``finsql hub``: compose domain experts into a new expert (LoRAHub, averaging, peft merges)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from finsql.console import out
from finsql.errors import UsageError

hub_app = typer.Typer(
    help="Compose trained domain experts into a new expert (LoRAHub, average, cat, ties).",
    no_args_is_help=True,
)


def _expert_names(experts: str | None, all_experts: bool, name: str) -> list[str]:
    """The experts named by ``--experts a,b,...`` or, with ``--all``, every expert in the hub but ``name``."""
    from finsql.lm.hub import list_experts

    if bool(experts) == all_experts:
        raise UsageError("give --experts a,b,... or --all (one of them)")
    if all_experts:
        return [m["name"] for m in list_experts() if m["name"] != name]
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
    from finsql.experts.training import read_pairs_any
    from finsql.lm.hub import load_manifest

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
    manifest = load_manifest(folder.name)
    composition = manifest["composition"]
    weights = ", ".join(
        f"{expert} {weight:+.3f}"
        for expert, weight in zip(composition["experts"], composition["weights"], strict=True)
    )
    steps = composition.get("steps") or []
    searched = f", base loss {steps[0]['loss']:.4f}, {len(steps)} steps" if steps else ""
    out.print(
        f"expert {name} -> {folder}\n"
        f"  {composition['combiner']} of {len(composition['experts'])} experts: {weights}\n"
        f"  loss on {composition['examples']} examples {manifest['metrics']['examples_loss']:.4f}{searched}, "
        f"{manifest['metrics']['seconds']:.0f} s",
        highlight=False,
    )


@hub_app.command("combiners")
def combiners_cmd() -> None:
    """List the registered combiners."""
    from finsql.experts.compose import Combiner
    from finsql.plugins import combiners

    table = Table("combiner", "weights", "description")
    for combiner_name, combiner in combiners().items():
        if isinstance(combiner, Combiner):
            table.add_row(
                combiner_name, "learnt" if combiner.learns_weights else "fixed", combiner.description
            )
    out.print(table)
