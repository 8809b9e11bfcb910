"""Superfiltering and the shared IFD ranking: exclusions with reasons, order, warnings, diversity, determinism."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from chasing_random.data.pool import read_pool
from chasing_random.scoring.losses import loss_table
from chasing_random.scoring.shards import TableRun
from chasing_random.selection.base import SelectionContext, SelectOptions, select
from chasing_random.selection.ifd import facility_location_order, rank_by_ifd
from chasing_random.store import ArtifactStore


@pytest.fixture(scope="module")
def alpaca_slice(alpaca_rows, pool_from_rows):
    """30 real Alpaca rows as a pool."""
    return pool_from_rows(alpaca_rows[:30], "alpaca30")


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_superfilter_ranks_by_perplexity_ratio(alpaca_slice, tmp_path, tiny_lm):
    store = ArtifactStore(tmp_path / "store")
    options = SelectOptions(model=tiny_lm, max_length=48, batch_size=4)
    manifest = select(alpaca_slice, "superfilter", [5, 10, 100], tmp_path / "sel", options, store=store)[0]
    frame = loss_table(alpaca_slice, tiny_lm, "none", 48, store=store).frame.set_index("id")
    ranking = lines(tmp_path / "sel" / "alpaca30_superfilter.ranking.jsonl")
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True) and all(s < 1 for s in scores)
    for row in ranking:
        expected = np.exp(frame.loc[row["id"], "loss_cond"] - frame.loc[row["id"], "loss_direct"])
        assert abs(row["score"] - expected) < 1e-9
    above = frame.index[np.exp(frame["loss_cond"] - frame["loss_direct"]) >= 1]
    assert manifest["excluded"].get("ifd_above_max", 0) == len(above)
    assert manifest["reconciles"] and manifest["underflow"] == {"100": len(ranking)}
    assert [r["id"] for r in lines(tmp_path / "sel" / "alpaca30_superfilter_5.jsonl")] == [r["id"] for r in ranking[:5]]
    assert manifest["info"]["template"] == "none" and manifest["cost"]["device_hours"] > 0
    assert frame["truncated"].any()  # truncated rows are scored on their kept part, not dropped


def test_repeated_runs_are_byte_identical(alpaca_slice, tmp_path, tiny_lm):
    options = SelectOptions(model=tiny_lm, max_length=48)
    for name in ("a", "b"):
        select(alpaca_slice, "superfilter", [5, 10], tmp_path / name, options, store=ArtifactStore(tmp_path / f"s{name}"))
    for file in ("alpaca30_superfilter_5.jsonl", "alpaca30_superfilter_10.jsonl", "alpaca30_superfilter.ranking.jsonl",
                 "alpaca30_superfilter.excluded.jsonl"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def handmade_run(tmp_path, ids, cond, direct, n, truncated, template="none"):
    table = pa.table({"id": ids, "loss_cond": pa.array(cond, from_pandas=True),
                      "loss_direct": pa.array(direct, from_pandas=True), "n_response_tokens": n, "truncated": truncated})
    manifest = {"config": {"model": "m", "template": template, "max_length": 8}, "cost": None}
    return TableRun(tmp_path / "t.parquet", table, {"device": "cpu", "device_hours": 0.0, "api_tokens": {}},
                    manifest, reused=True)


def test_exclusion_reasons_and_the_inflated_ifd_warning(tmp_path):
    import pandas as pd

    ids = ["a", "b", "c", "d", "e", "f"]
    pool = pd.DataFrame({"id": ids, "input": ids, "target": ids})
    ctx = SelectionContext(tmp_path / "p.parquet", pool, [3], SelectOptions(), ArtifactStore(tmp_path))
    run = handmade_run(tmp_path, ids, [1.0, np.nan, 2.0, 3.0, 0.5, 4.0], [2.0, np.nan, 1.0, 1.0, 1.0, 4.0],
                       [4, 0, 3, 2, 5, 6], [False, True, False, True, False, False])
    cherry = rank_by_ifd(ctx, run, "cherry", inclusive=True, drop_truncated=True)
    assert cherry.ids == ["f", "a", "e"]  # f has IFD exactly 1 (Cherry drops only IFD > 1); a, e tie: pool order
    assert cherry.excluded == {"no_response_tokens": ["b"], "truncated": ["d"], "ifd_above_max": ["c"]}
    superfilter = rank_by_ifd(ctx, run, "superfilter", inclusive=False, drop_truncated=False)
    assert superfilter.ids == ["e", "a"] and superfilter.excluded["ifd_above_max"] == ["c", "d", "f"]
    assert superfilter.warnings == []  # IFD above 1 for c and d only: 2 of 5 scored rows, not most
    inflated = handmade_run(tmp_path, ids, [3.0] * 6, [1.0] * 5 + [4.0], [1] * 6, [False] * 6, template="paper")
    warned = rank_by_ifd(ctx, inflated, "superfilter", inclusive=False, drop_truncated=False)
    assert len(warned.warnings) == 1 and "'paper' template" in warned.warnings[0] and warned.ids == ["f"]


def test_facility_location_covers_clusters_first():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32)
    vectors = np.concatenate([c + 0.05 * rng.standard_normal((10, 16)).astype(np.float32) for c in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    order = facility_location_order(vectors, 4)
    assert sorted(i // 10 for i in order) == [0, 1, 2, 3]
    assert facility_location_order(vectors, 40)[:4] == order and len(facility_location_order(vectors, 100)) == 40


def test_superfilter_with_diversity_step(alpaca_slice, tmp_path, tiny_lm):
    options = SelectOptions(model=tiny_lm, max_length=48, diversity=True, embedder="minilm")
    manifest = select(alpaca_slice, "superfilter", [3, 6], tmp_path / "sel", options, store=ArtifactStore(tmp_path / "s"))[0]
    diversity = manifest["info"]["diversity"]
    assert diversity["method"] == "facility-location" and diversity["chosen"] == min(6, manifest["ranked"])
    ranked = lines(tmp_path / "sel" / "alpaca30_superfilter-diversity.ranking.jsonl")
    assert len(ranked) == manifest["ranked"] and manifest["reconciles"]
    assert manifest["subsets"]["6"]["path"] == "alpaca30_superfilter-diversity_6.jsonl"
    plain = select(alpaca_slice, "superfilter", [3, 6], tmp_path / "sel", SelectOptions(model=tiny_lm, max_length=48),
                   store=ArtifactStore(tmp_path / "s"))[0]
    assert plain["subsets"]["6"]["path"] == "alpaca30_superfilter_6.jsonl"  # the same folder, no overwrite
    assert lines(tmp_path / "sel" / "alpaca30_superfilter-diversity_6.jsonl") != lines(tmp_path / "sel" / "alpaca30_superfilter_6.jsonl")
    pool = read_pool(alpaca_slice)
    assert {r["id"] for r in ranked} <= set(pool["id"])


@pytest.mark.slow
def test_superfilter_end_to_end_with_smollm2(alpaca_slice, tmp_path, smollm2, run_cli):
    result = run_cli("select", "--pool", alpaca_slice, "--strategy", "superfilter", "--model", "smollm2-135m-instruct",
                     "--max-length", "64", "--budgets", "5,10", "--out", tmp_path / "sel", "--store", tmp_path / "s")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "sel" / "alpaca30_superfilter.manifest.json").read_text())
    # An instruction-tuned model: the instruction helps on most real rows, so most IFD values are below 1.
    assert manifest["ranked"] > 15 and manifest["subsets"]["10"]["rows"] == 10 and not manifest["warnings"]
