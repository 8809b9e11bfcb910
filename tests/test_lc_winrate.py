"""AlpacaEval's length-controlled win rate from local hub files (synthetic files: the real ones are on the hub).

The reference below is written independently of ``lc_winrate``: the same GLM (no intercept; features
tanh(std length delta), instruction difficulty, not-gamed flag; gamed rows weighted 0.1; soft labels;
L1 penalty; C by 5-fold grouped CV on the weighted soft log loss) solved with scipy's L-BFGS-B."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.model_selection import GroupKFold

from chasing_random.errors import ChaseError
from chasing_random.evaluation.lc_winrate import read_lc_files
from chasing_random.evaluation.winrate import winrate_metrics

HEADER = ["model", "index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline"]


def _world(folder, n=120, seed=0, noise=0.0, w_len=-1.5, w_diff=0.9, w_model=-1.0):
    """Write df_gamed.csv (two gamed baselines) and return the model's annotations and the truth."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1, n)
    gamed = []
    for model, shift in (("base_verbose", -1.0), ("base_concise", 1.0)):
        std_len = rng.normal(shift, 0.7, n)
        p = expit(w_len * np.tanh(std_len) + w_diff * difficulty + noise * rng.normal(0, 1, n))
        gamed += [[model, i, repr(float(p[i])), repr(float(std_len[i])), repr(float(difficulty[i])), "False"]
                  for i in range(n)]
    _write(folder / "df_gamed.csv", [HEADER, *gamed])
    len1, len2 = rng.integers(200, 2000, n), rng.integers(50, 1500, n)
    delta = (len1 - len2).astype(float)
    p = expit(w_len * np.tanh(delta / delta.std(ddof=1)) + w_diff * difficulty + w_model + noise * rng.normal(0, 1, n))
    annotations = [{"instruction": f"q{i}", "output_1": "a" * int(len1[i]), "generator_1": "base",
                    "output_2": "b" * int(len2[i]), "generator_2": "model", "preference": float(1 + p[i])}
                   for i in range(n)]
    return annotations, difficulty, gamed


def _write(path, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def _reference_lc(annotations, difficulty, gamed):
    """Independent fit of the same GLM: design matrices from the raw data, scipy for the penalised fit."""
    length = np.array([len(a["output_1"]) - len(a["output_2"]) for a in annotations], float)
    prefs = np.array([np.nan if a["preference"] is None else a["preference"] - 1 for a in annotations])
    x_model = np.column_stack([np.tanh(length / np.std(length, ddof=1)), difficulty, np.ones(len(annotations))])
    x_gamed = np.array([[np.tanh(float(g[3])), float(g[4]), 0.0] for g in gamed])
    x = np.vstack([x_gamed, x_model])
    target = np.r_[[float(g[2]) for g in gamed], prefs]
    weight = np.r_[np.full(len(gamed), 0.1), np.ones(len(annotations))]
    keep = ~np.isnan(target)
    x, target, weight = x[keep], target[keep], weight[keep]

    def solve(c, rows):  # min sum w * soft log loss + ||b||_1 / c (liblinear's objective / c), b = u - v, u, v >= 0
        k = x.shape[1]

        def objective(uv):
            b = uv[:k] - uv[k:]
            z = x[rows] @ b
            loss = -(weight[rows] * (target[rows] * log_expit(z) + (1 - target[rows]) * log_expit(-z))).sum()
            grad = x[rows].T @ (weight[rows] * (expit(z) - target[rows]))
            return loss + uv.sum() / c, np.r_[grad + 1 / c, -grad + 1 / c]

        uv = minimize(objective, np.zeros(2 * k), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * k),
                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000}).x
        return uv[:k] - uv[k:]

    m = len(target)
    rows = np.r_[np.arange(m), np.arange(m)]  # each row twice (win and loss), one group
    folds = GroupKFold(n_splits=5).split(np.zeros(2 * m), np.r_[np.ones(m), np.zeros(m)], rows)
    test_rows = [np.unique(test % m) for _, test in folds]
    cs = np.logspace(-4, 4, 10)
    scores = []
    for c in cs:
        total = 0.0
        for test in test_rows:
            b = solve(c, np.setdiff1d(np.arange(m), test))
            q = np.clip(expit(x[test] @ b), 1e-15, 1 - 1e-15)
            total += np.mean(weight[test] * (target[test] * np.log(q) + (1 - target[test]) * np.log(1 - q)))
        scores.append(total)
    best = cs[int(np.argmax(scores))]
    b = solve(best, np.arange(m))
    return 100 * expit(b[1] * difficulty + b[2]).mean(), b, best


