"""``chase pool synth``: write the built-in audit pool (verifiable tasks, labelled corruptions)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from chasing_random.cli.pool import pool_app
from chasing_random.data.synth import write_synth_pool
from chasing_random.ui import console


@pool_app.command("synth")
def synth(
    n: int = typer.Option(2000, "--n", help="Number of rows."),
    corrupt: float = typer.Option(0.3, "--corrupt", help="Fraction of corrupted rows, split evenly over the "
                                                         "five corruption types."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed: the same seed writes a byte-identical file."),
    out: Path = typer.Option(..., "--out", help="Pool Parquet file to write."),
) -> None:
    """Generate the audit pool: tasks whose answers the project can verify, with a known fraction of
    corrupted rows labelled in meta.corruption.

    Example: chase pool synth --n 2000 --corrupt 0.3 --seed 0 --out pools/synth.parquet
    """
    summary = write_synth_pool(n, corrupt, seed, out)
    table = Table(title=f"audit pool {out} ({summary['rows']} rows)")
    table.add_column("meta.corruption")
    table.add_column("rows", justify="right")
    for label, count in summary["corruption"].items():
        table.add_row(label, str(count))
    console.print(table)
    console.print("families: " + ", ".join(f"{k} {v}" for k, v in summary["family"].items()))
