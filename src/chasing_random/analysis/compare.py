"""Each strategy against the random seeds in every (pool, budget, benchmark, metric) setting, and the
generalisation table (how often each strategy beats, ties or loses to random; the best per setting)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from chasing_random.analysis.stats import (BETTER, TIE, WORSE, Comparison, bootstrap_mean_ci, bootstrap_unpaired_ci,
                                           percentile_among, seed_for, verdict)
from chasing_random.benchmarks import UNITS
from chasing_random.results import FULL, RANDOM, EvaluationRow


@dataclass
class Setting:
    """One (pool, budget, benchmark, metric) cell of the grid; budget None = only whole-pool models."""

    pool: str
    budget: int | None
    benchmark: str
    metric: str
    primary: bool  # the benchmark's first metric: the one the generalisation table counts
    unit: str = "fraction"  # a key of chasing_random.benchmarks.UNITS, from the rows
    higher_is_better: bool = True

    @property
    def label(self) -> str:
        return f"{self.pool} / {self.budget if self.budget is not None else 'full'} / {self.benchmark} / {self.metric}"


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
    strategies: list[StrategyResult] = field(default_factory=list)

    @property
    def random_mean(self) -> float | None:
        return float(np.mean(list(self.random_values.values()))) if self.random_values else None

    @property
    def random_std(self) -> float | None:
        values = list(self.random_values.values())
        return float(np.std(values, ddof=1)) if len(values) >= 2 else None

    @property
    def best(self) -> str:
        """The best value in the setting (highest, or lowest for metrics where lower is better): a
        strategy, or ``random`` (its seeds' mean)."""
        sign = 1.0 if self.setting.higher_is_better else -1.0
        candidates = [(sign * s.value, s.strategy) for s in self.strategies]
        if self.random_values:
            candidates.append((sign * self.random_mean, RANDOM))
        return max(candidates, key=lambda c: (c[0], c[1]))[1] if candidates else ""


def _per_prompt(rows: list[EvaluationRow]) -> dict[str, float]:
    """Per-prompt scores averaged over seeds, on the prompts every seed has."""
    if not rows or any(not row.per_prompt for row in rows):
        return {}
    keys = set(rows[0].per_prompt).intersection(*(row.per_prompt for row in rows[1:]))
    return {key: float(np.mean([row.per_prompt[key] for row in rows])) for key in sorted(keys)}


def compare(setting: Setting, strategy_rows: list[EvaluationRow], random_rows: list[EvaluationRow], *,
            resamples: int, confidence: float, seed: int) -> Comparison | None:
    """Difference from random (or from the fixed reference) with a bootstrap interval over prompts."""
    scale = UNITS[setting.unit].per_prompt_scale
    value = float(np.mean([r.value for r in strategy_rows]))
    random_values = [r.value for r in random_rows]
    mine = _per_prompt(strategy_rows)
    boot_seed = seed_for(seed, setting.label, strategy_rows[0].strategy)
    reference = next((r.reference_value for r in strategy_rows if r.reference_value is not None), None)
    if reference is not None:
        low = high = None
        if mine:
            low, high = bootstrap_mean_ci(scale * np.array(list(mine.values())), resamples=resamples,
                                          confidence=confidence, seed=boot_seed)
            low, high = low - reference, high - reference
        return Comparison(value - reference, low, high, False, len(mine), percentile_among(value, random_values),
                          _directed(verdict(low, high, value - reference, [reference]), setting),
                          f"reference {reference:g}")
    if not random_rows:
        return None
    difference = value - float(np.mean(random_values))
    theirs = _per_prompt(random_rows)
    common = sorted(set(mine) & set(theirs))
    low = high = None
    paired = bool(common)
    if paired:
        diffs = scale * (np.array([mine[k] for k in common]) - np.array([theirs[k] for k in common]))
        low, high = bootstrap_mean_ci(diffs, resamples=resamples, confidence=confidence, seed=boot_seed)
    elif mine and theirs:
        low, high = bootstrap_unpaired_ci(scale * np.array(list(mine.values())), scale * np.array(list(theirs.values())),
                                          resamples=resamples, confidence=confidence, seed=boot_seed)
    prompts = len(common) if paired else len(mine)
    return Comparison(difference, low, high, paired, prompts, percentile_among(value, random_values),
                      _directed(verdict(low, high, difference, random_values), setting), "random mean")


def _directed(raw: str, setting: Setting) -> str:
    """A verdict on the value's difference, read in the metric's direction (lower may be better)."""
    return raw if setting.higher_is_better else {BETTER: WORSE, WORSE: BETTER}.get(raw, raw)


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


def analyse(rows: list[EvaluationRow], *, resamples: int = 2000, confidence: float = 0.95,
            seed: int = 0) -> list[SettingResult]:
    """Every setting's random summary and each strategy's comparison with random."""
    results = []
    for (pool, budget, benchmark, metric, primary), members in settings_of(rows).items():
        setting = Setting(pool, budget, benchmark, metric, primary, members[0].unit, members[0].higher_is_better)
        random_rows = [r for r in members if r.strategy == RANDOM]
        by_strategy: dict[str, list[EvaluationRow]] = defaultdict(list)
        for row in members:
            if row.strategy != RANDOM:
                by_strategy[row.strategy].append(row)
        result = SettingResult(setting, {r.seed: r.value for r in random_rows})
        for strategy in sorted(by_strategy, key=lambda s: (s == FULL, s)):
            strategy_rows = by_strategy[strategy]
            result.strategies.append(StrategyResult(
                strategy, {r.seed: r.value for r in strategy_rows},
                compare(setting, strategy_rows, random_rows, resamples=resamples, confidence=confidence, seed=seed)))
        results.append(result)
    return results


@dataclass
class Generalisation:
    """Per strategy: settings where it beats random, ties, loses (primary metrics only)."""

    counts: dict[str, dict[str, int]]
    best: list[tuple[str, str]]  # (setting label, best strategy)


def generalisation(results: list[SettingResult]) -> Generalisation:
    counts: dict[str, dict[str, int]] = {}
    best = []
    for result in results:
        if not result.setting.primary:
            continue
        best.append((result.setting.label, result.best))
        for strategy in result.strategies:
            if strategy.comparison is None:
                continue
            tally = counts.setdefault(strategy.strategy, {BETTER: 0, TIE: 0, WORSE: 0})
            tally[strategy.comparison.verdict] += 1
    return Generalisation(dict(sorted(counts.items())), best)
