"""Experiment files and grid expansion: line-aware errors, the paper grids' dry runs, Merkle keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from chasing_random.config import load_experiment
from chasing_random.errors import ChaseError
from chasing_random.pipeline.plan import expand

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

MINIMAL = """\
name: t
pools:
  - name: a
    source: alpaca
    path: a.json
budgets: [10, 20]
strategies:
  - name: longest
  - name: full
training:
  base_model: smollm2-135m-instruct
benchmarks:
  - name: ifeval
    limit: 5
  - name: alpaca_eval_pairwise
    limit: 5
"""


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in tmp_path with the pool file the minimal config names (the plan checks that it exists)."""
    (tmp_path / "a.json").write_text("[]")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_unknown_key_names_key_and_line(tmp_path):
    text = MINIMAL.replace("    path: a.json\n", "    path: a.json\n    limitt: 5\n")
    with pytest.raises(ChaseError, match=r"exp.yaml:6: pools.0.limitt: unknown key"):
        load_experiment(write(tmp_path, text))


def test_unknown_strategy_option_is_named(tmp_path):
    text = MINIMAL.replace("  - name: longest\n", "  - name: longest\n    options: {lenght_unit: tokens}\n")
    with pytest.raises(ChaseError, match=r"exp.yaml:9: strategies.0.options: .*unknown strategy options \['lenght_unit'\]"):
        load_experiment(write(tmp_path, text))


def test_invalid_value_and_bad_yaml(tmp_path):
    with pytest.raises(ChaseError, match=r"exp.yaml:6: budgets"):
        load_experiment(write(tmp_path, MINIMAL.replace("[10, 20]", "[10, -1]")))
    with pytest.raises(ChaseError, match="not valid YAML"):
        load_experiment(write(tmp_path, "name: [unclosed\n"))


def test_grid_expansion_counts(tmp_path, in_tmp):
    plan = expand(load_experiment(write(tmp_path, MINIMAL)))
    kinds = [s.kind for s in plan.stages]
    # 3 random seeds + longest + full selections; (3 + 1) x 2 budgets + 1 full models
    assert kinds.count("selection") == 5 and kinds.count("training") == 9
    assert kinds.count("generation") == 18
    pairwise = [s for s in plan.stages if s.name.startswith("pairwise")]
    # each random seed vs the other two, longest per budget, full vs each budget's random models
    assert len(pairwise) == 6 + 2 + 2
    assert all(len(s.deps) - 1 in (2, 3) for s in pairwise)
    names = [s.name for s in plan.stages]
    assert all(names.index(d.name) < names.index(s.name) for s in plan.stages for d in s.deps)


def test_changing_a_benchmark_limit_reruns_only_its_stages(tmp_path, in_tmp):
    before = {s.name: s.key for s in expand(load_experiment(write(tmp_path, MINIMAL))).stages}
    after = {s.name: s.key for s in expand(load_experiment(write(tmp_path, MINIMAL.replace(
        "  - name: ifeval\n    limit: 5", "  - name: ifeval\n    limit: 6")))).stages}
    changed = {name for name in before if before[name] != after.get(name)}
    assert changed and all(name.startswith("evaluate ifeval") or name.startswith("generate ifeval")
                           for name in changed)


@pytest.mark.parametrize("name", ["paper-dolly", "paper-alpaca", "paper-evol", "paper-flan"])
def test_paper_configs_dry_run(name, run_cli, tmp_path):
    result = run_cli("run", CONFIGS / f"{name}.yaml", "--dry-run", "--run-dir", tmp_path)
    assert result.code == 0, result.err
    plan = expand(load_experiment(CONFIGS / f"{name}.yaml"))
    strategies = {s.arm.label for s in plan.of_kind("selection")}
    assert strategies == {"random", "strictrandom", "longest", "alpagasus", "cherry", "deita", "full"}
    assert {s.arm.budget for s in plan.of_kind("training")} == {1000, 5000, 10000, None}
    assert f"{len(plan.stages)} stages: 0 cached" in " ".join(result.err.split())


@pytest.mark.parametrize("small", [False, True])
def test_demo_grid_is_the_issue_grid(small):
    from chasing_random.cli.demo import demo_config

    config = demo_config(small)
    plan = expand(config)
    labels = {s.arm.label for s in plan.of_kind("selection")}
    assert labels == {"random", "longest", "alpagasus", "superfilter", "deita"}
    assert config.seeds.random == [0, 1, 2] and config.pools[0].source == "synth"
    assert {b.name for b in config.benchmarks} == {"synth_heldout", "ifeval", "alpaca_eval_pairwise"}
    assert config.training.base_model == config.judge.spec.split(":", 1)[1] == "smollm2-135m-instruct"


def test_benchmarks_come_from_the_registry(tmp_path):
    from chasing_random.benchmarks import BENCHMARKS, UNITS

    with pytest.raises(ChaseError, match=r"exp.yaml:13: benchmarks.0.name: .*unknown benchmark 'ifevall'; valid: "
                                         + ", ".join(BENCHMARKS)):
        load_experiment(write(tmp_path, MINIMAL.replace("name: ifeval\n", "name: ifevall\n")))
    with pytest.raises(ChaseError, match="harness benchmark needs tasks"):
        load_experiment(write(tmp_path, MINIMAL.replace("name: ifeval\n", "name: harness\n")))
    for spec in BENCHMARKS.values():  # every spec declares its metric's unit and direction as data
        assert spec.metric.unit in UNITS and isinstance(spec.metric.higher_is_better, bool)


