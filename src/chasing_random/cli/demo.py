"""``chase demo``: the whole study in miniature, offline on CPU, ending with the report."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Optional

import typer
import yaml

from chasing_random.cli import app
from chasing_random.config import ExperimentConfig
from chasing_random.pipeline.runner import run_experiment
from chasing_random.ui import console


def demo_config(small: bool) -> ExperimentConfig:
    """The packaged demo grid; ``small`` shrinks pool, prompts and budgets for a quick check."""
    data = yaml.safe_load(resources.files("chasing_random.pipeline").joinpath("demo.yaml").read_text("utf-8"))
    if small:
        data["name"] = "demo-small"
        data["pools"][0]["n"] = 300
        data["budgets"] = [40]
        for strategy in data["strategies"]:
            if "score_limit" in strategy.get("options", {}):
                strategy["options"]["score_limit"] = 120
        for bench in data["benchmarks"]:
            bench["limit"] = min(bench["limit"], 6)
            bench["max_new_tokens"] = min(bench["max_new_tokens"], 24)
    return ExperimentConfig.model_validate(data)


@app.command("demo")
def demo(
    run_dir: Optional[Path] = typer.Option(None, help="Run folder (default runs/demo or runs/demo-small)."),
    small: bool = typer.Option(False, help="A smaller grid that finishes in a few minutes."),
) -> None:
    """Run a small offline grid (audit pool, SmolLM2, random x3 vs longest, alpagasus, superfilter, deita).

    Example: chase demo
    """
    from chasing_random.cli.report import report as print_report

    config = demo_config(small)
    started = time.time()
    paths = run_experiment(config, run_dir=run_dir)
    print_report(paths.run_dir, resamples=2000, confidence=0.95, seed=0, figures=True)
    console.print(f"demo finished in {time.time() - started:.0f}s")
