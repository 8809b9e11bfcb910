"""``resources:`` in an experiment file: defaults of one model per GPU, errors naming key and line, dry-run placement."""

from __future__ import annotations

import pytest

from chasing_random.config import ExperimentConfig, load_experiment
from chasing_random.errors import ChaseError

BASE = """name: res
pools:
  - {name: audit, source: synth, n: 20}
budgets: [5]
training: {base_model: smollm2-135m-instruct}
benchmarks:
  - {name: synth_heldout, limit: 2}
"""


def test_defaults_put_one_model_per_gpu_and_nothing_on_gpus_for_cpu_runs():
    config = ExperimentConfig.model_validate({"name": "x", "pools": [{"name": "p", "source": "synth", "n": 5}],
                                              "budgets": [2], "training": {"base_model": "m"},
                                              "benchmarks": [{"name": "synth_heldout"}], "device": "A100",
                                              "resources": {"scoring": {"concurrency": 4, "num_cpus": 8}}})
    placement = config.resources.placement("A100")
    assert placement["scoring"] == {"num_cpus": 8, "num_gpus": 1.0, "concurrency": 4}
    assert placement["training"]["num_gpus"] == placement["judging"]["num_gpus"] == 1.0
    assert placement["pool"]["num_gpus"] == placement["selection"]["num_gpus"] == 0.0
    assert all(shape["num_gpus"] == 0.0 for shape in config.resources.placement("cpu").values())


def test_an_unknown_resource_key_names_key_and_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(BASE + "resources:\n  scoring:\n    num_gpu: 1\n")
    with pytest.raises(ChaseError, match=r"exp.yaml:10: resources.scoring.num_gpu: unknown key"):
        load_experiment(path)
    path.write_text(BASE + "resources:\n  scorer:\n    num_gpus: 1\n")
    with pytest.raises(ChaseError, match=r"exp.yaml:9: resources.scorer: unknown key"):
        load_experiment(path)
    path.write_text(BASE + "resources:\n  training: {shard_rows: 8}\n")  # only generation has a shard size here
    with pytest.raises(ChaseError, match=r"exp.yaml:9: resources.training.shard_rows: unknown key"):
        load_experiment(path)
    path.write_text(BASE + "resources:\n  training: {concurrency: 0}\n")
    with pytest.raises(ChaseError, match=r"exp.yaml:9: resources.training.concurrency: Input should be greater"):
        load_experiment(path)


def test_dry_run_prints_the_placement(tmp_path, run_cli):
    path = tmp_path / "exp.yaml"
    path.write_text(BASE + "resources:\n  scoring: {num_cpus: 2, concurrency: 3}\n  generation: {shard_rows: 32}\n"
                           "  retries: 1\n")
    result = run_cli("run", path, "--dry-run", "--run-dir", tmp_path / "run")
    assert result.code == 0, result.err
    assert "placement on Ray" in result.err

    def cells(kind):
        line = next(row for row in result.err.splitlines() if row.strip("│ ").startswith(kind))
        return [cell.strip() for cell in line.strip("│").split("│")]

    assert cells("scoring") == ["scoring", "2", "0", "3", "shards", "1024 rows"]
    assert cells("generation") == ["generation", "1", "0", "as many as fit", "3", "32 prompts"]
    assert cells("training")[-1] == "-"
