"""--score-limit for every scoring strategy: only a seeded sample is scored, the rest is excluded with
that reason, and the counts still reconcile (the study scored a ~40k sample of each pool)."""

from __future__ import annotations

import json

import pytest

from chasing_random.data.pool import build_pool
from chasing_random.selection.base import SelectOptions, select
from chasing_random.store import ArtifactStore


@pytest.fixture
def pool20(tmp_path):
    rows = [{"instruction": f"Write {i} words about item {i}.", "output": " ".join(["word"] * (i % 5 + 1))}
            for i in range(20)]
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_pool("alpaca", str(src), tmp_path / "pool20.parquet")
    return tmp_path / "pool20.parquet"


@pytest.mark.parametrize("strategy,options", [
    ("superfilter", {"max_length": 64}),
    ("deita", {"embedder": "minilm"}),
    ("alpagasus", {"threshold": 0.0}),
])
def test_score_limit_scores_a_seeded_sample(pool20, tmp_path, tiny_lm, strategy, options):
    opts = SelectOptions(model=tiny_lm, judge=f"local:{tiny_lm}", score_limit=8, seed=1, **options)
    store = ArtifactStore(tmp_path / "store")
    manifest = select(pool20, strategy, [4], tmp_path / strategy, opts, store=store)[0]
    assert manifest["excluded"]["not scored (--score-limit 8)"] == 12
    assert manifest["reconciles"] is True and manifest["ranked"] <= 8
    select(pool20, strategy, [4], tmp_path / f"{strategy}-again", opts, store=store)
    first = (tmp_path / strategy / f"pool20_{strategy}_4.jsonl").read_bytes()
    assert first == (tmp_path / f"{strategy}-again" / f"pool20_{strategy}_4.jsonl").read_bytes()