def test_experiment_judge_is_the_default_and_a_benchmark_may_set_its_own(tmp_path, in_tmp):
    text = MINIMAL + "judge:\n  spec: openai:gpt-4o-mini\n  options: {base_url: 'http://127.0.0.1:9/v1'}\n"
    plan = expand(load_experiment(write(tmp_path, text)))
    expected = {"spec": "openai:gpt-4o-mini", "options": {"base_url": "http://127.0.0.1:9/v1"}}
    assert all(s.params.judge.model_dump() == expected for s in plan.stages if s.kind == "selection")
    assert all(s.params.judge.model_dump() == expected for s in plan.stages if s.name.startswith("pairwise"))
    own = text.replace("  - name: alpaca_eval_pairwise\n", "  - name: alpaca_eval_pairwise\n"
                       "    judge: {spec: 'local:smollm2-135m-instruct', options: {batch_size: 2}}\n")
    plan = expand(load_experiment(write(tmp_path, own)))
    assert {s.params.judge.spec for s in plan.stages if s.name.startswith("pairwise")} == {
        "local:smollm2-135m-instruct"}
    with pytest.raises(ChaseError, match="judge.spec: .*expected local:NAME"):
        load_experiment(write(tmp_path, MINIMAL + "judge: {spec: gpt-4o}\n"))


def test_stage_arms_keep_the_registry_name_apart_from_the_label(in_tmp):
    """A strategy labelled like the baseline is not a random reference: pairwise references are chosen by
    the registry name of a stage's typed arm, and every model stage carries its arm."""
    text = MINIMAL.replace("  - name: longest\n", "  - name: longest\n    label: random\n")
    plan = expand(load_experiment(write(in_tmp, text)))
    arms = {s.arm for s in plan.stages if s.kind != "pool"}
    assert None not in arms
    assert {(a.strategy, a.label) for a in arms} >= {("longest", "random"), ("random", "random")}
    for stage in plan.stages:
        if stage.name.startswith("pairwise"):
            refs = stage.deps[1:]
            assert refs and all(d.arm.strategy == "random" for d in refs)
            assert stage.arm not in {d.arm for d in refs}
    training = next(s for s in plan.of_kind("training") if s.arm.strategy == "longest")
    assert training.arm.label == "random" and training.name == f"train {training.arm.tag()}"
    assert training.params.to_json()["strategy"] == "random"  # stage.json names a model by its label (as always)


def test_stage_params_are_frozen_and_serialize_to_the_stored_shape(in_tmp):
    """Typed params are read by attribute, and ``to_json`` is the ``params`` of ``stage.json`` with the keys,
    in the order, that stores were written with (so their stage keys and done records still resume)."""
    import dataclasses

    from chasing_random.pipeline.plan import SelectionParams

    text = MINIMAL.replace("  - name: longest\n", "  - name: longest\n    label: long\n") + (
        "  - name: synth_heldout\n    limit: 3\n  - name: harness\n    tasks: [openllm-study]\n")
    plan = expand(load_experiment(write(in_tmp, text)))
    shapes = {}
    for stage in plan.stages:
        params = stage.params
        with pytest.raises(dataclasses.FrozenInstanceError):
            params.arm = None
        shape = (stage.kind, stage.name.split()[0], tuple(params.to_json()))
        shapes[shape] = stage
        if stage.arm is None:
            continue
        stored = params.to_json()
        assert stored["pool"] == stage.arm.pool and stored["seed"] == stage.arm.seed
        if isinstance(params, SelectionParams):  # a selection names both; a model stage names its label
            assert (stored["strategy"], stored["label"]) == (stage.arm.strategy, stage.arm.label)
            assert stored["budgets"] == [10, 20] and stored["options"] == dict(params.options)
        else:
            assert stored["strategy"] == stage.arm.label and stored["budget"] == stage.arm.budget
    arm = ("pool", "strategy", "budget", "seed")
    assert set(shapes) == {
        ("pool", "pool", ("pool",)),
        ("selection", "select", ("pool", "strategy", "label", "seed", "options", "budgets", "judge")),
        ("training", "train", (*arm, "training")),
        ("generation", "generate", (*arm, "benchmark", "generation")),
        ("evaluation", "evaluate", (*arm, "benchmark", "generation")),  # ifeval, synth_heldout: no judge
        ("evaluation", "harness", (*arm, "benchmark")),  # runs the model itself: no generation
        ("evaluation", "pairwise", (*arm, "benchmark", "generation", "setting_budget", "judge")),
    }
    pairwise = shapes[("evaluation", "pairwise", (*arm, "benchmark", "generation", "setting_budget", "judge"))]
    assert pairwise.params.setting_budget in (10, 20) and pairwise.params.judge == plan.config.judge
    long = next(s for s in plan.of_kind("selection") if s.arm.label == "long")
    assert long.arm.strategy == "longest" and long.params.to_json()["strategy"] == "longest"


def test_stage_record_holds_the_serialized_params(tmp_path):
    """``run_stage`` writes ``to_json`` as the done record's params (a pool stage of the audit pool)."""
    import json

    from chasing_random.pipeline.stages import run_stage
    from chasing_random.store import ArtifactStore

    text = MINIMAL.replace("    source: alpaca\n    path: a.json\n", "    source: synth\n    n: 20\n")
    plan = expand(load_experiment(write(tmp_path, text)))
    pool = plan.of_kind("pool")[0]
    store = ArtifactStore(tmp_path / "store")
    run_stage(pool, store, plan.config)
    record = json.loads((pool.folder(store) / "stage.json").read_text())
    assert record["params"] == pool.params.to_json() == {"pool": plan.config.pools[0].model_dump()}
    assert pool.done(store) and pool.arm is None
