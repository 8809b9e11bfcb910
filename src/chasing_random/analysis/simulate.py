"""Run folders with a known truth, for checking the report's statistics by simulation.

Each model answers the benchmark's prompts correctly with probability sigmoid(base + difficulty of
the prompt + run effect + strategy effect): prompts share their difficulty across every model (a
paired design), and each fine-tune draws its own run effect ~ N(0, seed_sd^2) in logits, the
run-to-run variation (another random subset, another seed) the verdicts must count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import expit

from chasing_random.store import write_text_atomic


@dataclass
class Grid:
    """The simulated grid: every (pool, budget, benchmark) gets the random seeds and each strategy."""

    pools: int = 20
    budgets: tuple[int, ...] = (100, 1000, 10000)
    benchmarks: int = 1
    prompts: int = 400
    random_seeds: int = 3
    seed_sd: float = 0.25
    difficulty_sd: float = 1.0
    base: float = 0.0
    effects: dict[str, float] = field(default_factory=lambda: {"same": 0.0})  # strategy -> logit effect

    @property
    def settings(self) -> int:
        return self.pools * len(self.budgets) * self.benchmarks


def true_difference(difficulty: np.ndarray, base: float, effect: float, seed_sd: float) -> float:
    """Expected exact match with the effect minus without, over run effects (Gauss-Hermite), on these prompts."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    u = seed_sd * nodes[:, None]
    with_effect = (weights[:, None] * expit(base + difficulty[None, :] + effect + u)).sum(axis=0)
    without = (weights[:, None] * expit(base + difficulty[None, :] + u)).sum(axis=0)
    return float((with_effect - without).mean())


def simulate_rows(grid: Grid, rng: np.random.Generator) -> tuple[list[dict], dict[tuple, float]]:
    """Evaluation rows of the grid (``results/evaluations.jsonl`` layout) and the true difference of
    every (pool, budget, benchmark, strategy) from random."""
    rows, truth = [], {}
    keys = [f"q{i}" for i in range(grid.prompts)]
    models = [("random", s, 0.0) for s in range(grid.random_seeds)] + [(n, None, e) for n, e in grid.effects.items()]
    for b in range(grid.benchmarks):
        benchmark = f"bench{b}"
        difficulty = grid.difficulty_sd * rng.standard_normal(grid.prompts)
        truths = {name: true_difference(difficulty, grid.base, effect, grid.seed_sd) for name, _, effect in models}
        for pool in range(grid.pools):
            for budget in grid.budgets:
                effects = np.array([e for _, _, e in models])
                logits = (grid.base + difficulty[None, :] + effects[:, None]
                          + grid.seed_sd * rng.standard_normal((len(models), 1)))
                scores = (rng.random(logits.shape) < expit(logits)).astype(float)
                for (name, seed, _), run in zip(models, scores):
                    rows.append({"pool": f"pool{pool}", "budget": budget, "strategy": name, "seed": seed,
                                 "benchmark": benchmark, "metric": "exact_match", "value": float(run.mean()),
                                 "unit": "fraction", "higher_is_better": True,
                                 "per_prompt": dict(zip(keys, run.tolist()))})
                    if name != "random":
                        truth[(f"pool{pool}", budget, benchmark, name)] = truths[name]
    return rows, truth


def write_run(folder: Path, rows: list[dict]) -> Path:
    """A run folder holding only ``results/evaluations.jsonl`` (what ``chase report`` needs)."""
    write_text_atomic(Path(folder) / "results" / "evaluations.jsonl",
                      "".join(json.dumps(r) + "\n" for r in rows))
    return Path(folder)
