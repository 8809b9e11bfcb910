"""RDS+: position-weighted base-model embeddings, exact blocked round-robin, targeted and untargeted modes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chasing_random.data.pool import build_pool, read_pool
from chasing_random.selection.base import SelectOptions, get_strategy, select
from chasing_random.selection.rds import round_robin, round_robin_reference, top_k
from chasing_random.store import ArtifactStore


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("n,q,budget,block", [(60, 3, 60, 7), (500, 9, 120, 64), (3000, 40, 900, 256)])
def test_blocked_round_robin_equals_the_plain_loop(n, q, budget, block):
    rng = np.random.default_rng(n)
    pool, queries = unit(rng, n, 16), unit(rng, q, 16)
    pool[5] = pool[6] = pool[7]  # exact ties: the lower index goes first in both
    order, scores, by_query = round_robin(pool, queries, budget, block_rows=block)
    assert order == round_robin_reference(pool, queries, budget)
    assert len(set(order)) == len(order) == budget
    assert np.allclose(scores, [queries[qi] @ pool[r] for r, qi in zip(order, by_query)], atol=1e-6)
    assert by_query[:q] == list(range(q))  # each query takes one row per round


def test_top_k_is_sorted_with_lower_index_on_ties():
    pool = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], dtype=np.float32)
    [(idx, sim)] = top_k(pool, np.array([[1, 0]], dtype=np.float32), 3, block_rows=2)
    assert idx.tolist() == [0, 1, 3] and sim.tolist() == [1, 1, 1]


def test_top_k_keeps_every_row_within_the_slack_of_the_kth():
    pool = np.array([[1, 0], [0.9, 0.1], [0.5, 0.5], [0.89995, 0.1], [0.2, 0.8]], dtype=np.float32)
    [(idx, _)] = top_k(pool, np.array([[1, 0]], dtype=np.float32), 2, block_rows=2, slack=1e-4)
    assert idx.tolist() == [0, 1, 3]  # row 3 is 5e-5 below the 2nd: rounding could swap them, so it stays


@pytest.mark.parametrize("block", [3, 64, 4096])
def test_near_ties_are_decided_in_float64_whatever_the_blocking(block, near_tie_rows):
    """Pool rows a few float32 ulps apart: the float32 products cannot order them, the float64 decision must."""
    pool = near_tie_rows(3, 30, 20, 48)
    queries = pool[::37] + np.float32(1e-3)
    order = round_robin(pool, queries, 300, block_rows=block)[0]
    assert order == round_robin_reference(pool, queries, 300)


@pytest.fixture
def pool(tmp_path, shared_data):
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:120]
    src = tmp_path / "src.json"
    src.write_text(json.dumps(rows))
    build_pool("alpaca", str(src), tmp_path / "alp.parquet", on_error="skip")
    return tmp_path / "alp.parquet"


def test_weighted_mean_pooling_weighs_position_t_by_t(tiny_lm):
    import torch

    from chasing_random.models.loading import load_causal_lm
    from chasing_random.scoring.embeddings import causal_lm_embeddings

    model, tok = load_causal_lm(tiny_lm, dtype="float32", device="cpu")
    texts = ["a short one", "a much longer text that needs padding in its batch"]
    got = causal_lm_embeddings(model, tok, texts, pooling="weighted-mean", batch_size=2, max_length=64)
    ids = tok(texts[0], add_special_tokens=True, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
    weights = torch.arange(1, ids.shape[1] + 1, dtype=torch.float32)
    expected = (hidden * weights[:, None]).sum(0) / weights.sum()
    assert np.allclose(got[0], expected.numpy(), atol=1e-5)


def test_rds_targeted_and_untargeted(pool, tmp_path, tiny_lm):
    store = ArtifactStore(tmp_path / "store")
    queries = tmp_path / "queries.jsonl"
    frame = read_pool(pool)
    queries.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in frame["input"][:3]))
    opts = SelectOptions(model=tiny_lm, queries=f"file:{queries}", batch_size=16)
    m = select(pool, "rds", [6, 30], tmp_path / "t", opts, store=store)[0]
    assert m["targeted"] is True and m["reconciles"] and m["info"]["n_queries"] == 3
    first = [json.loads(line)["id"] for line in (tmp_path / "t" / "alp_rds_6.jsonl").read_text().splitlines()]
    assert set(first[:3]) == set(frame["id"][:3])  # each query's nearest row is its own text
    assert m["excluded"] == {"not reached: budget 30 filled": len(frame) - 30}
    # the pool index is reused for another query set; untargeted holds out a pool sample
    u = select(pool, "rds", [20], tmp_path / "u", SelectOptions(model=tiny_lm, query_limit=10, batch_size=16),
               store=store)[0]
    assert u["targeted"] is False and u["info"]["embeddings"][0]["reused"] is True
    assert u["excluded"]["held out as RDS queries"] == 10 and u["reconciles"] and u["subsets"]["20"]["rows"] == 20
    held = {json.loads(line)["id"] for line in (tmp_path / "u" / "alp_rds.excluded.jsonl").read_text().splitlines()
            if json.loads(line)["reason"].startswith("held out")}
    chosen = {json.loads(line)["id"] for line in (tmp_path / "u" / "alp_rds_20.jsonl").read_text().splitlines()}
    assert not held & chosen
    assert get_strategy("rds").is_targeted(SelectOptions(queries="ifeval"))
