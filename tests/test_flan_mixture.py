"""The FLAN mixture builder on a fixture collection: per-task caps, seeded templates and rows, t0 rule."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from chasing_random.data.flan_mixture import MixtureOptions, build_flan_mixture


def collection(tmp_path, *, shuffle_seed=None, task_field="_task_name"):
    """Three tasks (one a t0 task) x three templates x two template types, in the hub's export layout."""
    import random

    rows = []
    for task, n in (("cot_gsm8k", 30), ("niv2_task001", 12), ("t0_adversarial_qa", 9)):
        for template in range(3):
            for kind in ("zs_opt", "fs_opt"):
                for i in range(n):
                    rows.append({task_field: task, "_template_idx": template, "_template_type": kind,
                                 "_task_source": "Flan2022", "inputs": f"{task} t{template} {kind} question {i}",
                                 "targets": f"answer {i}"})
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    path = tmp_path / f"flan_{shuffle_seed}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mixture(path, **kw):
    records, report, rejections, _ = build_flan_mixture(str(path), MixtureOptions(**kw))
    return list(records), report


def test_caps_templates_and_t0_rule(tmp_path):
    records, report = mixture(collection(tmp_path), per_task=10, seed=3)
    tasks = {}
    for r in records:
        tasks.setdefault(r.meta["task"], set()).add((r.meta["template"], r.meta["template_type"]))
    assert set(tasks) == {"cot_gsm8k", "niv2_task001"}  # t0 excluded, as the study
    assert all(len(kinds) == 1 and next(iter(kinds))[1] == "zs_opt" for kinds in tasks.values())
    counts = {t: sum(r.meta["task"] == t for r in records) for t in tasks}
    assert counts == {"cot_gsm8k": 10, "niv2_task001": 10}
    assert report.reconciles and report.read == 2 * 3 * (30 + 12 + 9) * 1
    assert report.dropped["t0 task"] == 9 * 3 * 2
    assert report.dropped["template type"] == (30 + 12) * 3


def test_same_mixture_whatever_the_source_order(tmp_path):
    a, _ = mixture(collection(tmp_path), per_task=7, seed=5)
    b, report = mixture(collection(tmp_path, shuffle_seed=1), per_task=7, seed=5)
    assert sorted(r.id for r in a) == sorted(r.id for r in b)
    assert report.reconciles
    c, _ = mixture(collection(tmp_path), per_task=7, seed=6)
    assert sorted(r.id for r in a) != sorted(r.id for r in c)


def test_templates_are_drawn_per_task(tmp_path):
    chosen = set()
    for seed in range(12):
        records, _ = mixture(collection(tmp_path), per_task=5, seed=seed)
        chosen.add(next(r.meta["template"] for r in records if r.meta["task"] == "cot_gsm8k"))
    assert chosen == {0, 1, 2}


def test_first_rows_include_t0_and_weights(tmp_path):
    records, report = mixture(collection(tmp_path), per_task=4, rows="first", exclude_t0=False,
                              template_types=("zs_opt", "fs_opt"), weights={"niv2_task001": 0, "cot_gsm8k": 6})
    counts = {}
    for r in records:
        counts[r.meta["task"]] = counts.get(r.meta["task"], 0) + 1
    assert counts == {"cot_gsm8k": 6, "t0_adversarial_qa": 4}
    firsts = [r.input for r in records if r.meta["task"] == "t0_adversarial_qa"]
    assert all(text.endswith(("question 0", "question 1", "question 2", "question 3")) for text in firsts)
    assert report.reconciles and report.dropped["weight 0"] == 12 * 6


def test_share_weights_need_total(tmp_path):
    from chasing_random.errors import ChaseError

    with pytest.raises(ChaseError, match="--total"):
        mixture(collection(tmp_path), weights={"cot_gsm8k": 0.5})
    records, _ = mixture(collection(tmp_path), weights={"cot_gsm8k": 0.25}, total=20, per_task=3)
    assert sum(r.meta["task"] == "cot_gsm8k" for r in records) == 5


def test_source_without_task_names_is_an_error(tmp_path):
    path = collection(tmp_path, task_field="name")
    from chasing_random.errors import ChaseError

    with pytest.raises(ChaseError, match="_task_name.*task name"):
        mixture(path)


def test_cli_builds_a_reproducible_pool_with_task_counts(tmp_path, run_cli):
    source = collection(tmp_path)
    weights = tmp_path / "weights.yaml"
    weights.write_text("cot_gsm8k: 8\n", encoding="utf-8")
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.parquet"
        result = run_cli("pool", "build", "flan-mixture", source, "--per-task", "5", "--weights", weights,
                         "--seed", "2", "--out", out)
        assert result.code == 0, result.err
        assert "reconciles" in result.err
        outs.append(out)
    assert pq.read_table(outs[0]).equals(pq.read_table(outs[1]))
    info = run_cli("pool", "info", outs[0])
    assert json.loads(info.out)["tasks"] == {"cot_gsm8k": 8, "niv2_task001": 5}
    manifest = json.loads(outs[0].with_name("a.parquet.manifest.json").read_text())
    assert manifest["counts"]["reconciles"] and manifest["config"]["per_task"] == 5


def test_a_folder_of_files_is_one_collection(tmp_path):
    folder = tmp_path / "collection"
    folder.mkdir()
    path = collection(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    (folder / "part-0.jsonl").write_text("".join(lines[: len(lines) // 2]))
    (folder / "part-1.jsonl").write_text("".join(lines[len(lines) // 2:]))
    a, _ = mixture(path, per_task=6, seed=1)
    b, _ = mixture(folder, per_task=6, seed=1)
    assert [r.id for r in a] == [r.id for r in b]


def test_hub_source_fails_at_once_offline(tmp_path, monkeypatch):
    from chasing_random.data.flan_mixture import write_mixture_pool
    from chasing_random.errors import ChaseError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    out = tmp_path / "flan.parquet"
    with pytest.raises(ChaseError, match="local"):
        write_mixture_pool("Open-Orca/FLAN", out, MixtureOptions())
    assert list(tmp_path.iterdir()) == []


def test_an_experiment_pool_stage_builds_the_mixture(tmp_path, tiny_lm):
    from chasing_random.config import ExperimentConfig
    from chasing_random.pipeline.plan import expand
    from chasing_random.pipeline.stages import run_stage
    from chasing_random.store import ArtifactStore

    config = ExperimentConfig.model_validate({
        "name": "flan", "pools": [{"name": "flan", "source": "flan-mixture", "path": str(collection(tmp_path)),
                                   "seed": 4, "mixture": {"per_task": 3}}],
        "budgets": [2], "training": {"base_model": tiny_lm}, "benchmarks": [{"name": "synth_heldout"}]})
    stage = expand(config).of_kind("pool")[0]
    record = run_stage(stage, ArtifactStore(tmp_path / "store"), config)
    assert record["outputs"]["counts"]["kept"] == 6 and record["outputs"]["counts"]["reconciles"]
    records, _ = mixture(collection(tmp_path), per_task=3, seed=4)
    assert list(pq.read_table(record["outputs"]["pool_path"]).column("id").to_pylist()) == [r.id for r in records]
