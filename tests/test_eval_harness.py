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
