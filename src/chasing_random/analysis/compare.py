"""Each strategy against the random seeds in every (pool, budget, benchmark, metric) setting.

The verdict is two-level (``twolevel``): run values compared as draws from run distributions whose
spread is pooled over the pools that share a benchmark, metric and budget. Beside it: the variance
split, the minimum detectable effect, a prompt-level paired test and the percentile among random.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from chasing_random.analysis.metric import MetricSpec, spec_of
from chasing_random.analysis.prompt_tests import prompt_level_test
from chasing_random.analysis.stats import bootstrap_mean_ci, percentile_among, seed_for
from chasing_random.analysis.twolevel import (BETTER, INCONCLUSIVE, RunVariance, VarianceSplit, compare_runs,
                                              run_variance, significant_verdict, variance_split)
from chasing_random.benchmarks import UNITS
from chasing_random.results import FULL, RANDOM, EvaluationRow

RANDOM_NULL = "random seeds"


@dataclass
class Setting:
    """One (pool, budget, benchmark, metric) cell of the grid; budget None = only whole-pool models."""

    pool: str
    budget: int | None
    benchmark: str
    metric: str
    primary: bool  # the benchmark's first metric: the one the generalisation table counts
    unit: str = "fraction"  # a key of chasing_random.benchmarks.UNITS, from the rows

    @property
    def label(self) -> str:
        return f"{self.pool} / {self.budget if self.budget is not None else 'full'} / {self.benchmark} / {self.metric}"


@dataclass
class Comparison:
    """A strategy against random in one setting (differences in value units)."""

    difference: float
    ci_low: float | None
    ci_high: float | None
    se: float | None
    df: int
    p_value: float | None
    p_equivalence: float | None
    mde: float | None
    margin: float
    verdict: str
    baseline: str  # RANDOM_NULL, or "assumed 50" when no random seed was judged
    paired: bool
    prompts: int
    percentile: float | None
    prompt_test: str = ""
    prompt_p: float | None = None
    q_value: float | None = None  # Benjamini-Hochberg over the grid's primary comparisons
    adjusted_verdict: str = ""


@dataclass
class StrategyResult:
    """A strategy's value in a setting (mean over its seeds) and its comparison with random."""

    strategy: str
    values: dict[int | None, float]
    comparison: Comparison | None

    @property
    def value(self) -> float:
        return float(np.mean(list(self.values.values())))


@dataclass
class SettingResult:
    setting: Setting
    random_values: dict[int | None, float]
    spec: MetricSpec = field(default_factory=MetricSpec)
    run_var: RunVariance = field(default_factory=RunVariance)  # pooled over the pools of this benchmark/budget
    split: VarianceSplit | None = None
    strategies: list[StrategyResult] = field(default_factory=list)

    @property
    def random_mean(self) -> float | None:
        return float(np.mean(list(self.random_values.values()))) if self.random_values else None

    @property
    def random_std(self) -> float | None:
        values = list(self.random_values.values())
        return float(np.std(values, ddof=1)) if len(values) >= 2 else None

    @property
    def run_sd(self) -> float | None:
        """The pooled SD of one run's value (tau): the noise a comparison is read against."""
        return None if self.run_var.var is None else float(np.sqrt(self.run_var.var))

    @property
    def best(self) -> str:
        """The best value in the setting: a strategy, or ``random`` (its seeds' mean)."""
        sign = 1 if self.spec.higher_is_better else -1
        candidates = [(sign * s.value, s.strategy) for s in self.strategies]
        if self.random_values:
            candidates.append((sign * self.random_mean, RANDOM))
        if not candidates:
            return ""
        top = max(c[0] for c in candidates)
        leaders = [name for value, name in candidates if np.isclose(value, top)]
        return leaders[0] if len(leaders) == 1 else f"tie of {len(leaders)}"

    @property
    def distinguishable_best(self) -> str | None:
        """The best strategy when it beats random (two-level verdict); None when nothing is distinguishable."""
        name = self.best
        match = next((s for s in self.strategies if s.strategy == name), None)
        return name if match and match.comparison and match.comparison.verdict == BETTER else None


def _matrix(rows: list[EvaluationRow]) -> tuple[list[str], np.ndarray]:
    """Runs x the prompts every run has (sorted keys); empty when a run has no per-prompt scores."""
    if not rows or any(not row.per_prompt for row in rows):
        return [], np.empty((len(rows), 0))
    keys = sorted(set(rows[0].per_prompt).intersection(*(row.per_prompt for row in rows[1:])))
    if not keys:
        return [], np.empty((len(rows), 0))
    pick = itemgetter(*keys)
    return keys, np.array([pick(row.per_prompt) for row in rows], dtype=float).reshape(len(rows), len(keys))


def _weights(rows: list[EvaluationRow], keys: list[str]) -> np.ndarray | None:
    """Units per prompt of a ratio metric (IFEval instructions) for ``keys``; None when no row has weights.
    A prompt's weight is a property of the prompt, so the first row that names it gives it."""
    weighted = [row.per_prompt_weight for row in rows if row.per_prompt_weight]
    if not weighted:
        return None
    return np.array([next((w[k] for w in weighted if k in w), 1.0) for k in keys], dtype=float)


def _per_prompt(rows: list[EvaluationRow]) -> dict[str, float]:
    """Per-prompt scores averaged over seeds, on the prompts every seed has."""
    keys, matrix = _matrix(rows)
    return dict(zip(keys, matrix.mean(axis=0).tolist()))


def _random_split(random_rows: list[EvaluationRow], scale: float) -> VarianceSplit | None:
    """The variance split of the random runs x their common prompts, on the value's scale (None without
    per-prompt scores); weighted prompts for ratio metrics."""
    keys, matrix = _matrix(random_rows)
    if len(random_rows) < 2 or len(keys) < 2:
        return None
    return variance_split(scale * matrix, _weights(random_rows, keys))


