"""Cherry's pre-experienced model (Li et al. NAACL 2024, steps 1-2), made on the scoring side.

1. Embed every instruction (mean of the base model's last layer), compute its perplexity, KMeans
   (``clusters``, random_state 0), keep each cluster's 25th-75th percentile perplexity band and
   take ``per_cluster`` evenly spaced rows of it (sorted by perplexity).
2. Fine-tune the base model on that sample with the project's SFT function, cached in the store by
   pool, base model and sample config.

The Cherry strategy asks ``ScoreTables.pre_experienced`` for it, which makes the two tables of step 1
and hands them here; strategies never train a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chasing_random.errors import ChaseError
from chasing_random.scoring.embeddings import EmbeddingTable
from chasing_random.scoring.shards import PoolRead, TableRun, model_fingerprint, table_info
from chasing_random.store import ArtifactStore

BAND = (25, 75)
PRE_EXPERIENCED_KIND = "cherry_pre_experienced"


@dataclass(frozen=True)
class PreExperienceConfig:
    """What makes a pre-experienced model: the sample (clusters, rows per cluster), how the tables are
    scored, and the fine-tune (preset, overrides, seed)."""

    clusters: int
    per_cluster: int
    batch_size: int
    dtype: str
    preset: str
    overrides: dict[str, Any] | None
    seed: int
    trust_remote_code: bool = False


@dataclass(frozen=True)
class PreExperience:
    """The fine-tuned model's folder, what was done, the score tables used and the fine-tune's device hours
    (what it cost to make, also when the model was reused from the store)."""

    model: str
    info: dict
    runs: list[TableRun]
    train_hours: float


def band_sample(labels: np.ndarray, perplexity: np.ndarray, per_cluster: int) -> list[int]:
    """Per cluster: rows inside its 25th-75th percentile perplexity band, ``per_cluster`` evenly spaced picks."""
    picked = []
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        members = members[np.lexsort((members, perplexity[members]))]
        values = perplexity[members]
        low, high = np.percentile(values, BAND)
        band = members[(values >= low) & (values <= high)]
        if len(band) <= per_cluster:
            picked.extend(band.tolist())
        else:
            picked.extend(band[np.round(np.linspace(0, len(band) - 1, per_cluster)).astype(int)].tolist())
    return sorted(picked)


def pre_experience_sample(embedded: EmbeddingTable, losses: TableRun,
                          config: PreExperienceConfig) -> tuple[list[int], dict]:
    """Step 1: row positions of the pre-experience sample and what was done, from the base model's
    mean-pooled instruction embeddings and its instruction losses (one row each per pool row)."""
    from sklearn.cluster import KMeans

    perplexity = losses.frame["perplexity"].to_numpy(dtype=float)
    perplexity = np.where(np.isfinite(perplexity), perplexity, np.inf)
    clusters = min(config.clusters, len(embedded.ids))
    if clusters < 1 or config.per_cluster < 1:
        raise ChaseError(f"--clusters and --per-cluster must be positive, got {config.clusters} and "
                         f"{config.per_cluster}")
    labels = KMeans(n_clusters=clusters, random_state=0, n_init=10).fit_predict(embedded.vectors)
    picked = band_sample(labels, perplexity, config.per_cluster)
    info = {"clusters": clusters, "per_cluster": config.per_cluster, "band_percentiles": list(BAND),
            "sample_rows": len(picked), "embeddings": table_info(embedded.run),
            "instruction_losses": table_info(losses)}
    return picked, info


def pre_experienced_model(pool: PoolRead, store: ArtifactStore, base: str, max_length: int, config: PreExperienceConfig,
                          embedded: EmbeddingTable, losses: TableRun) -> PreExperience:
    """Steps 1-2: the base model fine-tuned on the pre-experience sample (cached in the store)."""
    from chasing_random.training.sft import train_model

    picked, info = pre_experience_sample(embedded, losses, config)
    key = store.key(PRE_EXPERIENCED_KIND, pool.sha, model_fingerprint(base), config.clusters,
                    config.per_cluster, max_length, config.dtype, config.preset, config.overrides, config.seed)
    folder = store.path(PRE_EXPERIENCED_KIND, key)
    existed = (folder / "manifest.json").exists()
    sample = pool.frame.iloc[picked][["id", "input", "target"]].to_dict("records")
    manifest = train_model(sample, base, folder, preset=config.preset, overrides=config.overrides, seed=config.seed,
                           trust_remote_code=config.trust_remote_code)
    info.update({"model": str(folder), "preset": config.preset, "reused": existed,
                 "train_device_hours": manifest.get("device_hours"), "sample_ids": [r["id"] for r in sample]})
    return PreExperience(str(folder), info, [embedded.run, losses], float(manifest.get("device_hours") or 0.0))
