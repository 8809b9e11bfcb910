"""Streaming pools: several row groups, several gathering passes and batch-wise dedupe give the same rows
as one row group held whole; bytes are unchanged while a pool fits one row group."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import chasing_random.data.pool as pool_module
import chasing_random.selection.base as selection_base
from chasing_random.data.pool import SeenIds, build_pool, merge_pools, pool_info, read_pool
from chasing_random.selection.base import SelectOptions, select

N = 900


@pytest.fixture
def source(tmp_path):
    """900 rows, every 9th a repeat of the row before it, one with an empty output, categories in meta."""
    rows = []
    for i in range(N):
        row = rows[-1] if i % 9 == 8 else {"instruction": f"question {i}", "output": "x" * (i * 7 % 23) + f" {i}",
                                            "category": ["a", "b", "c"][i % 3]}
        rows.append(row)
    rows[100] = {"instruction": "no answer", "output": ""}
    path = tmp_path / "src.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def build_both(source, tmp_path, monkeypatch, **options):
    """The pool built as one row group and as row groups of 64 rows (written, and sampled, in pieces)."""
    whole = build_pool("alpaca", str(source), tmp_path / "whole.parquet", on_error="skip", **options)
    monkeypatch.setattr(pool_module, "ROW_GROUP_ROWS", 64)
    pieces = build_pool("alpaca", str(source), tmp_path / "pieces.parquet", on_error="skip", **options)
    monkeypatch.undo()
    assert pq.ParquetFile(tmp_path / "whole.parquet").num_row_groups == 1
    assert pq.ParquetFile(tmp_path / "pieces.parquet").num_row_groups >= 4
    return whole, pieces


@pytest.mark.parametrize("limit", [None, 250])
def test_row_groups_do_not_change_rows_or_counts(source, tmp_path, monkeypatch, limit):
    whole, pieces = build_both(source, tmp_path, monkeypatch, limit=limit, seed=5)
    assert whole.as_dict() | {"out": None, "quarantine_file": None} == pieces.as_dict() | {"out": None, "quarantine_file": None}
    assert (whole.read, whole.duplicates, whole.quarantined) == (N, 100, 1) and whole.reconciles
    assert whole.kept == (limit or N - 101)
    assert read_pool(tmp_path / "whole.parquet").equals(read_pool(tmp_path / "pieces.parquet"))
    assert sorted(tmp_path.iterdir()) == sorted(tmp_path / name for name in (
        "src.jsonl", "whole.parquet", "whole.parquet.manifest.json", "whole.quarantine.jsonl",
        "pieces.parquet", "pieces.parquet.manifest.json", "pieces.quarantine.jsonl"))  # no temporary file left


def test_merge_and_info_read_in_batches(source, tmp_path, monkeypatch):
    build_both(source, tmp_path, monkeypatch)
    monkeypatch.setattr(pool_module, "READ_BATCH", 50)
    merged = merge_pools([tmp_path / "pieces.parquet", tmp_path / "whole.parquet"], tmp_path / "merged.parquet")
    assert (merged.read, merged.kept, merged.duplicates) == (2 * (N - 101), N - 101, N - 101)
    info = pool_info(tmp_path / "pieces.parquet")
    monkeypatch.undo()
    expected = pool_info(tmp_path / "whole.parquet")
    assert info | {"path": None} == expected | {"path": None}
    assert info["rows"] == N - 101 and info["duplicate_ids"] == 0 and info["duplicate_inputs"] == 0
    assert info["categories"] == {"a": 300, "b": 299, "c": 200}
    assert read_pool(tmp_path / "merged.parquet").equals(read_pool(tmp_path / "whole.parquet"))


@pytest.mark.parametrize("strategy", ["random", "strictrandom", "longest", "full"])
def test_subsets_gathered_in_several_passes_are_the_same(source, tmp_path, monkeypatch, strategy):
    build_both(source, tmp_path, monkeypatch)
    select(tmp_path / "whole.parquet", strategy, [30, 500], tmp_path / "one", SelectOptions(seed=2))
    monkeypatch.setattr(selection_base, "SUBSET_CHUNK", 37)
    monkeypatch.setattr(pool_module, "READ_BATCH", 50)
    select(tmp_path / "pieces.parquet", strategy, [30, 500], tmp_path / "many", SelectOptions(seed=2))
    names = sorted(p.name.replace("whole", "X") for p in (tmp_path / "one").glob("*.jsonl"))
    assert names == sorted(p.name.replace("pieces", "X") for p in (tmp_path / "many").glob("*.jsonl"))
    for one in (tmp_path / "one").glob("*.jsonl"):
        assert one.read_bytes() == (tmp_path / "many" / one.name.replace("whole", "pieces")).read_bytes()
    subsets = [p for p in (tmp_path / "one").glob("*.jsonl") if p.name.endswith(("_500.jsonl", "_500_2.jsonl"))]
    if strategy != "full":
        rows = [json.loads(line) for line in subsets[0].read_text().splitlines()]
        by_id = read_pool(tmp_path / "whole.parquet").set_index("id")
        assert len(rows) == 500 and all(by_id.loc[r["id"], "target"] == r["target"] for r in rows)


def test_seen_ids_finds_repeats_within_and_across_calls():
    seen = SeenIds()
    assert seen.first_seen(["a", "b", "a", None]).tolist() == [True, True, False, True]
    assert seen.first_seen(["c", "b", None, "c", "d"]).tolist() == [True, False, False, False, True]
    assert seen.first_seen([]).tolist() == []
