"""The report's verdicts checked by simulation against a known truth: with no true effect but real
run-to-run spread (0.25 logits between fine-tunes, 400 prompts of shared difficulty, 60 settings) the
share of better/worse verdicts stays near the nominal 5% and intervals cover the truth about 95% of
the time; large effects are found. The old prompt-only bootstrap called 84 of 180 such settings."""

from __future__ import annotations

import csv

import numpy as np

from chasing_random.analysis.compare import analyse
from chasing_random.analysis.grid import generalisation
from chasing_random.results import EvaluationRow
from chasing_random.analysis.simulate import Grid, simulate_rows, true_difference, write_run


def _verdicts(grid: Grid, replicates: int) -> tuple[dict[str, list[str]], dict[str, list[bool]], list]:
    verdicts: dict[str, list[str]] = {}
    covered: dict[str, list[bool]] = {}
    results = []
    for replicate in range(replicates):
        rows, truth = simulate_rows(grid, np.random.default_rng(replicate))
        analysed = analyse([EvaluationRow.model_validate(r) for r in rows], resamples=200)
        results.append(analysed)
        for result in analysed:
            s = result.setting
            for strategy in result.strategies:
                c = strategy.comparison
                verdicts.setdefault(strategy.strategy, []).append(c.verdict)
                covered.setdefault(strategy.strategy, []).append(
                    c.ci_low <= truth[(s.pool, s.budget, s.benchmark, strategy.strategy)] <= c.ci_high)
    return verdicts, covered, results


def test_no_true_effect_gives_nominal_false_verdicts_and_coverage():
    grid = Grid(pools=20, effects={"same": 0.0})  # 60 settings per replicate
    verdicts, covered, results = _verdicts(grid, replicates=5)
    calls = verdicts["same"]
    false_rate = sum(v in ("better", "worse") for v in calls) / len(calls)
    assert len(calls) == 300
    assert 0.01 <= false_rate <= 0.095, false_rate  # nominal 0.05; binomial SD 0.013
    assert 0.92 <= np.mean(covered["same"]) <= 0.985
    assert results[0][0].run_var.df == 40  # 20 pools x (3 seeds - 1) pooled per benchmark and budget
    adjusted = [generalisation(r).strategies["same"] for r in results]
    assert sum(a.adjusted["better"] + a.adjusted["worse"] for a in adjusted) <= sum(
        a.raw["better"] + a.raw["worse"] for a in adjusted)
    assert abs(adjusted[0].chance_wins - 60 * 0.025) < 1e-9
    assert 0.3 < adjusted[0].p_beats < 0.7 and abs(adjusted[0].standardized_effect) < 0.5


def test_large_effects_are_found_and_covered():
    grid = Grid(pools=20, effects={"big": 1.5, "harmful": -1.5})
    verdicts, covered, _ = _verdicts(grid, replicates=1)
    assert verdicts["big"].count("better") >= 57 and verdicts["harmful"].count("worse") >= 57
    assert np.mean(covered["big"] + covered["harmful"]) >= 0.9


def test_true_difference_is_the_expected_gap():
    difficulty = np.zeros(3)
    assert true_difference(difficulty, 0.0, 0.0, 0.25) == 0.0
    gap = true_difference(difficulty, 0.0, 1.0, 0.0)
    assert abs(gap - (1 / (1 + np.exp(-1)) - 0.5)) < 1e-12


def test_chase_report_on_a_simulated_run_folder(tmp_path, run_cli):
    """The same check end to end: run folders written by hand, then ``chase report`` and its results.csv."""
    grid = Grid(pools=20, effects={"same": 0.0, "big": 1.5})
    rows, _ = simulate_rows(grid, np.random.default_rng(100))
    run = write_run(tmp_path / "sim", rows)
    result = run_cli("report", run, "--no-figures", "--resamples", "200")
    assert result.code == 0, result.err
    with open(run / "results.csv", newline="") as handle:
        table = [r for r in csv.DictReader(handle) if r["strategy"] != "random"]
    same = [r["verdict"] for r in table if r["strategy"] == "same"]
    big = [r["verdict"] for r in table if r["strategy"] == "big"]
    assert len(same) == len(big) == 60
    assert sum(v in ("better", "worse") for v in same) <= 7  # nominal 3 of 60
    assert big.count("better") >= 57
    assert all(r["run_df"] == "40" and float(r["mde"]) > 0 for r in table)
    assert "Verdict summary" in (run / "report.html").read_text()
