"""``chase run``: one experiment file, one command; ``--dry-run`` prints the plan with costs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from chasing_random.cli import app
from chasing_random.config import load_experiment
from chasing_random.errors import ChaseError
from chasing_random.pipeline.plan import expand
from chasing_random.pipeline.runner import EXECUTORS, RunPaths, placement_rows, plan_rows, run_experiment
from chasing_random.ui import console, styled


def print_plan(rows: list[dict], title: str) -> None:
    """The plan as a table, with totals of estimated device-hours and dollars still to spend."""
    table = Table(title=title)
    for column in ("#", "kind", "stage", "status", "est. device-h", "est. $"):
        table.add_column(column, justify="right" if column.startswith(("#", "est")) else "left")
    for number, row in enumerate(rows, start=1):
        table.add_row(str(number), row["kind"], row["stage"],
                      styled("cached", "green") if row["status"] == "cached" else "to do",
                      f"{row['est_device_hours']:.3g}", f"{row['est_dollars']:.3g}")
    console.print(table)
    todo = [r for r in rows if r["status"] != "cached"]
    console.print(f"{len(rows)} stages: {len(rows) - len(todo)} cached, {len(todo)} to do; estimated "
                  f"{sum(r['est_device_hours'] for r in todo):.3g} device-hours, "
                  f"${sum(r['est_dollars'] for r in todo):.3g} still to spend (FLOP-based estimate)")


def print_placement(rows: list[dict]) -> None:
    """What each kind of worker takes on a Ray cluster (the experiment file's ``resources:``)."""
    table = Table(title="placement on Ray (--executor ray; resources: in the experiment file)")
    for column in ("kind", "num_cpus", "num_gpus", "concurrency", "stages", "shard size"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for row in rows:
        table.add_row(row["kind"], f"{row['num_cpus']:g}", f"{row['num_gpus']:g}",
                      str(row["concurrency"] or "as many as fit"),
                      str(row["stages"]) if row["stages"] is not None else "shards",
                      "{} {}".format(*row["shard"]) if row["shard"] else "-")
    console.print(table)


@app.command("run")
def run(
    experiment: Path = typer.Argument(..., help="Experiment YAML file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every stage, cached or to do, with cost estimates."),
    run_dir: Optional[Path] = typer.Option(None, help="Run folder (default: the file's run_dir or runs/NAME)."),
    executor: str = typer.Option("local", help="local (this process) or ray (pip install 'chasing-random[ray]')."),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
    report: bool = typer.Option(True, help="Write the report when the run finishes."),
    verbose: bool = typer.Option(False, "--verbose", help="Show third-party warnings, log lines and progress bars "
                                                          "(otherwise they go to RUN_DIR/run.log)."),
) -> None:
    """Run a grid of pools x budgets x strategies x seeds x benchmarks, resuming what is done.

    Example: chase run configs/paper-dolly.yaml --dry-run
    """
    if executor not in EXECUTORS:
        raise ChaseError(f"unknown --executor '{executor}'; valid: {', '.join(EXECUTORS)}")
    config = load_experiment(experiment)
    paths = RunPaths.of(config, run_dir)
    if dry_run:
        plan = expand(config)
        print_plan(plan_rows(plan, paths), f"plan of {config.name} ({experiment})")
        print_placement(placement_rows(plan))
        return
    paths = run_experiment(config, run_dir=run_dir, executor=executor, ray_address=ray_address, verbose=verbose)
    console.print(f"results in {paths.run_dir / 'results'}")
    if report:
        from chasing_random.cli.report import report as print_report

        print_report(paths.run_dir, resamples=2000, confidence=0.95, seed=0)
