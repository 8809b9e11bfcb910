"""DEITA end to end on real Alpaca rows: SmolLM2 quality scores, MiniLM embeddings, diversity filter."""

from __future__ import annotations

import json

import pytest

from chasing_random.selection.base import SelectOptions, select
from chasing_random.store import ArtifactStore
from test_alpagasus import alpaca8  # noqa: F401  (the shared 8-row Alpaca pool fixture)


@pytest.mark.slow
def test_deita_with_smollm2_quality_and_minilm(alpaca8, tmp_path):
    manifest = select(alpaca8, "deita", [3, 20], tmp_path / "sel",
                      SelectOptions(judge="local:smollm2-135m-instruct", score="quality", embedder="minilm"),
                      store=ArtifactStore(tmp_path / "store"))[0]
    assert manifest["subsets"]["3"]["rows"] == 3 and manifest["reconciles"] is True
    assert manifest["underflow"] == {"20": manifest["ranked"]} and "underflow" in manifest["warnings"][-1]
    ranking = [json.loads(line) for line in (tmp_path / "sel" / "alpaca8_deita.ranking.jsonl").read_text().splitlines()]
    assert all(1 <= r["score"] <= 6 for r in ranking)


def test_deita_evol_is_complexity_times_quality_with_causal_lm_last_token_embeddings(alpaca8, tiny_lm, tmp_path):
    from chasing_random.judges.factory import make_judge
    from chasing_random.scoring.ratings import deita_scores

    store = ArtifactStore(tmp_path / "store")
    manifest = select(alpaca8, "deita", [5], tmp_path / "sel",
                      SelectOptions(judge=tiny_lm, score="evol", embedder=tiny_lm, pooling="last-token",
                                    diversity_threshold=0.99), store=store)[0]
    assert manifest["info"]["pooling"] == "last-token" and manifest["reconciles"] is True
    judge = make_judge(f"local:{tiny_lm}", cache_dir=str(store.root / "judge-responses"))
    quality = deita_scores(alpaca8, judge, "quality", store=store)
    complexity = deita_scores(alpaca8, judge, "complexity", store=store)
    assert quality.run.reused and complexity.run.reused  # the strategy's tables, not recomputed
    expected = dict(zip(quality.frame["id"], quality.frame["score"] * complexity.frame.set_index("id").loc[
        quality.frame["id"], "score"].to_numpy()))
    ranking = [json.loads(line) for line in (tmp_path / "sel" / "alpaca8_deita.ranking.jsonl").read_text().splitlines()]
    assert ranking and all(r["score"] == pytest.approx(expected[r["id"]]) for r in ranking)
