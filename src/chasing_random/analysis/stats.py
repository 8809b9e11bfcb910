"""Resampling helpers: percentile bootstrap intervals over prompts (used where no random run exists, and
for refitted statistics), percentiles among the random runs, stable bootstrap seeds.

The bootstrap is vectorised: resamples are drawn as index matrices in chunks (bounded memory), never
one Python iteration per resample, and seeded from the setting's name so results are reproducible.
"""

from __future__ import annotations

import numpy as np

from chasing_random.store import fingerprint

CHUNK_CELLS = 4_000_000  # index-matrix cells per chunk (32 MB of int64)


def seed_for(*parts) -> int:
    """A bootstrap seed derived from the setting's identity (stable across runs and orderings)."""
    return int(fingerprint("bootstrap", *parts, length=8), 16)


def _resampled_means(values: np.ndarray, resamples: int, rng: np.random.Generator,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples of the rows of ``values`` (1-D or n x k); with
    ``weights`` the ratio sum(w * v) / sum(w) of each resample (rows resampled as whole clusters)."""
    n = len(values)
    rows = max(1, CHUNK_CELLS // max(n, 1))
    means = []
    for start in range(0, resamples, rows):
        idx = rng.integers(0, n, size=(min(rows, resamples - start), n))
        if weights is None:
            means.append(values[idx].mean(axis=1))
        else:
            means.append((weights[idx] * values[idx]).sum(axis=1) / weights[idx].sum(axis=1))
    return np.concatenate(means)


def bootstrap_mean_ci(values: np.ndarray, *, resamples: int, confidence: float, seed: int,
                      weights: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (used for paired per-prompt differences
    and for one-sample differences from a fixed reference); of the ratio estimate with ``weights``."""
    values = np.asarray(values, dtype=float)
    weights = None if weights is None else np.asarray(weights, dtype=float)
    means = _resampled_means(values, resamples, np.random.default_rng(seed), weights)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def percentile_among(value: float, others: list[float]) -> float | None:
    """Where ``value`` falls among the random seeds' values, 0-100 (ties count half)."""
    if not others:
        return None
    others_arr = np.asarray(others, float)
    below = float((others_arr < value).sum()) + 0.5 * float(np.isclose(others_arr, value).sum())
    return 100.0 * below / len(others_arr)
