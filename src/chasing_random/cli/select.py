"""``chase select``: rank a pool with a strategy and write subsets; ``chase select overlap``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from chasing_random.cli import app
from chasing_random.cli.common import echo_json, int_list
from chasing_random.errors import ChaseError
from chasing_random.selection.base import SelectOptions, option_fields, select
from chasing_random.selection.overlap import pairwise_overlap
from chasing_random.store import ArtifactStore
from chasing_random.ui import console

select_app = typer.Typer(help="Rank a pool with a strategy; budgets are prefixes of the ranking.",
                         invoke_without_command=True)
app.add_typer(select_app, name="select")


def select_command(
    ctx: typer.Context,
    pool: Optional[Path] = typer.Option(None, help="Pool Parquet file."),
    strategy: Optional[str] = typer.Option(None, help="Strategy name (random, strictrandom, longest, full, "
                                                      "superfilter, cherry, alpagasus, deita)."),
    budgets: Optional[str] = typer.Option(None, help="Comma-separated budgets, e.g. 1000,5000,10000."),
    out: Path = typer.Option(Path("selections"), help="Folder for subsets, ranking and manifest."),
    seeds: Optional[str] = typer.Option(None, help="Several seeds in one call, e.g. 0,1,2 (random trials)."),
    store: Optional[Path] = typer.Option(None, help="Artifact store for score tables (default $CHASE_HOME/store)."),
    **strategy_options,
) -> None:
    """Rank a pool with a strategy and write DIR/{pool}_{strategy}_{budget}[_{seed}].jsonl.

    Example: chase select --pool alpaca.parquet --strategy random --seeds 0,1,2 --budgets 1000,5000 --out sel/
    """
    if ctx.invoked_subcommand is not None:
        return
    if pool is None or strategy is None:
        raise ChaseError("chase select needs --pool and --strategy (see chase select --help)")
    manifests = select(pool, strategy, int_list(budgets, "--budgets"), out, SelectOptions(**strategy_options),
                       seeds=int_list(seeds, "--seeds") or None,
                       store=ArtifactStore(store) if store else None)
    for manifest in manifests:
        table = Table(title=f"{strategy} (seed {manifest['config']['seed']})")
        for column in ("budget", "rows", "file"):
            table.add_column(column)
        for budget, subset in manifest["subsets"].items():
            table.add_row(budget, str(subset["rows"]), subset["path"])
        console.print(table)
        console.print(f"ranked {manifest['ranked']} of {manifest['pool_rows']}; excluded: {manifest['excluded'] or 0}")
        for budget, reached in manifest["underflow"].items():
            console.print(f"[yellow]underflow:[/] budget {budget} filled with only {reached} rows")
        for warning in manifest["warnings"]:
            console.print(f"[yellow]warning:[/] {warning}")


def _with_strategy_options(command):
    """The command's signature with one typer option per declared strategy option (``SelectOptions``):
    defaults and help come from the declarations, so the CLI and the config cannot drift apart."""
    signature = inspect.signature(command)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    declared = []
    annotations = {p.name: p.annotation for p in fixed}
    for name, kind, default, meta in option_fields():
        flag = meta["flag"] or "--" + name.replace("_", "-")
        if kind is bool:
            flags = (f"{flag}/--no-{flag[2:]}",)
        else:
            flags = (flag,)
        annotation = meta["cli_type"] or kind
        declared.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                          default=typer.Option(default, *flags, help=meta["help"])))
        annotations[name] = annotation
    command.__signature__ = signature.replace(parameters=[*fixed, *declared])
    command.__annotations__ = {**annotations, "return": None}
    return command


select_app.callback()(_with_strategy_options(select_command))


@select_app.command("overlap")
def overlap(paths: list[Path] = typer.Argument(..., help="Selection folders or subset files.")) -> None:
    """Pairwise overlap (shared ids, Jaccard) of subsets, e.g. of random trials.

    Example: chase select overlap sel/
    """
    echo_json(pairwise_overlap(list(paths)))
