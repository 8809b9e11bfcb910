"""The runner-to-report contract: a tiny grid whose AlpaGasus judge and pairwise judge are an
OpenAI-compatible server on 127.0.0.1 runs with the runner, and ``chase report`` prices its tokens
by model and direction from the experiment's prices."""

from __future__ import annotations

import csv
import json

import pytest
from judge_server import JudgeServer

from chasing_random.config import ExperimentConfig
from chasing_random.pipeline import runner

KEY_ENV = "CHASE_CONTRACT_TEST_KEY"
PRICE_IN, PRICE_OUT = 1000.0, 2000.0  # USD per million tokens, large enough to read in the report


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "not-a-secret")
    with JudgeServer() as running:
        yield running


def test_endpoint_judged_grid_runs_and_the_report_prices_its_tokens(tiny_lm, tmp_path, server, run_cli):
    # The experiment's judge options (base_url, key variable, concurrency) must reach the AlpaGasus
    # judge and the pairwise judge: without base_url neither could reach the server at all.
    config = ExperimentConfig.model_validate({
        "name": "contract", "run_dir": str(tmp_path / "run"),
        "pools": [{"name": "audit", "source": "synth", "n": 40, "corrupt": 0.3}],
        "budgets": [8], "seeds": {"random": [0, 1]},
        "strategies": [{"name": "alpagasus"}],
        "training": {"base_model": tiny_lm, "preset": "cpu-lora", "overrides": {"max_steps": 1, "max_length": 64}},
        "generation": {"max_new_tokens": 2, "batch_size": 4},
        "benchmarks": [{"name": "alpaca_eval_pairwise", "limit": 2, "max_new_tokens": 2, "both_orders": True}],
        "judge": {"spec": "openai:judge-model",
                  "options": {"base_url": server.base_url, "api_key_env": KEY_ENV, "max_concurrency": 2,
                              "retry_base_delay": 0.001}},
        "prices": {"api_per_million_tokens": {"judge-model": {"input": PRICE_IN, "output": PRICE_OUT}}},
    })
    paths = runner.run_experiment(config)
    assert (paths.run_dir / "run.log").exists()  # third-party output went to the run's log

    # the server bills 10 input and 2 output tokens per call it answers
    rated = sum(n for prompt, n in server.calls.items() if "Please rate" in prompt)
    compared = sum(n for prompt, n in server.calls.items() if "Which answer is better?" in prompt)
    assert rated == 40 and compared >= 1  # AlpaGasus rates each pool row once

    costs = [json.loads(line) for line in (paths.run_dir / "results" / "costs.jsonl").read_text().splitlines()]
    assert {c["stage"] for c in costs} == {"selection", "training", "generation", "evaluation"}
    selection = [c for c in costs if c["stage"] == "selection" and c["strategy"] == "alpagasus"]
    assert [c["api_tokens"] for c in selection] == [{"judge-model": {"input": 400, "output": 80}}]
    pairwise = [c["api_tokens"].get("judge-model", {"input": 0, "output": 0}) for c in costs
                if c["stage"] == "evaluation"]
    assert (sum(t["input"] for t in pairwise), sum(t["output"] for t in pairwise)) == (10 * compared, 2 * compared)
    evaluations = [json.loads(line) for line in (paths.run_dir / "results" / "evaluations.jsonl").read_text().splitlines()]
    assert {(e["benchmark"], e["unit"], e["higher_is_better"]) for e in evaluations} == {
        ("alpaca_eval_pairwise", "percent", True)}
    # both shown orders: the judge's position bias travels from the pairwise stage into the win-rate rows
    win_rates = [e for e in evaluations if e["metric"] == "win_rate"]
    assert win_rates and all(e["judge_order"]["prompts"] >= 1 and 0 <= e["judge_order"]["flip_rate"] <= 1
                             for e in win_rates)
    assert {e["metric"] for e in evaluations} <= {"win_rate", "length_adjusted_win_rate"}
    # every judge of the run writes the store's response cache: the pairwise verdicts are there too
    from chasing_random.judges.cache import ResponseCache

    assert len(ResponseCache(paths.store.root / "judge-responses")) > 40

    result = run_cli("report", paths.run_dir, "--resamples", "100")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(open(paths.run_dir / "results.csv", newline="")))
    priced = {float(r["selection_cost_usd"]) for r in rows if r["strategy"] == "alpagasus"}
    assert priced == {round((400 * PRICE_IN + 80 * PRICE_OUT) / 1e6, 6)}  # $0.56
    assert "| alpagasus | 8 | 0.0000 | 480 | $0.5600 |" in (paths.run_dir / "report.md").read_text()
    # the win rate is read against the random seeds judged against each other, not against 50
    assert {r["baseline"] for r in rows if r["strategy"] == "alpagasus"} == {"random seeds"}
    assert "the random-vs-random null and position bias" in (paths.run_dir / "report.md").read_text()
