"""Benchmark of ``chase report`` at the size of the study's grid, and of its vectorised bootstrap.

Builds a synthetic run folder (4 pools x 3 budgets x 3 random seeds + 7 strategies + full, on
IFEval (541 prompts), AlpacaEval pairwise (805), synth_heldout (500) and an aggregate-only harness
metric), then prints: the chunked vectorised bootstrap of one comparison against the same bootstrap
written as one Python iteration per resample (the reference), the time of the statistics alone
(``analyse``) and the time of the whole report with its figures (target < 60 s on 2 cores).

Example: python benchmarks/report.py
         python benchmarks/report.py --resamples 2000 --pools 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from chasing_random.analysis.compare import analyse
from chasing_random.analysis.report import build_report
from chasing_random.analysis.stats import bootstrap_mean_ci
from chasing_random.results import RunResults

STRATEGIES = ("strictrandom", "longest", "alpagasus", "cherry", "superfilter", "deita", "alpagasus-t3")
BENCHMARKS = {"ifeval": ("prompt_level_strict_acc", 541, None), "alpaca_eval_pairwise": ("win_rate", 805, 50.0),
              "synth_heldout": ("exact_match", 500, None), "harness:mmlu": ("acc", 0, None)}


def write_run(root: Path, pools: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines, costs = [], []
    for p in range(pools):
        pool = f"pool{p}"
        models = [("full", None, None)]
        for budget in (1000, 5000, 10000):
            models += [("random", s, budget) for s in range(3)] + [(s, None, budget) for s in STRATEGIES]
        for strategy, s, budget in models:
            for benchmark, (metric, prompts, reference) in BENCHMARKS.items():
                if strategy == "random" and reference is not None:
                    continue
                scores = (rng.random(prompts) < rng.uniform(0.3, 0.7)).astype(float)
                value = float(rng.uniform(0.4, 0.5)) if not prompts else float(scores.mean()) * (100 if reference else 1)
                lines.append({"pool": pool, "budget": budget, "strategy": strategy, "seed": s, "benchmark": benchmark,
                              "metric": metric, "value": value, "reference_value": reference,
                              "per_prompt": {f"{benchmark}-{i}": v for i, v in enumerate(scores)}})
        for strategy in STRATEGIES[1:]:
            costs.append({"pool": pool, "strategy": strategy, "stage": "selection", "device": "A100",
                          "device_hours": float(rng.uniform(0.5, 20)), "api_tokens": {"gpt-4o": 1_000_000}})
        costs.append({"pool": pool, "strategy": "full", "stage": "training", "device": "A100", "device_hours": 3.0})
    (root / "results").mkdir(parents=True)
    (root / "results" / "evaluations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (root / "results" / "costs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in costs))
    return root


def looped_bootstrap(values: np.ndarray, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """The reference: one Python iteration per resample."""
    rng = np.random.default_rng(seed)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(resamples)]
    alpha = (1 - confidence) / 2
    return tuple(np.quantile(means, [alpha, 1 - alpha]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=4)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    diffs = np.random.default_rng(1).random(805) - 0.5
    start = time.perf_counter()
    looped_bootstrap(diffs, args.resamples, 0.95, 0)
    looped = time.perf_counter() - start
    start = time.perf_counter()
    bootstrap_mean_ci(diffs, resamples=args.resamples, confidence=0.95, seed=0)
    vectorised = time.perf_counter() - start
    print(f"bootstrap of 805 prompts x {args.resamples} resamples: loop {looped * 1000:.1f} ms, "
          f"vectorised {vectorised * 1000:.1f} ms, loop / vectorised = {looped / vectorised:.1f}x")
    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp) / "run", args.pools)
        start = time.perf_counter()
        analyse(RunResults.load(run).evaluations, resamples=args.resamples)
        statistics = time.perf_counter() - start
        start = time.perf_counter()
        report = build_report(run, resamples=args.resamples)
        elapsed = time.perf_counter() - start
        comparisons = sum(len(r.strategies) for r in report.settings)
        print(f"report: {len(report.settings)} settings, {comparisons} comparisons, {len(report.figures)} figures "
              f"in {elapsed:.1f} s (target < 60 s), of which statistics {statistics:.1f} s")


if __name__ == "__main__":
    main()
