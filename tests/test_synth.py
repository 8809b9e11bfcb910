"""The audit pool: clean rows verify, corrupted rows fail, exact counts, determinism, held-out scoring."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from chasing_random.data.pool import read_pool
from chasing_random.data.synth import (CORRUPTIONS, LABELS, MAX_CLEAN_CHARS, MIN_LONG_WRONG_CHARS, corruption_counts,
                                       corruption_rates, generate_records, heldout_set, is_heldout_key, score_heldout,
                                       verify)
from chasing_random.errors import ChaseError
from chasing_random.store import read_manifest


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=5, max_value=300), fraction=st.floats(min_value=0.0, max_value=0.8),
       seed=st.integers(min_value=0, max_value=2**31))
def test_clean_rows_verify_and_corrupted_rows_fail(n, fraction, seed):
    records = generate_records(n, fraction, seed)
    counts = corruption_counts(n, fraction)
    assert len(records) == n
    assert {label: sum(r.meta["corruption"] == label for r in records) for label in LABELS} == counts
    assert sum(counts[c] for c in CORRUPTIONS) == round(n * fraction)
    assert len({r.id for r in records}) == n and len({r.input for r in records}) == n
    by_id = {r.id: r for r in records}
    for record in records:
        label, ok = record.meta["corruption"], verify(record.meta["check"], record.target)
        assert ok == (label in ("none", "near_duplicate")), (label, record.input, record.target)
        assert not is_heldout_key(record.meta["task_key"])
        if label == "none":
            assert len(record.target) <= MAX_CLEAN_CHARS
        if label == "long_wrong_answer":
            assert len(record.target) >= MIN_LONG_WRONG_CHARS
        if label == "near_duplicate":
            original = by_id[record.meta["duplicate_of"]]
            assert original.meta["corruption"] == "none" and original.target == record.target
            assert original.input != record.input and original.meta["task_key"] == record.meta["task_key"]


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=60))
def test_verify_never_crashes_and_exact_is_lenient(text):
    for check in ({"kind": "exact", "answer": "42"}, {"kind": "list", "answer": ["1", "2"]},
                  {"kind": "bullets", "n": 2}, {"kind": "lowercase", "min_words": 3},
                  {"kind": "include_word", "word": "x+y"}, {"kind": "end_phrase", "phrase": "The end."}):
        assert verify(check, text) in (True, False)
    assert verify({"kind": "exact", "answer": "42"}, '  "42".  ')
    assert verify({"kind": "exact", "answer": "olleh"}, "OLLEH!")
    assert not verify({"kind": "exact", "answer": "HELLO", "case_sensitive": True}, "hello")
    assert verify({"kind": "list", "answer": ["apple", "pear"]}, "Apple,pear.")


def test_same_seed_is_byte_identical_and_different_seed_differs(tmp_path, run_cli):
    paths = [tmp_path / name for name in ("a.parquet", "b.parquet", "c.parquet")]
    for path, seed in zip(paths, (3, 3, 4)):
        result = run_cli("pool", "synth", "--n", "400", "--corrupt", "0.3", "--seed", seed, "--out", path)
        assert result.code == 0, result.err
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    frame = read_pool(paths[0])
    assert list(frame.columns) == ["id", "input", "target", "source", "meta"]
    assert set(frame["source"]) == {"synth"}
    manifest = read_manifest(paths[0])
    assert manifest["counts"]["corruption"]["none"] == 280 and manifest["config"]["seed"] == 3


def test_bad_options_are_clean_errors(tmp_path, run_cli):
    result = run_cli("pool", "synth", "--n", "10", "--corrupt", "1.5", "--out", tmp_path / "x.parquet")
    assert result.code == 2 and "--corrupt" in result.err
    with pytest.raises(ChaseError):
        corruption_counts(0, 0.1)


def test_corruption_rates_of_a_subset(tmp_path):
    from chasing_random.data.synth import write_synth_pool

    write_synth_pool(200, 0.5, 1, tmp_path / "p.parquet")
    frame = read_pool(tmp_path / "p.parquet")
    labels = [json.loads(m)["corruption"] for m in frame["meta"]]
    ids = [i for i, label in zip(frame["id"], labels) if label in ("none", "truncated_answer")][:40]
    rates = corruption_rates(frame, ids)
    expected_none = sum(labels[list(frame["id"]).index(i)] == "none" for i in ids) / 40
    assert rates["none"] == pytest.approx(expected_none)
    assert rates["none"] + rates["truncated_answer"] == pytest.approx(1.0)
    assert rates["wrong_answer"] == 0.0 and set(rates) == set(LABELS)
    with pytest.raises(ChaseError, match="not in the pool"):
        corruption_rates(frame, ["nope"])


def test_heldout_is_disjoint_deterministic_and_scored(tmp_path):
    items = heldout_set(150, seed=0)
    assert items == heldout_set(150, seed=0) and items != heldout_set(150, seed=1)
    assert len({i["instruction"] for i in items}) == 150
    assert all(i["dataset"] == "synth_heldout" and is_heldout_key(i["task_key"]) for i in items)
    pool_keys = {r.meta["task_key"] for r in generate_records(2000, 0.3, 0)}
    assert not pool_keys & {i["task_key"] for i in items}
    assert len({i["family"] for i in items}) >= 10
    outputs = [{"instruction": i["instruction"], "output": i["reference"] + ("\n" if n % 2 else "")}
               for n, i in enumerate(items)]
    outputs[0]["output"] = "something else entirely"
    scores = score_heldout(outputs, items)
    assert [s["score"] for s in scores] == [0.0] + [1.0] * 149
    with pytest.raises(ChaseError, match="no output"):
        score_heldout(outputs[1:], items)
