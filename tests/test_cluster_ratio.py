"""IFEval instruction level as a ratio over prompt clusters, from the benchmark's score through the results
row into the analysis, and a simulation where treating instructions as independent units is miscalibrated."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from chasing_random.analysis.compare import analyse
from chasing_random.analysis.prompt_tests import CLUSTER, SIGN, sign_test
from chasing_random.analysis.twolevel import variance_split
from chasing_random.benchmarks import EvalContext, get_benchmark
from chasing_random.config import BenchmarkConfig
from chasing_random.evaluation.ifeval import load_prompts
from chasing_random.pipeline.plan import Arm
from chasing_random.pipeline.runner import evaluation_rows
from chasing_random.results import EvaluationRow, read_rows, write_rows

INSTRUCTION_LEVEL = "inst_level_strict_acc"


def _ifeval_rows(tmp_path, name, answer, strategy, seed):
    """Score real IFEval prompts with Google's checkers and turn the stage outputs into results rows."""
    prompts = load_prompts()[:40]
    outputs = tmp_path / f"{name}.json"
    outputs.write_text(json.dumps([{"instruction": p.prompt, "output": answer(p.prompt), "generator": name}
                                   for p in prompts]))
    bench = BenchmarkConfig(name="ifeval", limit=40)
    folder = tmp_path / name
    folder.mkdir()
    score = get_benchmark("ifeval").evaluate(EvalContext(bench=bench, folder=folder, outputs=outputs))
    out = json.loads(json.dumps(score.outputs()))  # as the stage record stores it
    rows = evaluation_rows(Arm("alpaca", strategy, strategy, seed), bench, out, 100)
    return prompts, score, rows


def test_instruction_level_rows_carry_clusters_end_to_end(tmp_path):
    prompts, score, rows = _ifeval_rows(tmp_path, "echo", lambda p: p, "longest", None)
    level = score.secondary[0]
    assert level.metric.name == INSTRUCTION_LEVEL
    sizes = {str(p.key): len(p.instruction_id_list) for p in prompts}
    assert level.per_prompt_weight == pytest.approx(sizes) and len(set(sizes.values())) > 1
    ratio = sum(level.per_prompt[k] * w for k, w in sizes.items()) / sum(sizes.values())
    assert level.value == pytest.approx(ratio) == score.metrics[INSTRUCTION_LEVEL]
    assert level.value != pytest.approx(np.mean(list(level.per_prompt.values())))  # a ratio, not a mean of shares
    assert [r.metric for r in rows] == ["prompt_level_strict_acc", INSTRUCTION_LEVEL]  # primary first
    assert rows[0].per_prompt_weight == {} and rows[1].per_prompt_weight == pytest.approx(sizes)

    path = tmp_path / "run" / "results" / "evaluations.jsonl"
    random_rows = [r for seed, answer in ((0, str.upper), (1, lambda p: p + "\n\nP.S. thanks"))
                   for r in _ifeval_rows(tmp_path, f"random{seed}", answer, "random", seed)[2]]
    write_rows(path, rows + random_rows)
    loaded = read_rows(path, EvaluationRow)
    assert loaded[1].per_prompt_weight == rows[1].per_prompt_weight
    results = {r.setting.metric: r for r in analyse(loaded, resamples=500)}
    assert results[INSTRUCTION_LEVEL].strategies[0].comparison.prompt_test == CLUSTER
    assert not results[INSTRUCTION_LEVEL].spec.binary
    assert results["prompt_level_strict_acc"].strategies[0].comparison.prompt_test == SIGN
    assert results["prompt_level_strict_acc"].setting.primary and not results[INSTRUCTION_LEVEL].setting.primary
    from chasing_random.analysis.report import build_report

    text = build_report(tmp_path / "run", resamples=200, figures=False).markdown.read_text()
    assert "alpaca / 100 / ifeval / inst_level_strict_acc" in text and "cluster-permutation p=" in text