def compare(setting: Setting, strategy_rows: list[EvaluationRow], random_rows: list[EvaluationRow], *,
            spec: MetricSpec, run_var: RunVariance, resamples: int, confidence: float, seed: int) -> Comparison | None:
    """The two-level comparison of one strategy's runs with the random runs, plus a prompt-level test."""
    values = [r.value for r in strategy_rows]
    random_values = [r.value for r in random_rows]
    mine = _per_prompt(strategy_rows)
    boot_seed = seed_for(seed, setting.label, strategy_rows[0].strategy)
    if not random_rows:
        reference = next((r.reference_value for r in strategy_rows if r.reference_value is not None), None)
        if reference is None:
            return None
        return _against_reference(values, reference, mine, _weights(strategy_rows, list(mine)), spec,
                                  UNITS[setting.unit].per_prompt_scale, resamples, confidence, boot_seed)
    two = compare_runs(values, random_values, run_var, spec, confidence)
    theirs = _per_prompt(random_rows)
    common = sorted(set(mine) & set(theirs))
    test, p = "", None
    if len(common) >= 2:
        test, p = prompt_level_test(np.array([mine[k] for k in common]), np.array([theirs[k] for k in common]),
                                    binary=spec.binary, resamples=resamples, seed=boot_seed,
                                    weights=_weights(strategy_rows + random_rows, common))
    prompts = len(common) if common else len(mine)
    return Comparison(two.difference, two.ci_low, two.ci_high, two.se, two.df, two.p_value, two.p_equivalence,
                      two.mde, two.margin, two.verdict, RANDOM_NULL, bool(common), prompts,
                      percentile_among(float(np.mean(values)), random_values), test, p)


def _against_reference(values: list[float], reference: float, mine: dict[str, float], weights: np.ndarray | None,
                       spec: MetricSpec, scale: float, resamples: int, confidence: float, seed: int) -> Comparison:
    """No random seed on this benchmark: the value against the assumed reference, prompt-level only
    (prompts resampled whole; the ratio estimate for weighted prompts)."""
    difference = float(np.mean(values)) - reference
    low = high = None
    verdict = INCONCLUSIVE
    if len(mine) >= 2:
        low, high = bootstrap_mean_ci(scale * np.array(list(mine.values())), resamples=resamples,
                                      confidence=confidence, seed=seed, weights=weights)
        low, high = low - reference, high - reference
        if low > 0 or high < 0:
            verdict = significant_verdict(difference, spec.higher_is_better)
    return Comparison(difference, low, high, None, 0, None, None, None, spec.margin, verdict,
                      f"assumed {reference:g}", False, len(mine), None)


def settings_of(rows: list[EvaluationRow]) -> dict[tuple, list[EvaluationRow]]:
    """Group evaluations into settings; whole-pool rows (budget null) join every budget of their pool."""
    budgets: dict[str, set[int]] = defaultdict(set)
    first_metric: dict[str, str] = {}
    for row in rows:
        if row.budget is not None:
            budgets[row.pool].add(row.budget)
        first_metric.setdefault(row.benchmark, row.metric)
    grouped: dict[tuple, list[EvaluationRow]] = defaultdict(list)
    for row in rows:
        targets = [row.budget] if row.budget is not None else (sorted(budgets[row.pool]) or [None])
        for budget in targets:
            grouped[(row.pool, budget, row.benchmark, row.metric, first_metric[row.benchmark] == row.metric)].append(row)
    return dict(sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] if kv[0][1] is not None else -1,
                                                        kv[0][2], not kv[0][4], kv[0][3])))


def _by_strategy(members: list[EvaluationRow]) -> dict[str, list[EvaluationRow]]:
    grouped: dict[str, list[EvaluationRow]] = defaultdict(list)
    for row in members:
        grouped[row.strategy].append(row)
    return grouped


def analyse(rows: list[EvaluationRow], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
            margins: dict[str, float] | None = None) -> list[SettingResult]:
    """Every setting's random summary and each strategy's two-level comparison with random.
    ``margins`` maps a benchmark to its equivalence margin in value units (defaults in ``metric``)."""
    margins = margins or {}
    grid = {key: _by_strategy(members) for key, members in settings_of(rows).items()}
    pooled: dict[tuple, RunVariance] = defaultdict(RunVariance)
    for (pool, budget, benchmark, metric, _), groups in grid.items():
        pooled[(benchmark, metric, budget)] += run_variance(
            [[r.value for r in runs] for name, runs in groups.items() if name != FULL])
    results = []
    for (pool, budget, benchmark, metric, primary), groups in grid.items():
        members = [r for runs in groups.values() for r in runs]
        setting = Setting(pool, budget, benchmark, metric, primary, members[0].unit)
        spec = spec_of(members, margins.get(benchmark.split(":")[0]))  # harness:mmlu -> harness
        random_rows = groups.get(RANDOM, [])
        run_var = pooled[(benchmark, metric, budget)]
        result = SettingResult(setting, {r.seed: r.value for r in random_rows}, spec, run_var,
                               _random_split(random_rows, UNITS[setting.unit].per_prompt_scale))
        for strategy in sorted((s for s in groups if s != RANDOM), key=lambda s: (s == FULL, s)):
            strategy_rows = groups[strategy]
            result.strategies.append(StrategyResult(
                strategy, {r.seed: r.value for r in strategy_rows},
                compare(setting, strategy_rows, random_rows, spec=spec, run_var=run_var, resamples=resamples,
                        confidence=confidence, seed=seed)))
        results.append(result)
    return results
