"""The study's released subsets: names, content matching, import, the study:NAME strategy in a grid, export."""

from __future__ import annotations

import json

import pytest

from chasing_random.data.pool import build_pool, read_pool
from chasing_random.data.study_subsets import parse_study_name
from chasing_random.errors import ChaseError

ROWS = [{"instruction": f"Task number {i}: describe item {i}.",
         "input": (f"Context for item {i}." if i % 3 == 0 else ""),
         "output": f"Item {i} is a thing with {i} parts."} for i in range(40)]


@pytest.fixture
def pool(tmp_path):
    source = tmp_path / "tiny.json"
    source.write_text(json.dumps(ROWS), encoding="utf-8")
    out = tmp_path / "pools" / "tiny.parquet"
    build_pool("alpaca", str(source), out)  # blank-line join, as this project's default
    return out


def study_row(i: int, nested: bool = False) -> dict:
    """A row as the study wrote it: instruction and context joined with no separator."""
    row = {"input": ROWS[i]["instruction"] + ROWS[i]["input"], "target": ROWS[i]["output"]}
    return {"task_x": row} if nested else row


def write_study(folder, name, indices, extra=()):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [study_row(i) for i in indices] + list(extra)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def study_dir(tmp_path):
    folder = tmp_path / "data"
    write_study(folder, "tiny_longest_8.jsonl", [3, 1, 4, 15, 9, 2, 6, 5])
    write_study(folder, "tiny_longest_5.jsonl", [10, 11, 12, 13, 14],
                extra=[{"input": "a row the pool does not have", "target": "nothing"}])
    write_study(folder, "tiny_random_8_0.jsonl", [0, 7, 8, 16, 17, 18, 19, 20])
    write_study(folder, "tiny_random_5_0.jsonl", [21, 22, 23, 24, 25])
    (folder / "tiny_full.jsonl").write_text("".join(json.dumps(study_row(i, nested=True)) + "\n"
                                                    for i in range(40)), encoding="utf-8")
    return folder


def test_names_parse_or_name_the_pattern(tmp_path):
    f = parse_study_name("dolly_cherry_1000.jsonl")
    assert (f.dataset, f.strategy, f.budget, f.trial) == ("dolly", "cherry", 1000, None)
    f = parse_study_name("alpaca_strictrandom_5000_2.jsonl")
    assert (f.strategy, f.budget, f.trial) == ("strictrandom", 5000, 2)
    assert parse_study_name("flan_full.jsonl").budget is None
    with pytest.raises(ChaseError, match=r"\{dataset\}_\{strategy\}_\{budget\}"):
        parse_study_name("dolly-cherry.jsonl")


def test_import_matches_by_content_and_lists_unmatched(pool, study_dir, tmp_path, run_cli):
    out = tmp_path / "imported"
    result = run_cli("subsets", "import", study_dir, "--pool", f"tiny={pool}", "--out", out)
    assert result.code == 0, result.err
    manifest = json.loads((out / "import.manifest.json").read_text())
    assert manifest["rows"] == 8 + 6 + 8 + 5 + 40 and manifest["matched"] == 8 + 5 + 8 + 5 + 40
    by_file = {r["file"].rsplit("/", 1)[-1]: r for r in manifest["files"]}
    # rows with a context match through the study's no-separator join; the others by id
    assert by_file["tiny_longest_8.jsonl"]["matched_by"] == {"id": 4, "whitespace": 4}
    unmatched = [json.loads(line) for line in (out / "unmatched.jsonl").read_text().splitlines()]
    assert unmatched == [{"file": str(study_dir / "tiny_longest_5.jsonl"), "line": 6,
                          "reason": "matches no pool row", "input": "a row the pool does not have"}]
    frame = read_pool(pool).set_index("id")
    imported = [json.loads(line) for line in (out / "tiny_study-longest_8.jsonl").read_text().splitlines()]
    assert [r["target"] for r in imported] == [ROWS[i]["output"] for i in (3, 1, 4, 15, 9, 2, 6, 5)]
    assert all(frame.loc[r["id"], "input"] == r["input"] for r in imported)
    assert (out / "tiny_study-random_8_0.jsonl").exists() and (out / "tiny_study-full_40.jsonl").exists()
    overlap = run_cli("select", "overlap", out / "tiny_study-longest_8.jsonl", out / "tiny_study-random_8_0.jsonl")
    assert json.loads(overlap.out)[0]["shared"] == 0


