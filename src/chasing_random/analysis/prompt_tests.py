"""Prompt-level paired tests that fit the metric: does this fine-tune differ from the random ones on
the population of prompts? They hold the trained models fixed (they ignore run-to-run variation), so
the report shows them beside the two-level verdict, never instead of it.

Binary per-prompt scores (exact match, IFEval prompt-level) get the exact sign test on the per-prompt
differences (McNemar's exact test when both sides are single 0/1 runs); continuous scores (judge
preferences, per-prompt means over seeds) a paired sign-flip permutation test. The prompt is the
unit that is flipped. Ratio metrics (IFEval instruction-level: each prompt a cluster of its
instructions, weighted by their number) get the weighted statistic sum(w * d) / sum(w) with whole
prompts flipped: one response is judged on all of a prompt's instructions, so they are not independent.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

SIGN, PERMUTATION = "exact sign test", "paired permutation test"
CLUSTER = "weighted cluster-permutation test"  # whole prompts flipped; the report shows "cluster-permutation"


def sign_test(differences: np.ndarray) -> float:
    """Two-sided exact binomial test of the signs of the non-zero differences (1.0 when all are zero)."""
    differences = np.asarray(differences, float)
    up, down = int((differences > 0).sum()), int((differences < 0).sum())
    if up + down == 0:
        return 1.0
    return float(stats.binomtest(up, up + down, 0.5).pvalue)


def permutation_test(mine: np.ndarray, theirs: np.ndarray, *, resamples: int, seed: int,
                     weights: np.ndarray | None = None) -> float:
    """Two-sided paired permutation test of the (``weights``-weighted) mean difference: each prompt's two
    scores swap sides together, whatever its weight."""
    mine, theirs = np.asarray(mine, float), np.asarray(theirs, float)
    if np.allclose(mine, theirs):
        return 1.0
    w = np.ones(len(mine)) if weights is None else np.asarray(weights, float)
    result = stats.permutation_test((mine, theirs), lambda a, b, axis: np.sum(w * (a - b), axis=axis) / w.sum(),
                                    vectorized=True, permutation_type="samples", n_resamples=resamples,
                                    alternative="two-sided", random_state=np.random.default_rng(seed))
    return float(result.pvalue)


def prompt_level_test(mine: np.ndarray, theirs: np.ndarray, *, binary: bool, resamples: int, seed: int,
                      weights: np.ndarray | None = None) -> tuple[str, float]:
    """The test that fits the scores (name, two-sided p) for paired per-prompt scores; ``weights`` (units
    per prompt) make it the cluster test of a ratio metric."""
    if weights is not None and not np.allclose(weights, weights[0]):
        return CLUSTER, permutation_test(mine, theirs, resamples=resamples, seed=seed, weights=weights)
    if binary:
        return SIGN, sign_test(np.asarray(mine, float) - np.asarray(theirs, float))
    return PERMUTATION, permutation_test(mine, theirs, resamples=resamples, seed=seed)
