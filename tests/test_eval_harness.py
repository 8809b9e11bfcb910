"""lm-eval through its Python API: the local MMLU task on a tiny model, task expansion, offline failures."""

from __future__ import annotations

import json

import pytest

from chasing_random.errors import ChaseError
from chasing_random.evaluation.harness import (
    OPENLLM,
    expand_tasks,
    load_tasks,
)


def test_openllm_expands_to_the_study_suite():
    assert expand_tasks("openllm") == list(OPENLLM)
    assert expand_tasks("mmlu_local, openllm,arc_easy") == ["mmlu_local", *OPENLLM]
    with pytest.raises(ChaseError, match="no task"):
        expand_tasks(" , ")


def test_local_mmlu_on_tiny_model(tiny_lm, tmp_path, run_cli):
    out = tmp_path / "harness" / "METRICS.json"
    result = run_cli("evaluate", "harness", "--model", tiny_lm, "--tasks", "mmlu_local", "--limit", "6",
                     "--batch-size", "6", "--out", out)
    assert result.code == 0, result.err
    metrics = json.loads(out.read_text())
    task = metrics["tasks"]["mmlu_local"]
    assert task["n_samples"] == 6
    assert round(task["acc"] * 6) == pytest.approx(task["acc"] * 6)  # a count of correct answers out of 6
    assert metrics["mean_acc"] == task["acc"]
    assert json.loads(result.out)["mean_acc"] == task["acc"]
    assert (tmp_path / "harness" / "METRICS.json.manifest.json").exists()


def test_local_mmlu_uses_lm_evals_prompt_and_gold_answer():
    task = load_tasks(["mmlu_local"]).load("mmlu_local")["tasks"]["mmlu_local"]
    doc = next(iter(task.test_docs()))
    text = task.doc_to_text(doc)
    assert text.endswith("\nAnswer:") and "\nA. " in text and "\nD. " in text
    assert task.doc_to_target(doc) == "ABCD".index(doc["correct_answer"])
    assert len(task.test_docs()) == 14044


def test_hub_task_offline_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ChaseError, match="unknown lm-eval task.*no_such_task"):
        load_tasks(["mmlu_local", "no_such_task"])
    with pytest.raises(ChaseError, match="arc_easy.*could not load its data.*Offline, use the local tasks: mmlu_local"):
        load_tasks(["arc_easy"])


def test_study_and_leaderboard_suites_expand_with_their_shots_and_metrics():
    from chasing_random.evaluation.harness import SuiteTask, expand_suite

    study = expand_suite("openllm-study")
    assert [e.task for e in study] == ["arc_challenge", "hellaswag", "arc_easy", "truthfulqa_mc1", "truthfulqa_mc2",
                                       "winogrande", "mmlu"]
    assert all(e.num_fewshot is None and e.key == "acc,none" for e in study)
    board = {e.task: (e.num_fewshot, e.key) for e in expand_suite("openllm-leaderboard")}
    assert board == {"arc_challenge": (25, "acc_norm,none"), "hellaswag": (10, "acc_norm,none"), "mmlu": (5, "acc,none"),
                     "truthfulqa_mc2": (0, "acc,none"), "winogrande": (5, "acc,none"),
                     "gsm8k": (5, "exact_match,strict-match")}
    assert expand_suite("mmlu_local", num_fewshot=3) == [SuiteTask("mmlu_local", 3)]
    with pytest.raises(ChaseError, match="'arc_challenge' is asked twice with different settings"):
        expand_suite("openllm-study,openllm-leaderboard")


def _sample(doc_id, **metrics):
    return {"doc_id": doc_id, "filter": metrics.pop("filter", "none"), **metrics}


def test_suite_scores_read_the_right_metric_and_weight_items_to_the_unweighted_mean():
    from chasing_random.evaluation.harness import SuiteTask, per_prompt_scores, suite_scores

    results = {  # the shape of lm-eval's results: a group with two leaves, a task with two filters
        "results": {"grp": {"acc,none": 0.6}, "leaf_a": {"acc,none": 0.5}, "leaf_b": {"acc,none": 2 / 3},
                    "gen": {"exact_match,strict-match": 0.0, "exact_match,flexible-extract": 1.0},
                    "mc": {"acc,none": 0.0, "acc_norm,none": 1.0, "acc_norm_stderr,none": 0.1}},
        "group_subtasks": {"grp": ["leaf_a", "leaf_b"]},
        "samples": {"leaf_a": [_sample(0, acc=1.0), _sample(1, acc=0.0)],
                    "leaf_b": [_sample(0, acc=1.0), _sample(1, acc=1.0), _sample(2, acc=0.0)],
                    "gen": [_sample(0, exact_match=0.0, filter="strict-match"),
                            _sample(0, exact_match=1.0, filter="flexible-extract")],
                    "mc": [_sample(0, acc=0.0, acc_norm=1.0)]},
        "n-samples": {"leaf_a": {"effective": 2}, "leaf_b": {"effective": 3}, "gen": {"effective": 1}},
    }
    for entries, mean in (([SuiteTask("grp"), SuiteTask("gen", 5, "exact_match", "strict-match"),
                            SuiteTask("mc", 0, "acc_norm")], (0.6 + 0.0 + 1.0) / 3),
                          ([SuiteTask("grp", subtask_mean=True)], (0.5 + 2 / 3) / 2)):
        per_task, items = suite_scores(results, entries)
        values = [t["value"] for t in per_task.values()]
        assert sum(values) / len(values) == pytest.approx(mean)
        assert sum(i["score"] * i["weight"] for i in items) == pytest.approx(mean)
        scores = per_prompt_scores(items)
        assert sum(scores.values()) / len(scores) == pytest.approx(mean)
    assert per_task["grp"]["n_samples"] == 5 and len(items) == 5
    with pytest.raises(ChaseError, match="no 'acc_norm,none' for task 'grp'"):
        suite_scores(results, [SuiteTask("grp", metric="acc_norm")])


def test_a_suite_of_local_tasks_at_two_shot_counts_runs_offline(tiny_lm, tmp_path, monkeypatch):
    """Two shot groups, two lm-eval runs on one loaded model, merged and averaged unweighted."""
    from chasing_random.evaluation import harness

    configs = harness.local_task_configs()
    second = dict(configs["mmlu_local"], task="mmlu_local_copy")
    monkeypatch.setattr(harness, "local_task_configs", lambda: {**configs, "mmlu_local_copy": second})
    monkeypatch.setitem(harness.SUITES, "local-pair", (harness.SuiteTask("mmlu_local", 0),
                                                       harness.SuiteTask("mmlu_local_copy", 1)))
    harness.task_manager.cache_clear()
    monkeypatch.setenv("CHASE_HOME", str(tmp_path / "home"))
    try:
        metrics = harness.run_harness(tiny_lm, "local-pair", 4, tmp_path / "METRICS.json", batch_size=4)
    finally:
        harness.task_manager.cache_clear()
    tasks = metrics["tasks"]
    assert (tasks["mmlu_local"]["num_fewshot"], tasks["mmlu_local_copy"]["num_fewshot"]) == (0, 1)
    assert metrics["mean_acc"] == pytest.approx((tasks["mmlu_local"]["acc"] + tasks["mmlu_local_copy"]["acc"]) / 2)
    items = [json.loads(line) for line in harness.per_item_path(tmp_path / "METRICS.json").read_text().splitlines()]
    assert len(items) == 8 and {i["task"] for i in items} == {"mmlu_local", "mmlu_local_copy"}
    assert sum(i["score"] * i["weight"] for i in items) == pytest.approx(metrics["mean_acc"])
