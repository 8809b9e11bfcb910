"""The pieces of the two-level verdicts: variance split, t comparison with TOST and MDE, prompt-level
tests, BH q-values, the stratified bootstrap, judge order diagnostics and the config seams they read."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from chasing_random.analysis.compare import analyse
from chasing_random.analysis.grid import generalisation, signal_noise, stratified_bootstrap_mean
from chasing_random.analysis.metric import MetricSpec, spec_of
from chasing_random.analysis.plots import spread_labels
from chasing_random.analysis.prompt_tests import permutation_test, prompt_level_test, sign_test
from chasing_random.results import EvaluationRow, RunConfig
from chasing_random.analysis.twolevel import RunVariance, compare_runs, run_variance, variance_split
from chasing_random.config import BenchmarkConfig
from chasing_random.evaluation.pairwise import order_diagnostics
from chasing_random.judges.factory import JudgeSpec


def test_variance_split_recovers_run_and_prompt_components():
    rng = np.random.default_rng(0)
    runs, prompts = 400, 300
    matrix = rng.normal(0, 1.0, (1, prompts)) + rng.normal(0, 0.2, (runs, 1)) + rng.normal(0, 0.5, (runs, prompts))
    split = variance_split(matrix)
    assert split.run == pytest.approx(0.04, rel=0.2)
    assert split.prompt == pytest.approx(0.25 / prompts, rel=0.05)  # prompt difficulty cancels
    assert variance_split(matrix[:1]) is None


def test_compare_runs_is_a_pooled_t_with_tost_and_mde():
    var = run_variance([[0.50, 0.52, 0.54], [0.40, 0.44]])
    assert var.df == 3 and var.ss == pytest.approx(0.0008 + 0.0008)
    spec = MetricSpec(margin=0.05)
    result = compare_runs([0.65], [0.50, 0.52, 0.54], var, spec)
    se = np.sqrt(var.var * (1 + 1 / 3))
    assert result.se == pytest.approx(se) and result.df == 3
    assert result.p_value == pytest.approx(2 * stats.t(3).sf(0.13 / se))
    assert result.mde == pytest.approx((stats.t(3).ppf(0.975) + stats.t(3).ppf(0.8)) * se)
    assert result.verdict == "better"
    assert compare_runs([0.40], [0.50, 0.52, 0.54], var, MetricSpec(higher_is_better=False)).verdict == "better"
    tight = RunVariance(ss=1e-6 * 40, df=40)
    assert compare_runs([0.521], [0.52, 0.52, 0.52], tight, spec).verdict == "equivalent"
    wide = RunVariance(ss=0.01 * 2, df=2)
    assert compare_runs([0.53], [0.50, 0.52, 0.54], wide, spec).verdict == "inconclusive"
    assert compare_runs([0.5], [0.5], RunVariance(), spec).verdict == "inconclusive"


def test_prompt_level_tests_fit_the_metric():
    assert sign_test(np.array([1, 1, 1, 1, 1, 1, 0, 0])) == pytest.approx(stats.binomtest(6, 6).pvalue)
    assert sign_test(np.zeros(5)) == 1.0
    rng = np.random.default_rng(1)
    a = rng.normal(0.3, 1, 200)
    b = a - 0.3 + rng.normal(0, 0.1, 200)
    assert permutation_test(a, b, resamples=500, seed=0) < 0.01
    assert permutation_test(a, a, resamples=500, seed=0) == 1.0
    assert prompt_level_test(np.array([1.0, 0.0]), np.array([0.0, 0.0]), binary=True, resamples=10, seed=0)[0] == \
        "exact sign test"
    rows = [EvaluationRow(pool="p", strategy="random", benchmark="synth_heldout", metric="exact_match", value=0.5,
                          per_prompt={"a": 0.0, "b": 1.0})]
    spec = spec_of(rows)
    assert spec.binary and spec.unit == "fraction" and spec.margin == 0.02 and spec.points == 100
    win = [EvaluationRow(pool="p", strategy="x", benchmark="alpaca_eval_pairwise", metric="win_rate", value=40.0,
                         per_prompt={"a": 0.3})]
    assert spec_of(win, margin=5.0) == MetricSpec("percent", True, False, 5.0)


def _row(strategy, seed, value, pool="p", benchmark="b"):
    return EvaluationRow(pool=pool, budget=100, strategy=strategy, seed=seed, benchmark=benchmark, metric="m",
                         value=value, unit="fraction", higher_is_better=True)


def test_aggregate_metrics_pool_runs_across_pools_and_bh_adjusts():
    rng = np.random.default_rng(3)
    rows = []
    for pool in ("a", "b", "c"):
        rows += [_row("random", s, 0.5 + 0.01 * rng.standard_normal(), pool) for s in range(3)]
        rows += [_row("great", None, 0.6, pool), _row("same", None, 0.5, pool)]
    results = analyse(rows, margins={"b": 0.05})
    assert all(r.run_var.df == 6 for r in results)  # 3 pools x (3 - 1), pooled per benchmark and budget
    assert {s.strategy: s.comparison.verdict for s in results[0].strategies} == {"great": "better",
                                                                                 "same": "equivalent"}
    gen = generalisation(results, resamples=200)
    great = gen.strategies["great"]
    assert great.adjusted["better"] == 3 and great.p_beats == 1.0 and great.standardized_effect > 5
    qs = [s.comparison.q_value for r in results for s in r.strategies]
    ps = [s.comparison.p_value for r in results for s in r.strategies]
    assert all(q >= p for q, p in zip(qs, ps))
    assert results[0].distinguishable_best == "great"
    noise = signal_noise(results)
    assert noise[0].separates and noise[0].ratio > 1


def test_stratified_bootstrap_keeps_strata_sizes():
    values = np.array([1.0, 1.0, 0.0, 0.0])
    low, high = stratified_bootstrap_mean(values, ["x", "x", "y", "y"], resamples=200, confidence=0.95, seed=0)
    assert low == high == 0.5  # each stratum is constant: resampling within it cannot move the mean


def test_order_diagnostics_flip_rate_and_kappa():
    def annotation(first, second):
        return {"raw_completion": [{"candidate_shown": "A", "preference": first},
                                   {"candidate_shown": "B", "preference": second}]}

    annotations = [annotation(1.9, 1.8), annotation(1.2, 1.1), annotation(1.9, 1.2), annotation(1.3, 1.7)]
    order = order_diagnostics(annotations)
    assert order["prompts"] == 4 and order["flip_rate"] == 0.5
    assert order["kappa"] == pytest.approx(0.0)  # 2 agree of 4 with 50/50 margins: chance agreement
    # shown first wins: candidate-first wins in 2 of 4, reference-first (candidate second loses) in 2 of 4
    assert order["first_shown_wins"] == 0.5
    assert order_diagnostics([{"raw_completion": [{"candidate_shown": "A", "preference": 2.0}]}]) is None


def test_both_orders_default_for_local_judges_and_margins_from_config():
    bench = BenchmarkConfig(name="alpaca_eval_pairwise")
    local, api = JudgeSpec.parse("local:smollm2-135m-instruct"), JudgeSpec.parse("openai:gpt-4o")
    assert bench.judged_in_both_orders(local) and not bench.judged_in_both_orders(api)
    assert not BenchmarkConfig(name="alpaca_eval_pairwise", both_orders=False).judged_in_both_orders(local)
    config = RunConfig.model_validate(json.loads('{"benchmarks": [{"name": "ifeval", "margin": 0.05, "limit": 3},'
                                                 ' {"name": "synth_heldout"}]}'))
    assert config.margins() == {"ifeval": 0.05}


def test_labels_are_spread_apart_and_stay_inside():
    placed = spread_labels([0.5, 0.5, 0.5, 0.99])
    ordered = sorted(placed)
    assert all(b - a >= 0.075 - 1e-9 for a, b in zip(ordered, ordered[1:])) and max(placed) <= 0.97
