"""Later strategies in a chase run grid: base-model defaults in the plan, the decontamination switch of a pool
going through the pool and selection stages, and the report's targeted/contamination section."""

from __future__ import annotations

import json

import pytest
from test_report import _jsonl, make_run

from chasing_random.analysis.report import build_report
from chasing_random.config import load_experiment
from chasing_random.data.pool import read_pool
from chasing_random.generation.benchmarks import load_benchmark
from chasing_random.pipeline.plan import expand
from chasing_random.pipeline.stages import run_pool, run_selection
from chasing_random.store import ArtifactStore

GRID = """\
name: t
pools:
  - name: a
    source: alpaca
    path: {path}
    decontaminate: [ifeval]
    exclude_contaminated: {exclude}
budgets: [5, 20]
strategies:
  - name: tokenlength
  - name: rds
    options: {{queries: ifeval, query_limit: 4}}
  - name: zip
    options: {{zip_k1: 30, zip_k2: 10, zip_k3: 5}}
  - name: scores
    options: {{from_file: {scores}, column: s}}
training:
  base_model: smollm2-135m-instruct
benchmarks:
  - name: ifeval
    limit: 5
"""


def grid(tmp_path, exclude: bool):
    rows = [{"instruction": f"Write about topic {i} in exactly {i} words please", "output": "ok " * i} for i in range(30)]
    rows.append({"instruction": load_benchmark("ifeval")[3]["instruction"], "output": "planted"})
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "s.jsonl").write_text("".join(json.dumps({"instruction": r["instruction"], "s": i}) + "\n"
                                             for i, r in enumerate(rows)))
    text = GRID.format(path=tmp_path / "a.json", exclude=str(exclude).lower(), scores=tmp_path / "s.jsonl")
    (tmp_path / "exp.yaml").write_text(text)
    return expand(load_experiment(tmp_path / "exp.yaml"))


def test_plan_gives_base_model_strategies_the_base_model(tmp_path):
    plan = grid(tmp_path, exclude=False)
    options = {s.arm.strategy: s.params.options for s in plan.of_kind("selection")}
    assert options["tokenlength"]["model"] == "smollm2-135m-instruct"
    assert options["rds"]["model"] == "smollm2-135m-instruct" and "model" not in options["zip"]
    rds = next(s for s in plan.of_kind("selection") if s.arm.strategy == "rds")
    assert rds.estimate_device_hours > 0


def test_pool_switch_flags_or_excludes_contaminated_rows_in_selection(tmp_path):
    for exclude in (False, True):
        folder = tmp_path / str(exclude)
        folder.mkdir()
        plan = grid(folder, exclude)
        store = ArtifactStore(folder / "store")
        pool_stage = plan.of_kind("pool")[0]
        out = run_pool(pool_stage, store, plan.config)
        pool_stage.folder(store).mkdir(parents=True, exist_ok=True)
        (pool_stage.folder(store) / "stage.json").write_text(json.dumps({"outputs": out}))
        assert out["contaminated_rows"] == 1
        planted = read_pool(out["pool_path"]).iloc[-1]["id"]
        stage = next(s for s in plan.of_kind("selection") if s.arm.strategy == "scores")
        manifest = run_selection(stage, store, plan.config)["manifest"]
        assert manifest["contamination"]["flagged_in_pool"] == 1
        top = json.loads((stage.folder(store) / manifest["subsets"]["5"]["path"]).read_text().splitlines()[0])["id"]
        if exclude:  # the planted row has the highest score but is excluded
            assert manifest["excluded"] == {"contaminated": 1} and top != planted
            assert manifest["subsets"]["20"]["contaminated"] == 0
        else:
            assert top == planted and manifest["subsets"]["5"]["contaminated"] == 1


def test_report_groups_targeted_strategies_and_shows_contamination(tmp_path):
    run = make_run(tmp_path)
    rows = [json.loads(line) for line in (run / "results" / "subsets.jsonl").read_text().splitlines()]
    for row in rows:
        row["targeted"] = row["strategy"] == "good"
        row["contaminated"] = 3 if row["strategy"] == "good" else 0
    _jsonl(run / "results" / "subsets.jsonl", rows)
    report = build_report(run, resamples=200)
    text = report.markdown.read_text()
    assert "## Targeted strategies and benchmark contamination" in text
    assert "| targeted | good |" in text and "| untargeted | bad |" in text
    assert "| synth | good | targeted | 50 |  | 3 |" in text


def test_report_without_targeted_or_contamination_has_no_such_section(tmp_path):
    report = build_report(make_run(tmp_path), resamples=200)
    assert "Targeted strategies" not in report.markdown.read_text()


@pytest.mark.slow
def test_later_strategies_run_in_a_chase_run_grid_and_reach_the_report(tiny_lm, tmp_path):
    from chasing_random.config import ExperimentConfig
    from chasing_random.pipeline import runner

    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"instruction": f"Add {i} and {i + 1}."}) + "\n" for i in range(3)))
    config = ExperimentConfig.model_validate({
        "name": "later", "run_dir": str(tmp_path / "run"),
        "pools": [{"name": "audit", "source": "synth", "n": 40, "corrupt": 0.3, "decontaminate": ["ifeval"]}],
        "budgets": [8], "seeds": {"random": [0, 1]},
        "strategies": [{"name": "tokenlength"}, {"name": "zip", "options": {"zip_k1": 20, "zip_k2": 8, "zip_k3": 4}},
                       {"name": "kcenter", "options": {"embedder": tiny_lm}},
                       {"name": "rds", "options": {"queries": f"file:{queries}"}}],
        "training": {"base_model": tiny_lm, "preset": "cpu-lora", "overrides": {"max_steps": 1, "max_length": 64}},
        "generation": {"max_new_tokens": 2, "batch_size": 4},
        "benchmarks": [{"name": "synth_heldout", "limit": 2, "max_new_tokens": 2}],
    })
    paths = runner.run_experiment(config)
    subsets = [json.loads(line) for line in (paths.run_dir / "results" / "subsets.jsonl").read_text().splitlines()]
    kinds = {s["strategy"]: s["targeted"] for s in subsets}
    assert kinds == {"random": False, "tokenlength": False, "zip": False, "kcenter": False, "rds": True}
    assert all(s["contaminated"] == 0 for s in subsets)
    report = build_report(paths.run_dir, resamples=100)
    text = report.markdown.read_text()
    assert "| targeted | rds |" in text and "| audit | rds | targeted | 8 |" in text
