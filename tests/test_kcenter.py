"""k-center greedy: the lazy version picks exactly what the plain loop picks; the strategy on embeddings of any model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chasing_random.data.pool import build_pool
from chasing_random.selection.base import SelectOptions, select
from chasing_random.selection.kcenter import kcenter_greedy, kcenter_reference
from chasing_random.store import ArtifactStore


@pytest.mark.parametrize("rows,dim,budget", [(50, 4, 50), (2000, 16, 300), (5000, 64, 200)])
def test_lazy_kcenter_equals_the_plain_loop(rows, dim, budget):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[7] = x[8] = x[9]  # duplicates: ties go to the lower index in both
    order, distances = kcenter_greedy(x, budget, 3, block_rows=128)
    assert order == kcenter_reference(x, budget, 3)
    assert len(set(order)) == len(order) == budget
    assert all(a >= b - 1e-6 for a, b in zip(distances[1:], distances[2:]))  # the covering radius never grows
    nearest = (x[order[:-1]] @ x[order[-1]]).max()
    assert distances[-1] == pytest.approx(1 - nearest, abs=1e-6)


def test_kcenter_picks_one_row_per_cluster_first():
    rng = np.random.default_rng(0)
    centres = np.eye(8, dtype=np.float32)
    x = np.repeat(centres, 20, axis=0) + 0.01 * rng.standard_normal((160, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    order, _ = kcenter_greedy(x, 8, 0)
    assert sorted(i // 20 for i in order) == list(range(8))


def test_kcenter_strategy_on_a_causal_lm_embedding_table(tmp_path, shared_data, tiny_lm):
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:80]
    (tmp_path / "src.json").write_text(json.dumps(rows))
    build_pool("alpaca", str(tmp_path / "src.json"), tmp_path / "alp.parquet", on_error="skip")
    store = ArtifactStore(tmp_path / "s")
    m = select(tmp_path / "alp.parquet", "kcenter", [10, 30], tmp_path / "sel", SelectOptions(seed=1, embedder=tiny_lm), store=store)[0]
    assert m["reconciles"] and m["subsets"]["30"]["rows"] == 30 and m["targeted"] is False
    assert m["excluded"] == {"not reached: budget 30 filled": m["pool_rows"] - 30}
    again = select(tmp_path / "alp.parquet", "kcenter", [10, 30], tmp_path / "sel2", SelectOptions(seed=1, embedder=tiny_lm),
                   store=store)[0]
    assert (tmp_path / "sel" / "alp_kcenter_30.jsonl").read_bytes() == (tmp_path / "sel2" / "alp_kcenter_30.jsonl").read_bytes()
    assert again["info"]["embeddings"]["reused"] is True


@pytest.mark.parametrize("block_rows", [5, 128, 4096])
def test_near_ties_are_decided_in_float64_whatever_the_blocking(block_rows, near_tie_rows):
    """Rows a few float32 ulps apart: the float32 products cannot order them, the float64 decision must."""
    x = near_tie_rows(5, 40, 25, 32)
    order, _ = kcenter_greedy(x, 200, 11, block_rows=block_rows)
    assert order == kcenter_reference(x, 200, 11)
