"""The blocked diversity filter returns exactly what the plain one-candidate-at-a-time loop returns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chasing_random.errors import ChaseError
from chasing_random.selection.diversity import diversity_walk, diversity_filter, normalise_rows, underflow_report


def plain_loop(embeddings, scores, budget, threshold):
    """The reference: score order (ties by lower index), each candidate against every kept row."""
    unit = normalise_rows(embeddings).astype(np.float64)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if len(kept) >= budget:
            break
        if all(math.fsum((unit[i] * unit[j]).tolist()) <= threshold for j in kept):
            kept.append(i)
    return kept


@st.composite
def pools(draw):
    n = draw(st.integers(0, 60))
    dim = draw(st.integers(1, 6))
    base = draw(st.lists(st.lists(st.integers(-3, 3), min_size=dim, max_size=dim), min_size=1, max_size=8))
    rows = [base[draw(st.integers(0, len(base) - 1))] for _ in range(n)]  # many exact duplicates
    noise = draw(st.lists(st.floats(-0.25, 0.25, width=32), min_size=n * dim, max_size=n * dim))
    noisy = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    emb = np.array(rows, dtype=np.float32).reshape(n, dim)
    if n:
        emb = emb + np.array(noise, dtype=np.float32).reshape(n, dim) * np.array(noisy, dtype=np.float32)[:, None]
    scores = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.float64)  # many ties
    return emb, scores


@settings(max_examples=300, deadline=None)
@given(pools(), st.integers(0, 70), st.one_of(st.sampled_from([0.0, 0.5, 0.9, 1.0, -1.0]), st.floats(-1.0, 1.0)),
       st.integers(1, 9))
def test_blocked_filter_equals_plain_loop(pool, budget, threshold, block_size):
    emb, scores = pool
    result = diversity_walk(emb, scores, budget, threshold, block_size=block_size)
    assert result.indices.tolist() == plain_loop(emb, scores, budget, threshold)
    assert result.indices.dtype.kind == "i"


def test_exact_duplicates_at_threshold_one_and_near_threshold_pairs():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 16)).astype(np.float32)
    emb = np.concatenate([base, base, base * 3, base + 1e-7]).astype(np.float32)
    scores = rng.integers(0, 3, len(emb)).astype(float)
    for threshold in (1.0, 0.9999999, 0.5):
        for block in (1, 7, 2048):
            assert diversity_walk(emb, scores, 120, threshold, block).indices.tolist() == \
                plain_loop(emb, scores, 120, threshold)


def test_underflow_is_reported_with_a_looser_threshold():
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((5, 32))
    emb = np.repeat(centers, 20, axis=0) + rng.standard_normal((100, 32)) * 0.01
    scores = rng.random(100)
    result = diversity_walk(emb, scores, 10, 0.9)
    assert len(result.indices) == 5 and result.examined == 100
    message = underflow_report(result, 10, 0.9)
    assert "reached 5 of 10" in message and "higher similarity threshold" in message
    assert underflow_report(diversity_walk(emb, scores, 5, 0.9), 5, 0.9) is None
    suggested = float(message.split("about ")[1].split(" ")[0])
    assert len(diversity_filter(emb, scores, 10, suggested)) == 10


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ChaseError, match="NaN"):
        diversity_filter(np.ones((2, 3)), np.array([1.0, np.nan]), 1, 0.9)
    with pytest.raises(ChaseError, match="embeddings must be"):
        diversity_filter(np.ones((2, 3)), np.array([1.0]), 1, 0.9)
