"""Calibration of the report's verdicts by simulation (the numbers in docs/analysis.md).

Simulated grids (analysis/simulate.py): 20 pools x 3 budgets = 60 settings per replicate, 3 random
seeds, 400 exact-match prompts of shared difficulty, run-to-run spread 0.25 logits. Prints, per
strategy effect (logits), the share of better/worse verdicts (false when the effect is 0), the
interval coverage of the true difference, the mean MDE, and the BH-adjusted share.

Example: python benchmarks/calibration.py --replicates 10
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from chasing_random.analysis.compare import analyse
from chasing_random.analysis.grid import generalisation
from chasing_random.results import EvaluationRow
from chasing_random.analysis.simulate import Grid, simulate_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--pools", type=int, default=20)
    args = parser.parse_args()
    effects = {"none": 0.0, "small (0.25)": 0.25, "medium (0.5)": 0.5, "large (1.0)": 1.0}
    grid = Grid(pools=args.pools, effects=effects)
    calls: dict[str, list[str]] = {n: [] for n in effects}
    adjusted: dict[str, list[str]] = {n: [] for n in effects}
    covered: dict[str, list[bool]] = {n: [] for n in effects}
    mde: dict[str, list[float]] = {n: [] for n in effects}
    truths: dict[str, list[float]] = {n: [] for n in effects}
    started = time.time()
    for replicate in range(args.replicates):
        rows, truth = simulate_rows(grid, np.random.default_rng(1000 + replicate))
        results = analyse([EvaluationRow.model_validate(r) for r in rows], resamples=200)
        generalisation(results)
        for result in results:
            s = result.setting
            for strategy in result.strategies:
                c, name = strategy.comparison, strategy.strategy
                true = truth[(s.pool, s.budget, s.benchmark, name)]
                calls[name].append(c.verdict)
                adjusted[name].append(c.adjusted_verdict)
                covered[name].append(c.ci_low <= true <= c.ci_high)
                mde[name].append(c.mde)
                truths[name].append(true)
    print(f"{args.replicates} replicates x {grid.settings} settings, {time.time() - started:.0f} s")
    print(f"{'effect':>14} {'true diff':>10} {'better':>7} {'worse':>7} {'equiv':>7} {'BH b/w':>7} "
          f"{'coverage':>9} {'MDE':>7}")
    for name in effects:
        v, a = calls[name], adjusted[name]
        n = len(v)
        print(f"{name:>14} {100 * np.mean(truths[name]):>9.1f}pp {v.count('better') / n:>7.3f} "
              f"{v.count('worse') / n:>7.3f} {v.count('equivalent') / n:>7.3f} "
              f"{(a.count('better') + a.count('worse')) / n:>7.3f} {np.mean(covered[name]):>9.3f} "
              f"{100 * np.mean(mde[name]):>6.1f}pp")


if __name__ == "__main__":
    main()
