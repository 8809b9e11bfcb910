"""Cherry: the perplexity-band sample, the pre-experienced model (cached), IFD exclusions and ranking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chasing_random.scoring.losses import loss_table
from chasing_random.selection.base import SelectOptions, select
from chasing_random.scoring.pre_experience import band_sample
from chasing_random.store import ArtifactStore


@pytest.fixture(scope="module")
def alpaca_slice(alpaca_rows, pool_from_rows):
    return pool_from_rows(alpaca_rows[100:130], "alp")


def test_band_sample_keeps_the_middle_and_spaces_picks_evenly():
    labels = np.array([0] * 9 + [1] * 3)
    perplexity = np.array([9, 1, 8, 2, 7, 3, 6, 4, 5, 30, 10, 20], dtype=float)
    picked = band_sample(labels, perplexity, 2)
    # cluster 0: band [3, 7] = rows 5, 7, 8, 6, 4 by perplexity, first and last picked; cluster 1: band [15, 25] = row 11
    assert picked == [4, 5, 11]
    assert band_sample(labels, perplexity, 50) == [4, 5, 6, 7, 8, 11]


def test_cherry_with_pre_experience(alpaca_slice, tmp_path, tiny_lm):
    store = ArtifactStore(tmp_path / "store")
    options = SelectOptions(model=tiny_lm, max_length=64, clusters=3, per_cluster=2, batch_size=4,
                            extra={"train_overrides": {"max_steps": 2}})
    manifest = select(alpaca_slice, "cherry", [5, 10], tmp_path / "sel", options, store=store)[0]
    pre = manifest["info"]["pre_experience"]
    assert pre["clusters"] == 3 and pre["sample_rows"] == len(pre["sample_ids"]) <= 6 and not pre["reused"]
    model_dir = Path(pre["model"])
    assert (model_dir / "config.json").exists()
    frame = loss_table(alpaca_slice, str(model_dir), "cherry", 64, store=store).frame.set_index("id")
    ranking = [json.loads(line) for line in (tmp_path / "sel" / "alp_cherry.ranking.jsonl").read_text().splitlines()]
    for row in ranking:
        assert not frame.loc[row["id"], "truncated"]
        assert abs(row["score"] - frame.loc[row["id"], "loss_cond"] / frame.loc[row["id"], "loss_direct"]) < 1e-9
        assert row["score"] <= 1
    assert manifest["excluded"].get("truncated", 0) == int(frame["truncated"].sum())
    assert manifest["reconciles"] and manifest["info"]["template"] == "cherry"
    again = select(alpaca_slice, "cherry", [5, 10], tmp_path / "sel2", options, store=store)[0]
    assert again["info"]["pre_experience"]["reused"]
    assert again["cost"]["device_hours"] == manifest["cost"]["device_hours"] > 0  # cost to make, also when reused
    assert (tmp_path / "sel" / "alp_cherry_10.jsonl").read_bytes() == (tmp_path / "sel2" / "alp_cherry_10.jsonl").read_bytes()


def test_cherry_skip_pre_experience_cli(alpaca_slice, tmp_path, tiny_lm, run_cli):
    result = run_cli("select", "--pool", alpaca_slice, "--strategy", "cherry", "--model", tiny_lm, "--max-length", "64",
                     "--skip-pre-experience", "--budgets", "5,1000", "--out", tmp_path / "sel", "--store", tmp_path / "s")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "sel" / "alp_cherry.manifest.json").read_text())
    assert manifest["info"]["pre_experience"] == {"skipped": True} and manifest["info"]["model"] == tiny_lm
    assert "1000" in manifest["underflow"] and "underflow" in result.err
