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
