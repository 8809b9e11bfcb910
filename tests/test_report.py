"""chase report on synthetic run folders: verdicts, costs, corruption rates, self-contained HTML, determinism."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from chasing_random.analysis.report import build_report
from chasing_random.data.pool import read_pool
from chasing_random.data.synth import write_synth_pool
from chasing_random.errors import ChaseError

PROMPTS = 300
RATES = {"good": 0.85, "bad": 0.15, "same": 0.5, "strictrandom": 0.5}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def make_run(root: Path, *, with_full_training: bool = True) -> Path:
    """A run folder as the runner writes it: 3 random seeds, a clearly better, a clearly worse and an
    indistinguishable strategy, strictrandom and full, on an exact-match and a pairwise benchmark."""
    rng = np.random.default_rng(7)
    run = root / "run"
    write_synth_pool(300, 0.3, 0, run / "pool.parquet")
    frame = read_pool(run / "pool.parquet")
    labels = [json.loads(m)["corruption"] for m in frame["meta"]]
    ids = list(frame["id"])
    evaluations, subsets = [], []
    random_scores = {seed: rng.random(PROMPTS) < 0.5 for seed in (0, 1, 2)}
    models = [("random", seed, 50) for seed in (0, 1, 2)] + [(s, None, 50) for s in RATES] + [("full", None, None)]
    for strategy, seed, budget in models:
        rate = RATES.get(strategy, 0.5)
        exact = random_scores[seed] if strategy == "random" else rng.random(PROMPTS) < rate
        evaluations.append({"pool": "synth", "budget": budget, "strategy": strategy, "seed": seed,
                            "benchmark": "synth_heldout", "metric": "exact_match", "value": float(exact.mean()),
                            "per_prompt": {f"q{i}": float(v) for i, v in enumerate(exact)}})
        if strategy != "random":
            pref = rng.random(200) < rate
            evaluations.append({"pool": "synth", "budget": budget, "strategy": strategy, "seed": seed,
                                "benchmark": "alpaca_eval_pairwise", "metric": "win_rate",
                                "value": float(pref.mean() * 100), "reference_value": 50.0,
                                "per_prompt": {f"a{i}": float(v) for i, v in enumerate(pref)}})
        if budget is not None:
            if strategy == "good":
                chosen = [i for i, label in zip(ids, labels) if label == "none"][:budget]
            elif strategy == "bad":
                chosen = [i for i, label in zip(ids, labels) if label == "long_wrong_answer"] + ids
                chosen = list(dict.fromkeys(chosen))[:budget]
            else:
                chosen = list(np.random.default_rng(seed or 0).permutation(ids)[:budget])
            name = f"subsets/{strategy}-{seed}.jsonl"
            _jsonl(run / name, [{"id": i} for i in chosen])
            subsets.append({"pool": "synth", "strategy": strategy, "budget": budget, "seed": seed, "ids_path": name,
                            "pool_path": "pool.parquet"})
    costs = [
        {"pool": "synth", "strategy": "good", "budget": None, "seed": None, "stage": "selection", "device": "cpu",
         "device_hours": 0.0, "api_tokens": {"gpt-4o": {"input": 1_000_000, "output": 1_000_000}}, "wall_time_s": 10},
        {"pool": "synth", "strategy": "bad", "budget": None, "seed": None, "stage": "selection", "device": "cpu",
         "device_hours": 10.0, "api_tokens": {}, "wall_time_s": 36000},
        *[{"pool": "synth", "strategy": "random", "budget": 50, "seed": s, "stage": "training", "device": "cpu",
           "device_hours": 0.5, "api_tokens": {}, "wall_time_s": 1800} for s in (0, 1, 2)],
    ]
    if with_full_training:
        costs.append({"pool": "synth", "strategy": "full", "budget": None, "seed": None, "stage": "training",
                      "device": "cpu", "device_hours": 2.0, "api_tokens": {}, "wall_time_s": 7200})
    _jsonl(run / "results" / "evaluations.jsonl", evaluations)
    _jsonl(run / "results" / "costs.jsonl", costs)
    _jsonl(run / "results" / "subsets.jsonl", subsets)
    (run / "config.json").write_text(json.dumps({"name": "t", "prices": {"device_hour": {"cpu": 0.2},
                                                 "api_per_million_tokens": {"gpt-4o": {"input": 2.0, "output": 8.0}}}}))
    return run


def _verdicts(report) -> dict[tuple[str, str], str]:
    return {(r.setting.benchmark, s.strategy): s.comparison.verdict for r in report.settings for s in r.strategies}


def test_verdicts_costs_and_corruption(tmp_path):
    run = make_run(tmp_path)
    report = build_report(run, resamples=500)
    verdicts = _verdicts(report)
    for benchmark in ("synth_heldout", "alpaca_eval_pairwise"):
        assert verdicts[(benchmark, "good")] == "better"
        assert verdicts[(benchmark, "bad")] == "worse"
        assert verdicts[(benchmark, "same")] == "indistinguishable"
    heldout = next(r for r in report.settings if r.setting.benchmark == "synth_heldout")
    assert len(heldout.random_values) == 3 and heldout.random_std > 0
    good = next(s for s in heldout.strategies if s.strategy == "good").comparison
    assert good.paired and good.prompts == PROMPTS and good.ci_low < good.difference < good.ci_high
    assert good.percentile == 100.0
    pairwise = next(r for r in report.settings if r.setting.benchmark == "alpaca_eval_pairwise")
    win = next(s for s in pairwise.strategies if s.strategy == "good")
    assert win.comparison.baseline == "reference 50" and win.comparison.difference == pytest.approx(win.value - 50)
    assert 20 < win.comparison.ci_low < win.comparison.ci_high < 50  # percent units
    assert report.generalisation.counts["good"] == {"better": 2, "indistinguishable": 0, "worse": 0}
    assert dict(report.generalisation.best)["synth / 50 / synth_heldout / exact_match"] == "good"

    rows = {(r["benchmark"], r["strategy"], r["seed"]): r for r in _csv(report.csv)}
    assert float(rows[("synth_heldout", "good", "")]["selection_cost_usd"]) == pytest.approx(10.0)  # 1M in x $2 + 1M out x $8
    assert float(rows[("synth_heldout", "bad", "")]["selection_cost_usd"]) == pytest.approx(2.0)  # 10 h x $0.2
    assert float(rows[("synth_heldout", "full", "")]["selection_cost_usd"]) == pytest.approx(0.4)  # measured
    assert {rows[("synth_heldout", "random", s)]["seed"] for s in ("0", "1", "2")} == {"0", "1", "2"}
    markdown = report.markdown.read_text()
    assert "fine-tuning on the full pool costs $0.4000 (measured)" in markdown
    good_row = next(line for line in markdown.splitlines() if line.startswith("| synth | good | 50 |  | 50 |"))
    assert good_row.endswith("| 100.0% | 0.0% | 0.0% | 0.0% | 0.0% | 0.0% | 0.0% |")
    bad_row = next(line for line in markdown.splitlines() if line.startswith("| synth | bad | 50 |  | 50 |"))
    assert bad_row.split(" | ")[9] == "36.0%"  # all 300 x 0.3 / 5 = 18 long wrong answers of the pool, of 50


def _csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_full_cost_is_extrapolated_when_not_measured(tmp_path):
    run = make_run(tmp_path, with_full_training=False)
    report = build_report(run, resamples=200)
    # 0.5 h x $0.2 per 50 examples = $0.002 per example, x 300 pool rows
    assert "$0.6000 (extrapolated" in report.markdown.read_text()


def test_html_is_self_contained_and_results_csv_is_deterministic(tmp_path):
    run = make_run(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    first, second = build_report(run, resamples=300), build_report(copy, resamples=300)
    assert first.csv.read_bytes() == second.csv.read_bytes()
    page = first.html.read_text()
    assert page.count('src="data:image/png;base64,') == len(first.figures) >= 1
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "<link" not in page and "<script" not in page
    assert all(f.exists() and f.read_bytes()[:4] == b"\x89PNG" for f in first.figures)
    assert "figures/figure1_synth_50.png" in first.markdown.read_text()


def test_cli_prints_the_generalisation_table_and_the_report_path(tmp_path, run_cli):
    run = make_run(tmp_path)
    result = run_cli("report", run, "--resamples", "200")
    assert result.code == 0, result.err
    assert "report.html" in result.out and "generalisation" in result.out
    assert re.search(r"good\s+│\s+2\s+│\s+0\s+│\s+0", result.out)


def test_bad_rows_and_unpriced_devices_are_located_errors(tmp_path, run_cli):
    run = make_run(tmp_path)
    evaluations = run / "results" / "evaluations.jsonl"
    lines = evaluations.read_text().splitlines()
    lines[2] = json.dumps({**json.loads(lines[2]), "value": "high"})
    evaluations.write_text("\n".join(lines) + "\n")
    result = run_cli("report", run)
    assert result.code == 2 and "evaluations.jsonl:3" in result.err and "value" in result.err

    run = make_run(tmp_path / "second")
    costs = run / "results" / "costs.jsonl"
    costs.write_text(costs.read_text() + json.dumps({"pool": "synth", "strategy": "x", "stage": "selection",
                                                     "device": "TPU", "device_hours": 1.0}) + "\n")
    with pytest.raises(ChaseError, match="costs.jsonl:7.*device 'TPU'"):
        build_report(run, resamples=100)
    assert run_cli("report", tmp_path / "nowhere").code == 2


def test_unpriced_api_models_and_old_token_shapes_say_what_to_do(tmp_path):
    run = make_run(tmp_path)
    costs = run / "results" / "costs.jsonl"
    base = costs.read_text()
    costs.write_text(base + json.dumps({"pool": "synth", "strategy": "x", "stage": "evaluation",
                                        "api_tokens": {"my-judge": {"input": 10, "output": 2}}}) + "\n")
    with pytest.raises(ChaseError, match=r"costs.jsonl:7.*'my-judge' has no price: set "
                                         r"prices.api_per_million_tokens.my-judge"):
        build_report(run, resamples=100)
    # the shape an older runner wrote: token counts without the model's name
    costs.write_text(base + json.dumps({"pool": "synth", "strategy": "x", "stage": "selection",
                                        "api_tokens": {"prompt": 10, "completion": 2}}) + "\n")
    with pytest.raises(ChaseError, match=r"costs.jsonl:7: field 'api_tokens'.*without the API model's name.*chase run"):
        build_report(run, resamples=100)
