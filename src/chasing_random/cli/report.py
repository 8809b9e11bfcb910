"""``chase report``: statistics against random, cost and Figure 1 of a finished (or partial) run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chasing_random.analysis.report import build_report
from chasing_random.analysis.stats import BETTER, TIE, WORSE
from chasing_random.cli import app


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="Run folder with results/evaluations.jsonl (written by chase run)."),
    resamples: int = typer.Option(2000, help="Bootstrap resamples over prompts."),
    confidence: float = typer.Option(0.95, help="Confidence level of the intervals."),
    seed: int = typer.Option(0, min=0, help="Seed of the bootstrap."),
) -> None:
    """Compare every strategy with the random seeds (bootstrap intervals, verdicts), price the selections,
    draw Figure 1 and write report.md, report.html, PNGs and results.csv into RUN_DIR.

    Example: chase report runs/demo
    """
    result = build_report(run_dir, resamples=resamples, confidence=confidence, seed=seed)
    out = Console(markup=False)
    table = Table(title="generalisation: settings where each strategy beats / ties / loses to random")
    for column in ("strategy", BETTER, TIE, WORSE):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, tally in result.generalisation.counts.items():
        table.add_row(name, str(tally[BETTER]), str(tally[TIE]), str(tally[WORSE]))
    out.print(table)
    best = Table(title="best strategy per setting")
    best.add_column("setting")
    best.add_column("best")
    for label, name in result.generalisation.best:
        best.add_row(label, name)
    out.print(best)
    out.print(f"report: {result.html}", soft_wrap=True, highlight=False)
