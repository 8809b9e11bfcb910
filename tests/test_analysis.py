"""Statistics against random: bootstrap intervals, percentiles, verdicts, settings and cost aggregation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from chasing_random.analysis import stats
from chasing_random.analysis.compare import analyse, settings_of
from chasing_random.analysis.costs import CostModel
from chasing_random.results import CostRow, EvaluationRow, Prices


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(min_value=-5, max_value=5), min_size=1, max_size=40),
       seed=st.integers(min_value=0, max_value=1000))
def test_bootstrap_interval_brackets_the_mean_and_is_reproducible(values, seed):
    low, high = stats.bootstrap_mean_ci(np.array(values), resamples=200, confidence=0.9, seed=seed)
    assert low <= float(np.mean(values)) + 1e-9 and float(np.mean(values)) - 1e-9 <= high
    assert (low, high) == stats.bootstrap_mean_ci(np.array(values), resamples=200, confidence=0.9, seed=seed)


def test_chunked_resampling_matches_one_block(monkeypatch):
    values = np.random.default_rng(0).random(500)
    whole = stats.bootstrap_mean_ci(values, resamples=300, confidence=0.95, seed=3)
    monkeypatch.setattr(stats, "CHUNK_CELLS", 500 * 7)  # 7 resamples per chunk
    assert stats.bootstrap_mean_ci(values, resamples=300, confidence=0.95, seed=3) == pytest.approx(whole)


def test_interval_width_shrinks_with_more_prompts():
    rng = np.random.default_rng(1)
    widths = []
    for n in (50, 5000):
        low, high = stats.bootstrap_mean_ci((rng.random(n) < 0.5).astype(float), resamples=400, confidence=0.95, seed=0)
        widths.append(high - low)
    assert widths[1] < widths[0] / 5


def test_percentile_and_verdicts():
    assert stats.percentile_among(0.5, [0.1, 0.2, 0.9]) == pytest.approx(200 / 3)
    assert stats.percentile_among(0.2, [0.2, 0.2]) == 50.0
    assert stats.percentile_among(1.0, []) is None
    assert stats.verdict(0.01, 0.2, 0.1, []) == "better"
    assert stats.verdict(-0.2, -0.01, -0.1, []) == "worse"
    assert stats.verdict(-0.1, 0.1, 0.0, []) == "indistinguishable"
    # without per-prompt scores: outside the random seeds' range
    assert stats.verdict(None, None, 0.3, [0.4, 0.5, 0.6]) == "better"
    assert stats.verdict(None, None, 0.05, [0.4, 0.5, 0.6]) == "indistinguishable"


def _row(strategy, seed, value, per_prompt=None, budget=100, benchmark="b", metric="m", **extra):
    extra = {"unit": "fraction", "higher_is_better": True, **extra}
    return EvaluationRow(pool="p", budget=budget, strategy=strategy, seed=seed, benchmark=benchmark, metric=metric,
                         value=value, per_prompt=per_prompt or {}, **extra)


def test_full_joins_every_budget_and_first_metric_is_primary():
    rows = [_row("random", 0, 0.5, budget=100), _row("random", 0, 0.6, budget=200), _row("full", None, 0.7, budget=None),
            _row("random", 0, 0.5, metric="loose")]
    keys = list(settings_of(rows))
    assert [(k[1], k[3], k[4]) for k in keys] == [(100, "m", True), (100, "loose", False), (200, "m", True)]
    grouped = settings_of(rows)
    assert all(any(r.strategy == "full" for r in grouped[k]) for k in keys if k[3] == "m")


def test_unpaired_when_prompts_differ_and_seedwise_range_without_prompts():
    rng = np.random.default_rng(2)
    rows = [_row("random", s, 0.5, {f"r{s}-{i}": float(v) for i, v in enumerate(rng.random(200) < 0.5)})
            for s in range(3)]
    rows.append(_row("x", None, 0.9, {f"x{i}": float(v) for i, v in enumerate(rng.random(200) < 0.9)}))
    rows += [_row("random", s, v, benchmark="agg") for s, v in enumerate((0.40, 0.45, 0.50))]
    rows.append(_row("x", None, 0.55, benchmark="agg"))
    results = {r.setting.benchmark: r for r in analyse(rows, resamples=300)}
    comparison = results["b"].strategies[0].comparison
    assert not comparison.paired and comparison.verdict == "better"
    agg = results["agg"].strategies[0].comparison
    assert agg.ci_low is None and agg.verdict == "better" and agg.percentile == 100.0


def test_selection_cost_shares_scoring_and_averages_seeds():
    rows = [CostRow(pool="p", strategy="s", stage="selection", device="A100", device_hours=1.0),
            CostRow(pool="p", strategy="s", budget=100, seed=0, stage="selection", device="cpu", device_hours=10),
            CostRow(pool="p", strategy="s", budget=100, seed=1, stage="selection", device="cpu", device_hours=20),
            CostRow(pool="p", strategy="s", budget=200, stage="selection", device="cpu", device_hours=1000,
                    api_tokens={"gpt-4o-mini": {"input": 1_000_000, "output": 1_000_000}})]
    model = CostModel(rows, Prices(), [], lambda p: p)
    assert model.selection("p", "s", 100).dollars == pytest.approx(1.80 + 0.10 * 15)
    assert model.selection("p", "s", 200).dollars == pytest.approx(1.80 + 100 + 0.15 + 0.60)  # input + output price
    assert model.selection("p", "other", 100).rows == 0


def test_configured_prices_merge_over_defaults_and_nan_is_rejected():
    from pydantic import ValidationError

    prices = Prices.model_validate({"device_hour": {"A100": 2.5}})
    assert prices.device_hour["A100"] == 2.5 and prices.device_hour["cpu"] == 0.10
    assert (prices.api_per_million_tokens["gpt-4o"].input, prices.api_per_million_tokens["gpt-4o"].output) == (2.5, 10.0)
    with pytest.raises(ValidationError):
        _row("random", 0, float("nan"))
