"""Embedding tables: unit float32 vectors with their ids, causal-LM pooling against a per-row computation, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from chasing_random.data.pool import read_pool
from chasing_random.errors import ChaseError
from chasing_random.scoring.embeddings import embedding_table
from chasing_random.store import ArtifactStore

ROWS = [{"instruction": f"Question number {i}: " + "why? " * (i % 5), "output": f"Answer {i}"} for i in range(9)]


@pytest.fixture
def pool(pool_from_rows):
    return pool_from_rows(ROWS, "toy")


@pytest.mark.parametrize("pooling", ["mean", "last-token"])
def test_causal_lm_pooling_matches_per_row_hidden_states(pool, tmp_path, tiny_lm, pooling):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = embedding_table(pool, tiny_lm, pooling=pooling, field="both", store=ArtifactStore(tmp_path / "s"),
                             batch_size=4)
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    frame = read_pool(pool)
    assert result.ids == list(frame["id"]) and result.vectors.dtype == np.float32
    for row, (text_in, text_out) in enumerate(zip(frame["input"], frame["target"])):
        ids = tokenizer(f"{text_in}\n\n{text_out}")["input_ids"]
        with torch.no_grad():
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
        vector = (hidden.mean(0) if pooling == "mean" else hidden[-1]).numpy()
        assert np.allclose(result.vectors[row], vector / np.linalg.norm(vector), atol=1e-5)


def test_minilm_vectors_are_unit_length_and_cached(pool, tmp_path):
    store = ArtifactStore(tmp_path / "s")
    first = embedding_table(pool, "minilm", store=store)
    assert first.vectors.shape == (len(ROWS), 384)
    assert np.allclose(np.linalg.norm(first.vectors, axis=1), 1, atol=1e-5)
    again = embedding_table(pool, "minilm", store=store)
    assert again.run.reused and np.array_equal(again.vectors, first.vectors)


def test_resume_and_bad_options(pool, tmp_path, tiny_lm, run_cli):
    store = ArtifactStore(tmp_path / "s")

    def interrupt(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embedding_table(pool, tiny_lm, store=store, shard_rows=4, on_shard=interrupt)
    resumed = embedding_table(pool, tiny_lm, store=store, shard_rows=4)
    assert resumed.run.computed_shards == [1, 2] and len(resumed.ids) == len(ROWS)
    with pytest.raises(ChaseError, match="valid: mean, last-token"):
        embedding_table(pool, tiny_lm, pooling="cls", store=store)
    result = run_cli("score", "embed", "--pool", pool, "--model", tiny_lm, "--field", "title", "--store", tmp_path / "s")
    assert result.code == 2 and "valid: input, target, both" in result.err
    result = run_cli("score", "embed", "--pool", pool, "--model", tiny_lm, "--store", tmp_path / "s")
    assert result.code == 0 and json.loads(result.out)["dimensions"] == 32
