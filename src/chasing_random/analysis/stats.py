"""Statistics against random: paired bootstrap intervals over prompts, percentiles, verdicts.

The bootstrap is vectorised: resamples are drawn as index matrices in chunks (bounded memory), never
one Python iteration per resample, and seeded from the setting's name so results are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chasing_random.store import fingerprint

BETTER, TIE, WORSE = "better", "indistinguishable", "worse"
CHUNK_CELLS = 4_000_000  # index-matrix cells per chunk (32 MB of int64)


def seed_for(*parts) -> int:
    """A bootstrap seed derived from the setting's identity (stable across runs and orderings)."""
    return int(fingerprint("bootstrap", *parts, length=8), 16)


def _resampled_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples of the rows of ``values`` (1-D or n x k)."""
    n = len(values)
    rows = max(1, CHUNK_CELLS // max(n, 1))
    means = []
    for start in range(0, resamples, rows):
        idx = rng.integers(0, n, size=(min(rows, resamples - start), n))
        means.append(values[idx].mean(axis=1))
    return np.concatenate(means)


def bootstrap_mean_ci(values: np.ndarray, *, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (used for paired per-prompt differences
    and for one-sample differences from a fixed reference)."""
    values = np.asarray(values, dtype=float)
    means = _resampled_means(values, resamples, np.random.default_rng(seed))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_unpaired_ci(a: np.ndarray, b: np.ndarray, *, resamples: int, confidence: float,
                          seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) - mean(b), resampling each side independently."""
    rng = np.random.default_rng(seed)
    diffs = _resampled_means(np.asarray(a, float), resamples, rng) - _resampled_means(np.asarray(b, float),
                                                                                       resamples, rng)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return float(low), float(high)


def percentile_among(value: float, others: list[float]) -> float | None:
    """Where ``value`` falls among the random seeds' values, 0-100 (ties count half)."""
    if not others:
        return None
    others_arr = np.asarray(others, float)
    below = float((others_arr < value).sum()) + 0.5 * float(np.isclose(others_arr, value).sum())
    return 100.0 * below / len(others_arr)


def verdict(low: float | None, high: float | None, difference: float, random_values: list[float]) -> str:
    """better / worse when the interval excludes zero; without an interval (no per-prompt scores),
    better / worse only when the value lies outside the random seeds' range."""
    if low is not None and high is not None:
        return BETTER if low > 0 else WORSE if high < 0 else TIE
    if len(random_values) >= 2:
        spread_low, spread_high = min(random_values), max(random_values)
        mean = float(np.mean(random_values))
        return BETTER if mean + difference > spread_high else WORSE if mean + difference < spread_low else TIE
    return TIE


@dataclass
class Comparison:
    """A strategy against random in one setting."""

    difference: float
    ci_low: float | None
    ci_high: float | None
    paired: bool
    prompts: int
    percentile: float | None
    verdict: str
    baseline: str  # "random mean" or "reference 50.0"
