"""Source adapters on native layouts, joins, and pools built from the real samples."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from chasing_random.data.pool import build_pool, merge_pools, pool_info, read_pool
from chasing_random.data.records import record_id
from chasing_random.data.sources import AdapterOptions
from chasing_random.errors import ChaseError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build(tmp_path, source, rows, **kwargs):
    src = write_jsonl(tmp_path / f"{source}.jsonl", rows)
    out = tmp_path / f"{source}.parquet"
    report = build_pool(source, str(src), out, **kwargs)
    return report, read_pool(out)


def test_alpaca_joins_instruction_and_context(tmp_path):
    rows = [{"instruction": "Translate.", "input": "Hola", "output": "Hello"},
            {"instruction": "Say hi.", "input": "", "output": "Hi"}]
    _, frame = build(tmp_path, "alpaca", rows)
    assert list(frame["input"]) == ["Translate.\n\nHola", "Say hi."]
    _, paper = build(tmp_path, "alpaca", rows, options=AdapterOptions(join="paper"))
    assert list(paper["input"]) == ["Translate.Hola", "Say hi."]
    meta = json.loads(frame["meta"][0])
    assert meta["row"] == 1 and meta["has_context"] is True


def test_dolly_native_layout_keeps_category(tmp_path):
    rows = [{"instruction": "Who?", "context": "Ada wrote code.", "response": "Ada", "category": "closed_qa"}]
    _, frame = build(tmp_path, "dolly", rows)
    assert frame["input"][0] == "Who?\n\nAda wrote code." and frame["target"][0] == "Ada"
    assert json.loads(frame["meta"][0])["category"] == "closed_qa"


def test_sharegpt_and_evol_take_first_exchange(tmp_path):
    conv = [{"from": "system", "value": "be nice"}, {"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"},
            {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]
    for source in ("sharegpt", "evol"):
        _, frame = build(tmp_path, source, [{"idx": "x1", "conversations": conv}])
        assert (frame["input"][0], frame["target"][0], frame["source"][0]) == ("Q1", "A1", source)
        meta = json.loads(frame["meta"][0])
        assert meta["n_turns"] == 5 and meta["idx"] == "x1" and meta["system"] == ["be nice"]
        assert [t["value"] for t in meta["other_turns"]] == ["be nice", "Q2", "A2"]


def test_messages_layout(tmp_path):
    msgs = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    _, frame = build(tmp_path, "messages", [{"messages": msgs}])
    assert (frame["input"][0], frame["target"][0]) == ("Hi?", "Hello.")


def test_flan_flat_and_nested(tmp_path):
    rows = [{"inputs": "2+2?", "targets": "4", "task_name": "math"},
            {"cola": {"input": "Is this ok?", "target": "yes"}}]
    _, frame = build(tmp_path, "flan", rows)
    assert list(frame["target"]) == ["4", "yes"]
    assert json.loads(frame["meta"][0])["task_name"] == "math"
    assert json.loads(frame["meta"][1])["task"] == "cola"


def test_generic_fields_and_parquet(tmp_path):
    import pyarrow as pa

    table = pa.Table.from_pylist([{"q": "Why?", "ctx": "sky", "a": "Rayleigh"}])
    pq.write_table(table, tmp_path / "raw.parquet")
    opts = AdapterOptions(input_field="q", target_field="a", context_field="ctx")
    build_pool("parquet", str(tmp_path / "raw.parquet"), tmp_path / "out.parquet", options=opts)
    frame = read_pool(tmp_path / "out.parquet")
    assert frame["input"][0] == "Why?\n\nsky" and frame["target"][0] == "Rayleigh"


def test_ids_are_content_hashes_and_stable(tmp_path):
    rows = [{"instruction": "a", "output": "b"}]
    _, first = build(tmp_path, "alpaca", rows)
    assert first["id"][0] == record_id("a", "b")
    _, again = build(tmp_path, "alpaca", rows)
    assert first["id"][0] == again["id"][0]


def test_duplicates_dropped_and_counted(tmp_path):
    rows = [{"instruction": "a", "output": "b"}] * 3 + [{"instruction": "c", "output": "d"}]
    report, frame = build(tmp_path, "alpaca", rows)
    assert (report.read, report.kept, report.duplicates) == (4, 2, 2) and report.reconciles
    assert len(frame) == 2


def test_limit_and_merge_are_seeded(tmp_path):
    rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(50)]
    report, frame = build(tmp_path, "alpaca", rows, limit=10, seed=3)
    assert report.kept == 10 and report.sampled_out == 40 and report.reconciles
    _, again = build(tmp_path, "alpaca", rows, limit=10, seed=3)
    assert list(frame["id"]) == list(again["id"])
    merged = merge_pools([tmp_path / "alpaca.parquet", tmp_path / "alpaca.parquet"], tmp_path / "m.parquet")
    assert merged.kept == 10 and merged.duplicates == 10


def test_hub_id_fails_fast_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ChaseError, match="pass a local file"):
        build_pool("dolly", "databricks/databricks-dolly-15k", tmp_path / "x.parquet")


def test_pools_from_every_shared_file(tmp_path, shared_data):
    expected = {"alpaca_random_9k.json": ("alpaca", 9229), "dolly_rated_3k.json": ("dolly", 2996),
                "lima_100.json": ("alpaca", 100)}
    for name, (source, rows) in expected.items():
        out = tmp_path / f"{name}.parquet"
        report = build_pool(source, str(shared_data / name), out, on_error="skip")
        assert report.read == rows and report.reconciles
        assert len(read_pool(out)) == report.kept > 0.99 * rows
    dolly = pool_info(tmp_path / "dolly_rated_3k.json.parquet")
    assert dolly["duplicate_ids"] == 0 and sum(dolly["categories"].values()) == dolly["rows"]


def test_alpaca_sample_empty_outputs_named_by_line(tmp_path, shared_data):
    with pytest.raises(ChaseError, match=r"alpaca_random_9k.json:7307: field 'output': empty"):
        build_pool("alpaca", str(shared_data / "alpaca_random_9k.json"), tmp_path / "p.parquet")
    assert not (tmp_path / "p.parquet").exists()
    report = build_pool("alpaca", str(shared_data / "alpaca_random_9k.json"), tmp_path / "p.parquet", on_error="skip")
    assert (report.read, report.kept, report.quarantined, report.duplicates) == (9229, 9225, 4, 0)
