"""AlpaGasus end to end on real Alpaca rows with the packaged SmolLM2 judge."""

from __future__ import annotations

import json

import pytest

from chasing_random.selection.base import SelectOptions, select
from chasing_random.store import ArtifactStore


@pytest.fixture(scope="module")
def alpaca8(alpaca_rows, pool_from_rows):
    return pool_from_rows(alpaca_rows[:8], "alpaca8")


@pytest.mark.slow
def test_alpagasus_with_smollm2_forward_ranks_and_reuses_the_table(alpaca8, tmp_path, run_cli):
    store = tmp_path / "store"
    result = run_cli("select", "--pool", alpaca8, "--strategy", "alpagasus", "--judge", "local:smollm2-135m-instruct",
                     "--threshold", "0", "--budgets", "3,8", "--out", tmp_path / "sel", "--store", store, "--seed", "1")
    assert result.code == 0, result.err
    assert "alpagasus judge: 0 of 8 rows failed (0.0%)" in result.err
    manifest = json.loads((tmp_path / "sel" / "alpaca8_alpagasus.manifest.json").read_text())
    assert manifest["info"]["rating_mode"] == "forward" and manifest["subsets"]["8"]["rows"] == 8
    ranking = [json.loads(line) for line in (tmp_path / "sel" / "alpaca8_alpagasus.ranking.jsonl").read_text().splitlines()]
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 5 for s in scores)
    assert sum(manifest["info"]["argmax_counts"].values()) == 8
    # A different threshold reuses the cached table (no model work) and cuts where the scores say.
    cut = scores[3]
    again = select(alpaca8, "alpagasus", [8], tmp_path / "sel2",
                   SelectOptions(judge="local:smollm2-135m-instruct", threshold=cut, seed=1), store=ArtifactStore(store))[0]
    assert again["ranked"] == sum(s >= cut for s in scores) and again["cost"]["device_hours"] == manifest["cost"]["device_hours"]


@pytest.mark.slow
def test_alpagasus_generate_mode_parses_or_records_failures(alpaca8, tmp_path):
    manifest = select(alpaca8, "alpagasus", [4], tmp_path / "sel",
                      SelectOptions(judge="local:smollm2-135m-instruct", rating_mode="generate", threshold=0,
                                    max_failure_rate=1.0, score_limit=4, seed=0, allow_empty=True),
                      store=ArtifactStore(tmp_path / "store"))[0]
    assert manifest["info"]["scored"] == 4 and manifest["reconciles"] is True
    assert manifest["excluded"]["not scored (--score-limit 4)"] == 4
    assert manifest["ranked"] + manifest["info"]["failed"] == 4