def test_row_weights_must_name_the_same_prompts():
    with pytest.raises(ValueError, match="'b' is in only one"):
        EvaluationRow(pool="p", budget=1, strategy="s", benchmark="ifeval", metric=INSTRUCTION_LEVEL, value=0.5,
                      per_prompt={"a": 0.5}, per_prompt_weight={"a": 2, "b": 1})
    with pytest.raises(ValueError, match="greater than 0"):
        EvaluationRow(pool="p", budget=1, strategy="s", benchmark="ifeval", metric=INSTRUCTION_LEVEL, value=0.5,
                      per_prompt={"a": 0.5}, per_prompt_weight={"a": 0})


def _clustered(rng, sizes, difficulty, response_sd, shift=0.0):
    """One model's instruction outcomes: a prompt's instructions are judged on one response, whose quality
    (response_sd logits) they share, so they are correlated within the prompt (intraclass correlation > 0)."""
    logits = 1.0 + difficulty + response_sd * rng.normal(0, 1, len(sizes)) + shift
    return [rng.random(n) < expit(logit) for n, logit in zip(sizes, logits)]


def _rows(strategy, outcomes, seed=None):
    keys = [f"p{i}" for i in range(len(outcomes))]
    followed = [float(o.sum()) for o in outcomes]
    sizes = [float(len(o)) for o in outcomes]
    return EvaluationRow(pool="pool", budget=100, strategy=strategy, seed=seed, benchmark="ifeval",
                         metric=INSTRUCTION_LEVEL, value=sum(followed) / sum(sizes),
                         per_prompt={k: f / n for k, f, n in zip(keys, followed, sizes)},
                         per_prompt_weight=dict(zip(keys, sizes)))


def _rejection_rates(shift, replicates=300, prompts=120, response_sd=1.5, seed=0):
    rng = np.random.default_rng(seed)
    cluster, naive = 0, 0
    for _ in range(replicates):
        sizes = rng.choice([1, 1, 2, 2, 3, 4, 6, 8], size=prompts)  # unequal clusters
        difficulty = rng.normal(0, 1, prompts)
        mine = _clustered(rng, sizes, difficulty, response_sd, shift)
        theirs = _clustered(rng, sizes, difficulty, response_sd)
        result = analyse([_rows("zip", mine), _rows("random", theirs, 0)], resamples=999,
                         seed=int(rng.integers(1 << 30)))[0]
        comparison = result.strategies[0].comparison
        assert comparison.prompt_test == CLUSTER
        cluster += comparison.prompt_p < 0.05
        # instructions as independent paired units: McNemar's exact test on every instruction
        naive += sign_test(np.concatenate(mine).astype(float) - np.concatenate(theirs).astype(float)) < 0.05
    return cluster / replicates, naive / replicates


def test_cluster_test_is_calibrated_where_instruction_units_are_not():
    cluster, naive = _rejection_rates(0.0)
    assert 0.02 <= cluster <= 0.09, cluster  # nominal 5%; 300 replicates: SE 1.3 points
    assert naive >= 0.15, naive  # the intraclass correlation inflates the instruction-level test
    power, _ = _rejection_rates(1.0, replicates=60, seed=1)
    assert power >= 0.5, power


def test_weighted_variance_split_matches_the_spread_of_ratio_estimates():
    rng = np.random.default_rng(3)
    sizes = rng.choice([1, 1, 2, 3, 6, 10], size=150)
    difficulty = rng.normal(0, 1, 150)
    runs = [_clustered(rng, sizes, difficulty, 1.5) for _ in range(400)]  # no run effect: all spread is prompts
    shares = np.array([[o.mean() for o in run] for run in runs])
    values = shares @ sizes / sizes.sum()
    split = variance_split(shares, sizes.astype(float))
    assert split.prompt == pytest.approx(values.var(ddof=1), rel=0.15)
    assert split.run < 0.1 * split.prompt
    unweighted = variance_split(shares)
    assert variance_split(shares, np.ones(150)).prompt == pytest.approx(unweighted.prompt)
    assert unweighted.prompt == pytest.approx(shares.mean(axis=1).var(ddof=1), rel=0.15)  # its own estimand