@pytest.mark.parametrize("noise", [0.0, 1.5])
def test_lc_matches_an_independent_fit_of_the_same_glm(tmp_path, noise):
    annotations, difficulty, gamed = _world(tmp_path, noise=noise, seed=int(noise * 10))
    annotations[3]["preference"] = None  # excluded from the fit, still predicted
    metrics = winrate_metrics(annotations, read_lc_files(tmp_path))
    lc, coef, best = _reference_lc(annotations, difficulty, gamed)
    model = metrics["lc_model"]
    assert model["C"] == pytest.approx(best)
    assert np.allclose(list(model["weights"].values()), coef, atol=2e-3)
    assert metrics["length_controlled_winrate"] == pytest.approx(lc, abs=0.02)
    assert metrics["length_adjusted_win_rate"] is not None  # ours stays beside it, under its own name
    if noise == 0:  # soft labels drawn from the GLM itself: the fit recovers the truth
        assert np.allclose(coef, [-1.5, 0.9, -1.0], atol=0.01)
        assert metrics["length_controlled_winrate"] == pytest.approx(100 * expit(0.9 * difficulty - 1).mean(), abs=0.1)


def test_without_lc_files_nothing_is_called_lc(tmp_path, run_cli):
    annotations, _, _ = _world(tmp_path, n=40)
    metrics = winrate_metrics(annotations)
    assert "length_controlled_winrate" not in metrics
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(annotations))
    result = run_cli("evaluate", "winrate", "--annotations", path)
    assert result.code == 0, result.err
    assert "no AlpacaEval LC" in result.err and "length_controlled_winrate" not in result.out
    result = run_cli("evaluate", "winrate", "--annotations", path, "--lc-dir", tmp_path, "--out", tmp_path / "m.json")
    assert result.code == 0, result.err
    saved = json.loads((tmp_path / "m.json").read_text())
    assert json.loads(result.out)["length_controlled_winrate"] == saved["length_controlled_winrate"]
    assert "--lc-dir" in run_cli("evaluate", "winrate", "--help").out


def test_the_difficulty_file_is_checked_against_df_gamed(tmp_path):
    annotations, difficulty, _ = _world(tmp_path, n=30)
    _write(tmp_path / "instruction_difficulty.csv", [["index", "instruction_difficulty"],
                                                     *[[i, repr(float(d))] for i, d in enumerate(difficulty)]])
    assert read_lc_files(tmp_path).difficulty_file_max_abs_diff == 0.0
    _write(tmp_path / "instruction_difficulty.csv", [["index", "instruction_difficulty"], [0, 1.0]])
    with pytest.raises(ChaseError, match="has 1 instructions, df_gamed.csv has 30"):
        read_lc_files(tmp_path)


def _broken(tmp_path, line, column, value):
    _world(tmp_path, n=20)
    path = tmp_path / "df_gamed.csv"
    rows = list(csv.reader(path.open()))
    rows[line - 1][HEADER.index(column)] = value
    _write(path, rows)
    return path


@pytest.mark.parametrize("line, column, value, message", [
    (5, "preference", "high", "expected a number"),
    (7, "preference", "1.7", r"must lie in \[0, 1\]"),
    (3, "std_delta_len", "inf", "expected a finite number"),
    (9, "index", "2.5", "instruction index"),
    (4, "not_gamed_baseline", "maybe", "expected True or False"),
    (30, "instruction_difficulty", "9", "which line 10 gives as"),
])
def test_bad_gamed_cells_name_file_line_and_column(tmp_path, line, column, value, message):
    path = _broken(tmp_path, line, column, value)
    with pytest.raises(ChaseError, match=rf"^{path}:{line}: column '{column}': .*{message}") as caught:
        read_lc_files(tmp_path)
    assert "\n" not in str(caught.value)


