"""Statistics over the whole grid: Benjamini-Hochberg q-values, the generalisation table with the wins
chance alone would give, each strategy's probability of beating random across settings (stratified
bootstrap) and mean standardized effect, and signal against noise per benchmark."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats

from chasing_random.analysis.compare import SettingResult
from chasing_random.analysis.stats import seed_for
from chasing_random.analysis.twolevel import EQUIVALENT, INCONCLUSIVE, VERDICTS, significant_verdict


def adjust(results: list[SettingResult], confidence: float) -> None:
    """Set every primary comparison's BH q-value (over all primary comparisons with a p-value) and its
    adjusted verdict: better/worse when q < 1 - confidence, else as the unadjusted equivalence test says."""
    alpha = 1 - confidence
    tested = [(r, s.comparison) for r in results if r.setting.primary for s in r.strategies
              if s.comparison is not None and s.comparison.p_value is not None]
    if not tested:
        return
    q_values = stats.false_discovery_control([c.p_value for _, c in tested], method="bh")
    for (result, comparison), q in zip(tested, q_values):
        comparison.q_value = float(q)
        if q < alpha:
            comparison.adjusted_verdict = significant_verdict(comparison.difference, result.spec.higher_is_better)
        else:
            equivalent = comparison.p_equivalence is not None and comparison.p_equivalence < alpha
            comparison.adjusted_verdict = EQUIVALENT if equivalent else INCONCLUSIVE


@dataclass
class StrategySummary:
    """One strategy across the primary settings of the grid."""

    raw: dict[str, int]
    adjusted: dict[str, int]
    settings: int
    chance_wins: float  # expected better verdicts if the strategy were random: settings x alpha / 2
    p_beats: float | None  # mean share of random runs it beats (ties half), over settings
    p_beats_ci: tuple[float, float] | None  # None when no benchmark has two settings to resample
    standardized_effect: float | None  # mean of difference / run SD, signed so positive = better


@dataclass
class Generalisation:
    """Per strategy summaries and the best of each setting (primary metrics only)."""

    strategies: dict[str, StrategySummary]
    best: list[tuple[str, str, str | None]]  # (setting label, best value, distinguishable best or None)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return {name: s.raw for name, s in self.strategies.items()}


def stratified_bootstrap_mean(values: np.ndarray, strata: list[str], *, resamples: int, confidence: float,
                              seed: int) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` resampling settings within each stratum (benchmark)."""
    rng = np.random.default_rng(seed)
    total = np.zeros(resamples)
    for stratum in sorted(set(strata)):
        members = values[[s == stratum for s in strata]]
        idx = rng.integers(0, len(members), size=(resamples, len(members)))
        total += members[idx].sum(axis=1)
    means = total / len(values)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def generalisation(results: list[SettingResult], *, confidence: float = 0.95, resamples: int = 2000,
                   seed: int = 0) -> Generalisation:
    """Verdict counts (raw and BH-adjusted), chance wins, P(beats random) and standardized effect."""
    adjust(results, confidence)
    per: dict[str, list[tuple[SettingResult, object]]] = defaultdict(list)
    best = []
    for result in results:
        if not result.setting.primary:
            continue
        best.append((result.setting.label, result.best, result.distinguishable_best))
        for strategy in result.strategies:
            if strategy.comparison is not None:
                per[strategy.strategy].append((result, strategy.comparison))
    summaries = {}
    for name, entries in sorted(per.items()):
        raw = dict.fromkeys(VERDICTS, 0)
        adjusted = dict.fromkeys(VERDICTS, 0)
        shares, strata, effects = [], [], []
        for result, comparison in entries:
            raw[comparison.verdict] += 1
            adjusted[comparison.adjusted_verdict or comparison.verdict] += 1
            sign = 1 if result.spec.higher_is_better else -1
            if comparison.percentile is not None:
                shares.append((comparison.percentile if sign > 0 else 100 - comparison.percentile) / 100)
                strata.append(result.setting.benchmark)
            if result.run_sd:
                effects.append(sign * comparison.difference / result.run_sd)
        p_beats = float(np.mean(shares)) if shares else None
        several = any(strata.count(s) >= 2 for s in set(strata))  # else resampling within strata cannot vary
        interval = (stratified_bootstrap_mean(np.array(shares), strata, resamples=resamples, confidence=confidence,
                                              seed=seed_for(seed, "generalisation", name)) if several else None)
        summaries[name] = StrategySummary(raw, adjusted, len(entries), len(entries) * (1 - confidence) / 2, p_beats,
                                          interval, float(np.mean(effects)) if effects else None)
    return Generalisation(summaries, best)


@dataclass
class SignalNoise:
    """Per (pool, budget, benchmark): spread across strategies against spread across random runs."""

    label: str
    signal: float | None  # SD of the strategies' values (random counted once, at its mean)
    noise: float | None  # pooled SD of one random run (tau)
    median_mde: float | None
    points: float

    @property
    def ratio(self) -> float | None:
        return self.signal / self.noise if self.signal is not None and self.noise else None

    @property
    def separates(self) -> bool:
        """False when strategies differ less than random seeds do: the benchmark cannot rank them."""
        return self.ratio is not None and self.ratio >= 1


def signal_noise(results: list[SettingResult]) -> list[SignalNoise]:
    out = []
    for result in results:
        if not result.setting.primary:
            continue
        values = [s.value for s in result.strategies if s.strategy != "full"]
        if result.random_values:
            values.append(result.random_mean)
        mdes = [s.comparison.mde for s in result.strategies if s.comparison and s.comparison.mde is not None]
        out.append(SignalNoise(result.setting.label, float(np.std(values, ddof=1)) if len(values) >= 2 else None,
                               result.run_sd, float(np.median(mdes)) if mdes else None, result.spec.points))
    return out

