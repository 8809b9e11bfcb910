"""Strategies from later replications that need no model forward: tokenlength and external scores."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from chasing_random.data.pool import build_pool, read_pool
from chasing_random.errors import ChaseError
from chasing_random.selection.base import SelectOptions, get_strategy, select


@pytest.fixture
def pool(tmp_path):
    rows = [{"instruction": f"question {i}" + " more" * (i % 5), "output": "word " * (i % 11 + 1)} for i in range(40)]
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_pool("alpaca", str(src), tmp_path / "toy.parquet")
    return tmp_path / "toy.parquet"


def ranking(folder, stem):
    return [json.loads(line) for line in (folder / f"{stem}.ranking.jsonl").read_text().splitlines()]


def test_tokenlength_counts_base_model_tokens(pool, tmp_path, tiny_lm):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    frame = read_pool(pool)
    manifest = select(pool, "tokenlength", [10], tmp_path / "r", SelectOptions(model=tiny_lm))[0]
    rows = ranking(tmp_path / "r", "toy_tokenlength")
    expected = {i: len(tok(t, add_special_tokens=False)["input_ids"]) for i, t in zip(frame["id"], frame["target"])}
    assert all(r["score"] == expected[r["id"]] for r in rows)
    assert [r["score"] for r in rows] == sorted(expected.values(), reverse=True)
    both = select(pool, "tokenlength", [10], tmp_path / "b", SelectOptions(model=tiny_lm, length_field="both"))[0]
    assert both["info"]["mean_tokens"] > manifest["info"]["mean_tokens"]
    assert manifest["targeted"] is False
    with pytest.raises(ChaseError, match="length-field"):
        select(pool, "tokenlength", [10], tmp_path / "x", SelectOptions(model=tiny_lm, length_field="prompt"))


def test_external_scores_join_on_id_with_coverage_and_reasons(pool, tmp_path):
    frame = read_pool(pool)
    scores = pd.DataFrame({"id": frame["id"][:30], "quality": range(30)})
    scores.loc[3, "quality"] = None
    scores = pd.concat([scores, pd.DataFrame({"id": ["not-in-pool"], "quality": [99.0]})])
    scores.to_parquet(tmp_path / "s.parquet")
    m = select(pool, "scores", [5], tmp_path / "sel", SelectOptions(from_file=str(tmp_path / "s.parquet"),
                                                                   column="quality"))[0]
    assert m["info"]["joined_on"] == "id" and m["info"]["pool_rows_scored"] == 29 and m["reconciles"]
    assert m["info"]["file_rows_unused"] == 1 and m["info"]["coverage"] == pytest.approx(29 / 40)
    assert m["excluded"] == {"no row in s.parquet (joined on id)": 10, "empty quality": 1}
    top = [r["id"] for r in ranking(tmp_path / "sel", "toy_scores")][:3]
    assert top == list(frame["id"][[29, 28, 27]])
    asc = select(pool, "scores", [5], tmp_path / "asc", SelectOptions(from_file=str(tmp_path / "s.parquet"),
                                                                     column="quality", ascending=True))[0]
    assert [r["id"] for r in ranking(tmp_path / "asc", "toy_scores")][0] == frame["id"][0]
    assert asc["ranked"] == 29


def test_external_scores_join_on_instruction_text_and_bad_files(pool, tmp_path, run_cli):
    frame = read_pool(pool)
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"instruction": t, "s": n}) + "\n" for n, t in enumerate(frame["input"])))
    result = run_cli("select", "--pool", pool, "--strategy", "scores", "--from", path, "--column", "s",
                     "--budgets", "4", "--out", tmp_path / "cli", "--store", tmp_path / "store")
    assert result.code == 0, result.err
    m = json.loads((tmp_path / "cli" / "toy_scores.manifest.json").read_text())
    assert m["info"]["joined_on"] == "instruction" and m["info"]["coverage"] == 1.0
    path.write_text(json.dumps({"id": "a", "s": 1}) + "\n" + json.dumps({"id": "b", "s": "high"}) + "\n")
    with pytest.raises(ChaseError, match=r"line 2, field s"):
        select(pool, "scores", [4], tmp_path / "bad", SelectOptions(from_file=str(path), column="s"))
    with pytest.raises(ChaseError, match="no column 'q'"):
        select(pool, "scores", [4], tmp_path / "bad", SelectOptions(from_file=str(path), column="q"))


def test_every_strategy_declares_targeted():
    assert get_strategy("random").is_targeted(SelectOptions()) is False
    assert get_strategy("scores").is_targeted(SelectOptions()) is False
