"""Decontamination: planted benchmark prompts are all found, the clean Alpaca sample has none,
and a selection reports (or excludes) the contaminated rows it picked."""

from __future__ import annotations

import json

import pytest

from chasing_random.data.decontaminate import build_index, decontaminate, find_contaminated, read_contaminated
from chasing_random.data.pool import build_pool, read_pool
from chasing_random.errors import ChaseError
from chasing_random.generation.benchmarks import load_benchmark
from chasing_random.selection.base import SelectOptions, select


@pytest.fixture(scope="module")
def planted(tmp_path_factory, shared_data):
    """300 real Alpaca rows plus 9 rows that carry IFEval / AlpacaEval prompts in different disguises."""
    folder = tmp_path_factory.mktemp("decon")
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:300]
    ifeval, alpaca_eval = load_benchmark("ifeval"), load_benchmark("alpaca_eval")
    long_items = [p for p in alpaca_eval if len(p["instruction"].split()) >= 20]
    plants = [
        {"instruction": ifeval[0]["instruction"], "input": "", "output": "Sure."},  # verbatim
        {"instruction": ifeval[7]["instruction"].upper(), "input": "", "output": "ok"},  # case
        {"instruction": "Please help me. " + ifeval[30]["instruction"].replace(",", " ;") + " Thanks!",
         "input": "", "output": "ok"},  # wrapped, punctuation changed
        {"instruction": "Answer this.", "input": ifeval[100]["instruction"], "output": "ok"},  # in the context
        {"instruction": "Translate.", "input": "", "output": "Here is a prompt: " + ifeval[200]["instruction"]},
        {"instruction": long_items[0]["instruction"], "input": "", "output": "ok"},
        {"instruction": long_items[5]["instruction"] + " Be brief.", "input": "", "output": "ok"},
        {"instruction": alpaca_eval[1]["instruction"], "input": "", "output": "ok"},  # short: exact input
        {"instruction": load_benchmark("ifeval")[300]["instruction"][:-1], "input": "", "output": "ok"},
    ]
    src = folder / "planted.json"
    src.write_text(json.dumps(rows + plants))
    build_pool("alpaca", str(src), folder / "planted.parquet", on_error="skip")
    pool = read_pool(folder / "planted.parquet")
    planted_ids = set(pool["id"].iloc[-len(plants):])
    return folder / "planted.parquet", planted_ids


def test_every_planted_prompt_is_found_and_nothing_else(planted, tmp_path):
    pool_path, planted_ids = planted
    manifest = decontaminate(pool_path, ["ifeval", "alpaca_eval"], tmp_path / "c.jsonl")
    found = read_contaminated(tmp_path / "c.jsonl")
    assert set(found) == planted_ids
    assert manifest["contaminated"] == len(planted_ids) and sum(manifest["by_benchmark"].values()) == len(found)
    records = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert all(r["item"] and r["overlap"] >= 0.5 for r in records)
    assert {r["benchmark"] for r in records} == {"ifeval", "alpaca_eval"}


def test_no_false_positives_on_the_clean_alpaca_sample(shared_data, tmp_path):
    build_pool("alpaca", str(shared_data / "alpaca_random_9k.json"), tmp_path / "alpaca.parquet", on_error="skip")
    index = build_index(["ifeval", "alpaca_eval"])
    assert find_contaminated(read_pool(tmp_path / "alpaca.parquet"), index) == []


def test_threshold_and_ngram_are_configurable(planted, tmp_path):
    pool_path, planted_ids = planted
    index = build_index(["ifeval"], n=13)
    pool = read_pool(pool_path)
    # Half of a 30+ word IFEval prompt: found at threshold 0.3, not at 0.9.
    item = load_benchmark("ifeval")[0]["instruction"].split()
    half = " ".join(item[: len(item) // 2])
    pool.loc[0, "input"] = half
    ids_low = {r["id"] for r in find_contaminated(pool, index, threshold=0.3)}
    ids_high = {r["id"] for r in find_contaminated(pool, index, threshold=0.9)}
    assert pool.loc[0, "id"] in ids_low and pool.loc[0, "id"] not in ids_high
    with pytest.raises(ChaseError, match="threshold"):
        find_contaminated(pool, index, threshold=0)


def test_selection_counts_and_excludes_contaminated_rows(planted, tmp_path):
    pool_path, planted_ids = planted
    decontaminate(pool_path, ["ifeval", "alpaca_eval"], tmp_path / "c.jsonl")
    flagged = select(pool_path, "full", [1], tmp_path / "flag", SelectOptions(contaminated=str(tmp_path / "c.jsonl")))[0]
    assert flagged["contamination"]["flagged_in_pool"] == len(planted_ids)
    assert next(iter(flagged["subsets"].values()))["contaminated"] == len(planted_ids)
    clean = select(pool_path, "random", [50, 309], tmp_path / "clean",
                   SelectOptions(contaminated=str(tmp_path / "c.jsonl"), exclude_contaminated=True))[0]
    assert clean["excluded"] == {"contaminated": len(planted_ids)} and clean["reconciles"]
    assert clean["subsets"]["309"]["rows"] == 300 and clean["subsets"]["309"]["contaminated"] == 0


def test_cli_writes_the_file_and_bad_records_name_their_line(planted, tmp_path, run_cli):
    pool_path, planted_ids = planted
    result = run_cli("pool", "decontaminate", pool_path, "--against", "ifeval,alpaca_eval", "--out", tmp_path / "c.jsonl")
    assert result.code == 0, result.err
    assert json.loads(result.out)["contaminated"] == len(planted_ids)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "benchmark": "ifeval"}\n{"nope": 1}\n')
    with pytest.raises(ChaseError, match="line 2"):
        read_contaminated(bad)
