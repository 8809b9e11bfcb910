"""Faults mid-run: a judge endpoint that dies and comes back; the dry-run estimate against measured stage costs."""

from __future__ import annotations

import json

import pytest

from chasing_random.data.pool import build_pool
from judge_server import JudgeServer

KEY = "sk-test-fault-0123456789abcdef"
ENV = "CHASE_TEST_FAULT_KEY"


def test_judge_killed_mid_run_then_back_reasks_only_failed_rows(tmp_path, monkeypatch, run_cli):
    monkeypatch.setenv(ENV, KEY)
    rows = [{"instruction": f"Fault question {i}", "output": f"Answer {i}."} for i in range(10)]
    (tmp_path / "src.json").write_text(json.dumps(rows))
    pool = tmp_path / "pool.parquet"
    build_pool("alpaca", str(tmp_path / "src.json"), pool)
    store = tmp_path / "store"

    def options(server) -> list[str]:
        items = [f"base_url={server.base_url}", f"api_key_env={ENV}", "max_concurrency=1", "max_retries=1",
                 "retry_base_delay=0.001", "timeout=2"]
        return [part for item in items for part in ("--judge-option", item)]

    dying = JudgeServer(kill_after=4).__enter__()
    port = dying.httpd.server_address[1]
    try:
        first = run_cli("score", "judge", "--pool", pool, "--judge", "openai:judge-model", "--store", store,
                        "--max-failure-rate", "1", *options(dying))
    finally:
        dying.__exit__(None, None, None)
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    assert summary["failed"] == 6 and sum(dying.calls.values()) == 4  # 4 answered, then the endpoint was gone
    answered = set(dying.calls)

    with JudgeServer(port=port) as back:  # the same endpoint, up again
        again = run_cli("select", "--pool", pool, "--strategy", "alpagasus", "--judge", "openai:judge-model",
                        "--budgets", "5", "--out", tmp_path / "sel", "--store", store, "--threshold", "0",
                        *options(back))
        assert again.code == 0, again.err
        assert "retrying 6 stored failed row(s)" in " ".join(again.err.split())
        assert len(back.calls) == 6 and set(back.calls.values()) == {1}  # each failed row asked once
        assert not set(back.calls) & answered  # answered rows came from the response cache
        manifest = json.loads((tmp_path / "sel" / "pool_alpagasus.manifest.json").read_text())
        assert manifest["excluded"] == {} and manifest["ranked"] == 10
        calls = sum(back.calls.values())
        done = run_cli("score", "judge", "--pool", pool, "--judge", "openai:judge-model", "--store", store,
                       *options(back))
        assert json.loads(done.out)["reused"] is True and json.loads(done.out)["failed"] == 0
        assert sum(back.calls.values()) == calls  # nothing left to ask


@pytest.mark.slow
def test_dry_run_estimate_is_within_3x_of_measured_stage_costs(tiny_lm, tmp_path, monkeypatch):
    """The dry run's estimate of a tiny grid (one pool, two strategies, training, generation, evaluation)
    against the wall time every stage records when it runs; imports are warmed first (a one-off cost)."""
    import peft  # noqa: F401
    import trl  # noqa: F401

    from chasing_random.config import ExperimentConfig
    from chasing_random.pipeline import runner
    from chasing_random.pipeline.plan import expand

    monkeypatch.chdir(tmp_path)
    config = ExperimentConfig.model_validate({
        "name": "estimate", "run_dir": "run",
        "pools": [{"name": "audit", "source": "synth", "n": 80, "corrupt": 0.3}],
        "budgets": [12], "seeds": {"random": [0]}, "strategies": [{"name": "longest"}],
        "training": {"base_model": tiny_lm, "preset": "cpu-lora", "overrides": {"max_steps": 2, "max_length": 64}},
        "generation": {"max_new_tokens": 4, "batch_size": 4},
        "benchmarks": [{"name": "synth_heldout", "limit": 3, "max_new_tokens": 4}],
        "judge": {"spec": f"local:{tiny_lm}"}})
    plan = expand(config)
    paths = runner.run_experiment(config)
    estimated = sum(stage.estimate_device_hours for stage in plan.stages) * 3600
    measured = sum(stage.record(paths.store)["wall_time_s"] for stage in plan.stages)
    print(f"tiny grid: estimated {estimated:.1f} s, measured {measured:.1f} s ({estimated / measured:.2f}x)")
    assert measured / 3 <= estimated <= measured * 3