def test_import_errors_name_the_problem(pool, tmp_path, run_cli):
    folder = tmp_path / "bad"
    write_study(folder, "tiny-longest.jsonl", [1])
    result = run_cli("subsets", "import", folder, "--pool", f"tiny={pool}", "--out", tmp_path / "o")
    assert result.code == 2 and "pattern" in result.err and "{dataset}_{strategy}_{budget}" in result.err
    result = run_cli("subsets", "import", folder, "--pool", "tiny", "--out", tmp_path / "o")
    assert result.code == 2 and "NAME=POOL" in result.err


@pytest.mark.parametrize("layout,source,suffix", [("study", "jsonl", ".jsonl"), ("sharegpt", "sharegpt", ".json"),
                                                  ("alpaca", "alpaca", ".json")])
def test_export_round_trips_through_pool_build(pool, tmp_path, run_cli, layout, source, suffix):
    from chasing_random.selection.base import select

    select(pool, "longest", [10], tmp_path / "sel")
    subset = tmp_path / "sel" / "tiny_longest_10.jsonl"
    out = tmp_path / f"export-{layout}"
    result = run_cli("subsets", "export", subset, "--format", layout, "--out", out, "--dataset", "dolly")
    assert result.code == 0, result.err
    exported = out / f"dolly_longest_10{suffix}"
    assert exported.exists()
    rebuilt = tmp_path / f"rebuilt-{layout}.parquet"
    build_pool(source, str(exported), rebuilt)
    ids = [json.loads(line)["id"] for line in subset.read_text().splitlines()]
    assert list(read_pool(rebuilt)["id"]) == ids
    assert run_cli("subsets", "export", subset, "--format", layout, "--out", out, "--dataset", "dolly").code == 0
    exported.write_text("[]\n")
    again = run_cli("subsets", "export", subset, "--format", layout, "--out", out, "--dataset", "dolly")
    assert again.code == 2 and "--force" in again.err and exported.read_text() == "[]\n"


def test_study_strategies_run_in_a_grid_and_reach_the_report(pool, study_dir, tiny_lm, tmp_path, monkeypatch):
    from chasing_random.analysis.report import build_report
    from chasing_random.config import ExperimentConfig
    from chasing_random.pipeline import runner

    monkeypatch.chdir(tmp_path)
    config = ExperimentConfig.model_validate({
        "name": "study-grid", "run_dir": "run", "store": str(tmp_path / "store"),
        "pools": [{"name": "tiny", "source": "parquet", "path": str(pool), "input_field": "input",
                   "target_field": "target"}],
        "budgets": [8],
        "seeds": {"random": [0, 1]},
        "strategies": [{"name": "study:longest", "options": {"subsets_dir": str(study_dir)}},
                       {"name": "study:random", "label": "study:random-0",
                        "options": {"subsets_dir": str(study_dir), "trial": 0}}],
        "training": {"base_model": tiny_lm, "preset": "cpu-lora", "overrides": {"max_steps": 1, "max_length": 48}},
        "generation": {"max_new_tokens": 2, "batch_size": 4},
        "benchmarks": [{"name": "synth_heldout", "limit": 2, "max_new_tokens": 2}],
        "judge": {"spec": f"local:{tiny_lm}"},
    })
    paths = runner.run_experiment(config)
    subsets = [json.loads(line) for line in (paths.run_dir / "results" / "subsets.jsonl").read_text().splitlines()]
    study_longest = {r["budget"]: r for r in subsets if r["strategy"] == "study:longest"}
    assert set(study_longest) == {8}
    targets = [json.loads(line)["target"] for line in open(study_longest[8]["ids_path"], encoding="utf-8")]
    assert targets == [ROWS[i]["output"] for i in (3, 1, 4, 15, 9, 2, 6, 5)]
    evaluated = {json.loads(line)["strategy"] for line in
                 (paths.run_dir / "results" / "evaluations.jsonl").read_text().splitlines()}
    assert {"study:longest", "study:random-0", "random"} <= evaluated
    report = build_report(paths.run_dir, resamples=100)
    assert "study:longest" in report.html.read_text()