def test_bad_folders_and_shapes_are_one_line_errors(tmp_path, run_cli):
    with pytest.raises(ChaseError, match="df_gamed.csv: not found; download 'df_gamed.csv' from the hub dataset "
                                         "tatsu-lab/alpaca_eval"):
        read_lc_files(tmp_path)
    _write(tmp_path / "df_gamed.csv", [["model", "index", "preference"], ["m", 0, 0.5]])
    with pytest.raises(ChaseError, match=r"df_gamed.csv:1: missing column\(s\) std_delta_len"):
        read_lc_files(tmp_path)
    _write(tmp_path / "df_gamed.csv", [HEADER, ["m", 0, 0.5, 0.1, 0.2]])
    with pytest.raises(ChaseError, match=r"df_gamed.csv:2: 5 fields where the header has 6"):
        read_lc_files(tmp_path)
    _write(tmp_path / "df_gamed.csv", [HEADER, ["m", 0, 0.5, 0.1, 0.2, "False"], ["m", 2, 0.5, 0.1, 0.3, "False"]])
    with pytest.raises(ChaseError, match=r"indices must run 0..2 .* index 1 has no row"):
        read_lc_files(tmp_path)
    annotations, _, _ = _world(tmp_path, n=20)
    with pytest.raises(ChaseError, match=r"one annotation per AlpacaEval instruction .*\(20 in .*\); got 19"):
        winrate_metrics(annotations[:19], read_lc_files(tmp_path))
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(annotations))
    result = run_cli("evaluate", "winrate", "--annotations", path, "--lc-dir", tmp_path / "absent")
    assert result.code == 2 and "no such folder" in result.err


def test_the_report_says_what_the_length_adjusted_win_rate_controls_for(tmp_path):
    from chasing_random.analysis.report import build_report
    from chasing_random.results import EvaluationRow, write_rows

    rng = np.random.default_rng(0)
    rows = []
    for strategy, seeds in (("random", (0, 1, 2)), ("longest", (None,))):
        for seed in seeds:
            common = {"pool": "p", "budget": 10, "strategy": strategy, "seed": seed, "benchmark": "alpaca_eval_pairwise",
                      "reference_value": 50.0}
            per_prompt = {f"q{i}": float(rng.random()) for i in range(20)}
            rows += [EvaluationRow(**common, metric="win_rate", value=100 * np.mean(list(per_prompt.values())),
                                   per_prompt=per_prompt),
                     EvaluationRow(**common, metric="length_adjusted_win_rate", value=float(rng.normal(40, 3)))]
    write_rows(tmp_path / "results" / "evaluations.jsonl", rows)
    report = build_report(tmp_path, resamples=100, figures=False)
    text = report.markdown.read_text()
    assert "p / 10 / alpaca_eval_pairwise / length_adjusted_win_rate" in text
    assert "not AlpacaEval's length-controlled win rate" in text and "--lc-dir" in text
    setting = next(r for r in report.settings if r.setting.metric == "length_adjusted_win_rate")
    assert not setting.setting.primary and setting.strategies[0].comparison.baseline == "random seeds"
    win_rates = [r.value for r in rows if r.strategy == "random" and r.metric == "win_rate"]
    assert f"{np.mean(win_rates):.1f}% (seeds" in text and "3 runs)" in text and "6 runs)" not in text


def test_lc_bootstrap_se_matches_the_spread_over_samples(tmp_path):
    """12 independent samples of 150 instructions (difficulties, lengths and judge noise drawn afresh) from
    one GLM: the SD of their LC win rates is what a standard error should estimate; AlpacaEval's
    lc_standard_error (SEM of the predictions) understates it."""
    lcs, boot, sem = [], [], []
    for rep in range(12):
        folder = tmp_path / str(rep)
        folder.mkdir()
        annotations, _, _ = _world(folder, n=150, noise=1.5, seed=100 + rep)
        metrics = winrate_metrics(annotations, read_lc_files(folder))
        lcs.append(metrics["length_controlled_winrate"])
        boot.append(metrics["lc_bootstrap_se"])
        sem.append(metrics["lc_standard_error"])
    spread = np.std(lcs, ddof=1)
    assert 0.6 * spread < np.mean(boot) < 1.6 * spread, (np.mean(boot), spread)
    assert np.mean(sem) < 0.7 * np.mean(boot)


def test_the_baseline_against_itself_is_50_and_missing_generators_are_not_the_baseline(tmp_path):
    annotations, _, _ = _world(tmp_path, n=30)
    files = read_lc_files(tmp_path)
    same = [{**a, "generator_2": "base"} for a in annotations]
    assert winrate_metrics(same, files)["length_controlled_winrate"] == pytest.approx(50.0)
    anonymous = [{k: v for k, v in a.items() if not k.startswith("generator")} for a in annotations]
    assert winrate_metrics(anonymous, files)["length_controlled_winrate"] == pytest.approx(
        winrate_metrics(annotations, files)["length_controlled_winrate"])
