"""ZIP: the copied zlib stream measures exactly what compressing from scratch measures; the three-stage loop."""

from __future__ import annotations

import json
import zlib

import pytest

from chasing_random.data.pool import build_pool
from chasing_random.errors import ChaseError
from chasing_random.selection.base import SelectOptions, select
from chasing_random.selection.zip_entropy import LEVEL, Stream, zip_order


def test_stream_ratio_equals_compressing_from_scratch(shared_data):
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:400]
    texts = [f"{r['instruction']}\n{r['output']}".encode() for r in rows]
    stream = Stream()
    for t in texts[:300]:
        stream.add(t)
    joined = b"".join(texts[:300])
    for t in texts[300:]:
        assert stream.ratio_with(t) == (len(joined) + len(t)) / len(zlib.compress(joined + t, LEVEL))


def test_zip_prefers_rows_that_add_information():
    # 20 copies of one sentence and 20 different sentences: ZIP takes the distinct ones first.
    repeated = [b"the cat sat on the mat and looked at the dog " * 3] * 20
    distinct = [f"row {i}: {'abcdefghijklmnopqrstuvwxyz'[i:] } {i * 7919} quantum {i ** 3}".encode() for i in range(20)]
    order, ratios = zip_order(repeated + distinct, 15, k1=40, k2=20, k3=5)
    assert len(order) == 15 and len(set(order)) == 15
    assert sum(i >= 20 for i in order) >= 14
    assert len(ratios) == 15
    with pytest.raises(ChaseError, match="K1 >= K2 >= K3"):
        zip_order(distinct, 5, k1=2, k2=5, k3=1)


def test_zip_strategy_nests_budgets(tmp_path, shared_data):
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:150]
    (tmp_path / "src.json").write_text(json.dumps(rows))
    build_pool("alpaca", str(tmp_path / "src.json"), tmp_path / "alp.parquet", on_error="skip")
    m = select(tmp_path / "alp.parquet", "zip", [10, 40], tmp_path / "sel", SelectOptions(zip_k1=100, zip_k2=30, zip_k3=10))[0]
    assert m["reconciles"] and m["subsets"]["40"]["rows"] == 40 and m["info"]["final_ratio"] > 1
    small = (tmp_path / "sel" / "alp_zip_10.jsonl").read_text().splitlines()
    large = (tmp_path / "sel" / "alp_zip_40.jsonl").read_text().splitlines()
    assert large[:10] == small
