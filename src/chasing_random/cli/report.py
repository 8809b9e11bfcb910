"""``chase report``: statistics against random, cost and Figure 1 of a finished (or partial) run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chasing_random.analysis.report import build_report
from chasing_random.analysis.twolevel import BETTER, VERDICTS, WORSE
from chasing_random.cli import app


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="Run folder with results/evaluations.jsonl (written by chase run)."),
    resamples: int = typer.Option(2000, help="Resamples of the permutation tests and bootstraps."),
    confidence: float = typer.Option(0.95, help="Confidence level of the intervals."),
    seed: int = typer.Option(0, min=0, help="Seed of the permutation tests and bootstraps."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Draw Figure 1 and the forest plots."),
) -> None:
    """Print the study's table per (pool, budget) (AlpacaEval win rate vs random, Open LLM, LLMBar, IFEval,
    selection $), compare every strategy with the random runs (two-level intervals; better / worse /
    equivalent / inconclusive verdicts; BH q-values), price the selections, draw Figure 1 and forest plots
    and write report.md, report.html, PNGs and results.csv into RUN_DIR.

    Example: chase report runs/demo
             chase report runs/study --no-figures --confidence 0.9
    """
    result = build_report(run_dir, resamples=resamples, confidence=confidence, seed=seed, figures=figures)
    out = Console(markup=False)
    for study in result.study_tables:
        table = Table(title=study.title)
        for number, column in enumerate(study.headers):
            table.add_column(column, justify="left" if number == 0 else "right")
        for row in study.rows:
            table.add_row(*row)
        out.print(table)
    table = Table(title="generalisation: settings where each strategy is better / equivalent / inconclusive / worse "
                        "than random (two-level verdicts)")
    for column in ("strategy", *VERDICTS, "better/worse after BH", "better by chance"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, summary in result.generalisation.strategies.items():
        table.add_row(name, *(str(summary.raw[v]) for v in VERDICTS),
                      f"{summary.adjusted[BETTER]}/{summary.adjusted[WORSE]}", f"{summary.chance_wins:.1f}")
    out.print(table)
    best = Table(title="best value per setting")
    best.add_column("setting")
    best.add_column("best")
    best.add_column("beats random?")
    for label, name, winner in result.generalisation.best:
        best.add_row(label, name, "yes" if winner else "no")
    out.print(best)
    out.print(f"report: {result.html}", soft_wrap=True, highlight=False)
