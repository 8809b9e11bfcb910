"""The study's extra benchmarks inside a grid: LLMBar on the shared files, LIMA (pairwise against the
random models) and InFoBench on fixtures in their hub layouts, run end to end into the report's
Figure-1-shaped table; and the paper configs list all four study benchmarks."""

from __future__ import annotations

import json

import pytest

from chasing_random.config import ExperimentConfig, load_experiment
from chasing_random.pipeline import runner
from chasing_random.pipeline.plan import expand

INFOBENCH = [{"id": f"task_{i}", "input": "", "category": "c", "subset": "Easy_set",
              "instruction": f"Name {i + 1} colours.", "decomposed_questions": ["Are colours named?", "Is it short?"],
              "question_label": [["Content"], ["Style"]]} for i in range(3)]


@pytest.fixture
def study_config(tiny_lm, shared_data, tmp_path):
    if not (shared_data / "llmbar" / "Natural.json").exists():
        pytest.skip("../shared/data/llmbar is not present")
    lima = tmp_path / "lima_test.jsonl"
    lima.write_text("".join(json.dumps({"conversations": [f"Tell me about topic {i}."], "source": "multitask"}) + "\n"
                            for i in range(4)))
    infobench = tmp_path / "InfoBench.json"
    infobench.write_text("".join(json.dumps(item) + "\n" for item in INFOBENCH))
    return ExperimentConfig.model_validate({
        "name": "study",
        "run_dir": str(tmp_path / "run"),
        "pools": [{"name": "audit", "source": "synth", "n": 60, "corrupt": 0.3}],
        "budgets": [10],
        "seeds": {"random": [0, 1]},
        "strategies": [{"name": "longest"}],
        "training": {"base_model": tiny_lm, "preset": "cpu-lora", "overrides": {"max_steps": 1, "max_length": 64}},
        "generation": {"max_new_tokens": 4, "batch_size": 4},
        "benchmarks": [{"name": "llmbar", "data": str(shared_data / "llmbar"), "limit": 4},
                       {"name": "lima_pairwise", "data": str(lima), "limit": 2, "max_new_tokens": 4},
                       {"name": "infobench", "data": str(infobench), "limit": 2, "max_new_tokens": 4}],
        "judge": {"spec": f"local:{tiny_lm}"},
    })


def test_llmbar_lima_and_infobench_run_in_a_grid_and_reach_the_report(study_config):
    plan = expand(study_config)
    names = [s.name for s in plan.stages if s.kind == "evaluation"]
    assert sum(n.startswith("llmbar ") for n in names) == 3  # every model judges LLMBar, no generation
    assert not any(s.name.startswith("generate llmbar") for s in plan.stages)
    paths = runner.run_experiment(study_config)
    rows = [json.loads(line) for line in (paths.run_dir / "results" / "evaluations.jsonl").read_text().splitlines()]
    by_bench = {}
    for row in rows:
        by_bench.setdefault(row["benchmark"], []).append(row)
    assert {r["strategy"] for r in by_bench["llmbar"]} == {"random", "longest"}
    for row in by_bench["llmbar"]:
        assert row["metric"] == "accuracy" and len(row["per_prompt"]) == 4  # every item, both orders judged
        assert row["value"] == pytest.approx(sum(row["per_prompt"].values()) / 4)
    lima = [r for r in by_bench["lima_pairwise"] if r["metric"] == "win_rate"]
    assert lima and all(len(r["per_prompt"]) == 2 for r in lima)
    assert {r["metric"] for r in by_bench["lima_pairwise"]} <= {"win_rate", "length_adjusted_win_rate"}
    for row in by_bench["infobench"]:  # per instruction: share judged Yes, weighted by its answered questions
        assert row["metric"] == "drfr" and len(row["per_prompt"]) == 2 and sum(row["per_prompt_weight"].values()) <= 4
        weights = row["per_prompt_weight"]
        ratio = sum(row["per_prompt"][k] * w for k, w in weights.items()) / sum(weights.values())
        assert row["value"] == pytest.approx(ratio)

    from chasing_random.analysis.report import build_report

    report = build_report(paths.run_dir, resamples=200)
    text = report.markdown.read_text()
    assert "the study's Figure 1 as a table" in text
    table = [t for t in report.study_tables if t.pool == "audit" and t.budget == 10][0]
    assert table.headers[:5] == ["strategy", "AlpacaEval win rate vs random", "Open LLM accuracy",
                                 "LLMBar accuracy", "IFEval accuracy"]
    assert table.headers[-3:] == ["LIMA win rate vs random", "InFoBench DRFR", "selection $"]
    longest = next(r for r in table.rows if r[0] == "longest")
    assert longest[1] == "—" and longest[2] == "—" and longest[4] == "—"  # not in this grid
    llmbar_value = sum(r["value"] for r in by_bench["llmbar"] if r["strategy"] == "longest")
    assert longest[3] == f"{llmbar_value:.4f}"
    panels = [r.setting.benchmark for r in report.settings if r.setting.primary and r.setting.budget == 10]
    assert {"llmbar", "lima_pairwise", "infobench"} <= set(panels)  # Figure 1 draws one panel each
    assert [f.name for f in report.figures if f.name.startswith("figure1")] == ["figure1_audit_10.png"]
    assert {"forest_llmbar.png", "forest_lima_pairwise.png", "forest_infobench.png"} <= {f.name for f in report.figures}


def test_paper_dry_run_lists_the_four_study_benchmarks(run_cli, tmp_path):
    config = load_experiment("configs/paper-dolly.yaml")
    assert [b.name for b in config.benchmarks] == ["alpaca_eval_pairwise", "harness", "llmbar", "ifeval"]
    assert config.benchmarks[1].tasks == ["openllm-study"]
    result = run_cli("run", "configs/paper-dolly.yaml", "--dry-run", "--run-dir", tmp_path)
    assert result.code == 0, result.err
    shown = " ".join(result.err.split())
    names = [s.name for s in expand(config).stages]
    for stage in ("pairwise dolly/longest/1000 vs random/1000", "harness dolly/longest/1000",
                  "llmbar dolly/longest/1000", "evaluate ifeval dolly/longest/1000"):
        assert stage in names, stage
    # the table may wrap a stage name across lines; the kinds and the count are what it must show
    assert "llmbar" in shown and "harness" in shown and f"{len(names)} stages: 0 cached" in shown
