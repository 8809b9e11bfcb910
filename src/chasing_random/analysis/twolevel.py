"""Two-level uncertainty of "strategy minus random": prompts sampled AND fine-tunes that vary by run.

A run's benchmark value (a fine-tune on one subset with one seed, scored on the shared prompts) varies
around its strategy's mean by tau^2 = sigma_run^2 + sigma_e^2 / P: the run-to-run spread of the
fine-tunes plus the prompt-sampling noise of one run's score (the run x prompt residual over P
prompts). The spread of the random seeds' values measures tau^2 directly, so the comparison is a
t-interval on run values, x_bar - y_bar with SE = tau * sqrt(1/S + 1/R), whose tau^2 is pooled over
every group of runs that shares a benchmark, metric and budget (several pools), as the issue and
docs/analysis.md explain. A strategy with one run is thus one draw against the random-run distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from chasing_random.analysis.metric import MetricSpec

BETTER, WORSE, EQUIVALENT, INCONCLUSIVE = "better", "worse", "equivalent", "inconclusive"
VERDICTS = (BETTER, EQUIVALENT, INCONCLUSIVE, WORSE)
POWER = 0.8


@dataclass(frozen=True)
class RunVariance:
    """Sum of squares of run values around their own strategy's mean, and its degrees of freedom."""

    ss: float = 0.0
    df: int = 0

    @property
    def var(self) -> float | None:
        return self.ss / self.df if self.df else None

    def __add__(self, other: "RunVariance") -> "RunVariance":
        return RunVariance(self.ss + other.ss, self.df + other.df)


def run_variance(groups: list[list[float]]) -> RunVariance:
    """Within-strategy spread of run values; each group is one strategy's runs (one-run groups add nothing)."""
    ss, df = 0.0, 0
    for values in groups:
        if len(values) >= 2:
            arr = np.asarray(values, float)
            ss += float(((arr - arr.mean()) ** 2).sum())
            df += len(arr) - 1
    return RunVariance(ss, df)


@dataclass(frozen=True)
class VarianceSplit:
    """Variance of one run's value split into run-to-run (sigma_run^2) and prompt sampling
    (sigma_e^2 / P), estimated from the random runs' per-prompt scores on their common prompts."""

    run: float
    prompt: float
    prompts: int
    runs: int

    @property
    def run_share(self) -> float | None:
        total = self.run + self.prompt
        return self.run / total if total > 0 else None


def variance_split(matrix: np.ndarray, weights: np.ndarray | None = None) -> VarianceSplit | None:
    """Method-of-moments split of a runs x prompts matrix (two-way layout: prompt difficulty cancels):
    sigma_e^2 = residual mean square, sigma_run^2 = max(0, var(run means) - sigma_e^2 / P). With
    ``weights`` (a ratio metric: run value = sum(w * s) / sum(w)) run means are weighted and the
    prompt-sampling part is the cluster form sum(w^2 * r^2) / ((R-1)(P-1)) * P / sum(w)^2, which is
    sigma_e^2 / P when every weight is equal."""
    matrix = np.asarray(matrix, float)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return None
    runs, prompts = matrix.shape
    w = np.ones(prompts) if weights is None else np.asarray(weights, float)
    run_means, prompt_means = matrix @ w / w.sum(), matrix.mean(axis=0)
    residual = matrix - run_means[:, None] - prompt_means[None, :] + prompt_means @ w / w.sum()
    prompt = float((w ** 2 * residual ** 2).sum()) / ((runs - 1) * (prompts - 1)) * prompts / w.sum() ** 2
    return VarianceSplit(max(0.0, float(run_means.var(ddof=1)) - prompt), prompt, prompts, runs)


@dataclass(frozen=True)
class TwoLevel:
    """Strategy minus random (value units) with its two-level interval, tests and verdict."""

    difference: float
    se: float | None
    df: int
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # two-sided, H0: no difference
    p_equivalence: float | None  # two one-sided tests against +-margin
    mde: float | None  # smallest |difference| found with 80% power at this SE and df
    margin: float
    verdict: str


def significant_verdict(difference: float, higher_is_better: bool) -> str:
    return BETTER if (difference > 0) == higher_is_better else WORSE


def compare_runs(strategy: list[float], random: list[float], run_var: RunVariance, spec: MetricSpec,
                 confidence: float = 0.95) -> TwoLevel:
    """Two-sample t on run values with the pooled run variance ``run_var`` (its df); the four-way
    verdict: better/worse when the two-sided test rejects at 1 - confidence, else equivalent when both
    one-sided tests put the difference inside +-margin, else inconclusive."""
    difference = float(np.mean(strategy) - np.mean(random))
    alpha = 1 - confidence
    var = run_var.var
    if var is None or var <= 0 or not strategy or not random:
        return TwoLevel(difference, None, run_var.df, None, None, None, None, None, spec.margin, INCONCLUSIVE)
    se = math.sqrt(var * (1 / len(strategy) + 1 / len(random)))
    t = stats.t(run_var.df)
    half = float(t.ppf(1 - alpha / 2)) * se
    p_value = float(2 * t.sf(abs(difference) / se))
    p_equivalence = float(max(t.sf((difference + spec.margin) / se), t.cdf((difference - spec.margin) / se)))
    mde = float(t.ppf(1 - alpha / 2) + t.ppf(POWER)) * se
    if p_value < alpha:
        verdict = significant_verdict(difference, spec.higher_is_better)
    elif p_equivalence < alpha:
        verdict = EQUIVALENT
    else:
        verdict = INCONCLUSIVE
    return TwoLevel(difference, se, run_var.df, difference - half, difference + half, p_value, p_equivalence, mde,
                    spec.margin, verdict)
