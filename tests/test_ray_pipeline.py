"""``chase run --executor ray`` on a local Ray gives the local executor's subsets, metrics and report.

Everything but measured times is compared: results files byte for byte (run folder aside), subset
files byte for byte, the report's table without its measured selection cost.
"""

from __future__ import annotations

import json

import pytest

from chasing_random.config import ExperimentConfig
from chasing_random.pipeline import runner


def grid(tiny_lm, run_dir) -> ExperimentConfig:
    """Random, longest and superfilter (a loss table whose shards fan out on Ray) through training and a
    benchmark whose generation stages run in two shards each."""
    return ExperimentConfig.model_validate({
        "name": "tiny-ray", "run_dir": str(run_dir),
        "pools": [{"name": "audit", "source": "synth", "n": 40, "corrupt": 0.3}],
        "budgets": [8], "seeds": {"random": [0]},
        "strategies": [{"name": "longest"}, {"name": "superfilter", "options": {"model": tiny_lm}}],
        "training": {"base_model": tiny_lm, "preset": "cpu-lora", "overrides": {"max_steps": 1, "max_length": 48}},
        "generation": {"max_new_tokens": 3, "batch_size": 1},
        "benchmarks": [{"name": "alpaca_eval_pairwise", "limit": 2, "max_new_tokens": 3}],
        "judge": {"spec": f"local:{tiny_lm}"},
        "resources": {"training": {"concurrency": 1}, "generation": {"shard_rows": 1}},  # 2 generation shards
    })


def without_run_paths(text: str, run_dir) -> str:
    return text.replace(str(run_dir), "RUN")


def without_measured_cost(csv_text: str) -> list[list[str]]:
    """The report table without ``selection_cost_usd``: a measured time, different on every run."""
    rows = [line.split(",") for line in csv_text.splitlines()]
    drop = rows[0].index("selection_cost_usd")
    return [row[:drop] + row[drop + 1:] for row in rows]


@pytest.mark.slow  # a whole grid twice (minutes on a shared CPU); make test runs it, make test-fast does not
def test_ray_run_equals_local_run(tiny_lm, tmp_path, ray_local):
    paths = {}
    for executor in ("local", "ray"):
        paths[executor] = runner.run_experiment(grid(tiny_lm, tmp_path / executor), executor=executor)
    local, ray = paths["local"].run_dir, paths["ray"].run_dir
    for name in ("evaluations.jsonl", "subsets.jsonl"):
        assert (without_run_paths((local / "results" / name).read_text(), local)
                == without_run_paths((ray / "results" / name).read_text(), ray)), name
    subsets = [json.loads(line) for line in (local / "results" / "subsets.jsonl").read_text().splitlines()]
    assert {s["strategy"] for s in subsets} == {"random", "longest", "superfilter"}
    for row in subsets:  # the subset files themselves, byte for byte
        twin = row["ids_path"].replace(str(local), str(ray))
        assert open(row["ids_path"], "rb").read() == open(twin, "rb").read()
    costs = {e: [(r["strategy"], r["stage"]) for r in map(json.loads, (p.run_dir / "results" / "costs.jsonl")
                                                           .read_text().splitlines())] for e, p in paths.items()}
    assert costs["local"] == costs["ray"]
    from chasing_random.analysis.report import build_report

    reports = {e: build_report(p.run_dir, resamples=200) for e, p in paths.items()}
    tables = {e: without_measured_cost(r.html.with_name("results.csv").read_text()) for e, r in reports.items()}
    evaluations = [json.loads(line) for line in (local / "results" / "evaluations.jsonl").read_text().splitlines()]
    metrics = {e["metric"] for e in evaluations}  # win_rate, and our length-adjusted one when it could be fitted
    assert tables["local"] == tables["ray"] and len(tables["local"]) == 1 + 2 * len(metrics)  # header + 2 strategies
    assert {e["benchmark"] for e in evaluations} == {"alpaca_eval_pairwise"}
    assert len([e for e in evaluations if e["metric"] == "win_rate"]) == 2
    generations = {e: sorted(p.store.root.rglob("outputs.json")) for e, p in paths.items()}
    assert len(generations["local"]) == len(generations["ray"]) >= 2
    for mine, twin in zip(generations["local"], generations["ray"]):  # sharded generation, byte for byte
        assert mine.relative_to(local) == twin.relative_to(ray) and mine.read_bytes() == twin.read_bytes()
        assert json.loads(twin.with_name("outputs.json.manifest.json").read_text())["shards"] == 2
