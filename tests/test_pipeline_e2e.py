"""The runner end to end on a tiny grid: every stage runs, an interruption resumes, the report is written."""

from __future__ import annotations

import json

import pytest

from chasing_random.config import ExperimentConfig
from chasing_random.pipeline import runner
from chasing_random.pipeline.plan import expand


@pytest.fixture
def tiny_config(tiny_lm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative run folder, like the demo's default runs/demo
    return ExperimentConfig.model_validate({
        "name": "tiny",
        "run_dir": "run",
        "pools": [{"name": "audit", "source": "synth", "n": 80, "corrupt": 0.3}],
        "budgets": [12],
        "seeds": {"random": [0, 1, 2]},
        "strategies": [{"name": "longest"}],
        "training": {"base_model": tiny_lm, "preset": "cpu-lora", "overrides": {"max_steps": 2, "max_length": 64}},
        "generation": {"max_new_tokens": 4, "batch_size": 4},
        "benchmarks": [{"name": "synth_heldout", "limit": 3, "max_new_tokens": 4},
                       {"name": "alpaca_eval_pairwise", "limit": 2, "max_new_tokens": 4}],
        "judge": {"spec": f"local:{tiny_lm}"},
    })


@pytest.mark.slow
def test_run_interrupt_resume_and_report(tiny_config, monkeypatch):
    plan = expand(tiny_config)
    calls: list[str] = []
    real_run_stage = runner.run_stage

    def interrupted(stage, store, config):
        if len(calls) == 7:
            raise KeyboardInterrupt
        calls.append(stage.key)
        return real_run_stage(stage, store, config)

    monkeypatch.setattr(runner, "run_stage", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(tiny_config)
    first = list(calls)
    calls.clear()
    monkeypatch.setattr(runner, "run_stage", lambda s, st, c: (calls.append(s.key), real_run_stage(s, st, c))[1])
    paths = runner.run_experiment(tiny_config)
    assert not set(first) & set(calls), "finished stages ran again"
    assert len(first) + len(calls) == len(plan.stages)

    calls.clear()
    runner.run_experiment(tiny_config)
    assert calls == [], "a warm store must run nothing"

    rows = [json.loads(line) for line in (paths.run_dir / "results" / "evaluations.jsonl").read_text().splitlines()]
    assert {(r["strategy"], r["benchmark"]) for r in rows} >= {("random", "synth_heldout"), ("longest", "synth_heldout"),
                                                               ("longest", "alpaca_eval_pairwise")}
    assert all(len(r["per_prompt"]) == (3 if r["benchmark"] == "synth_heldout" else 2) for r in rows
               if r["metric"] != "length_adjusted_win_rate")  # a refit on all prompts: no per-prompt scores
    from chasing_random.analysis.report import build_report

    report = build_report(paths.run_dir, resamples=200)
    assert report.html.exists() and "longest" in report.html.read_text()
