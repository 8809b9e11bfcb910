"""Cherry (IFD, Li et al. NAACL 2024): pre-experience sample, brief fine-tune, then IFD with that model.

1. Embed every instruction (mean of the base model's last layer), compute its perplexity, KMeans
   (``--clusters``, random_state 0), keep each cluster's 25th-75th percentile perplexity band and
   take ``--per-cluster`` evenly spaced rows of it (sorted by perplexity).
2. Fine-tune the base model on that sample with the project's SFT function (cached in the store).
3. IFD = loss_cond / loss_direct (``cherry`` template) with that model; drop IFD > 1 and truncated
   rows; highest first. ``--skip-pre-experience`` scores with the base model instead.
"""

from __future__ import annotations

import numpy as np

from chasing_random.errors import ChaseError
from chasing_random.scoring.losses import instruction_loss_table, loss_table
from chasing_random.scoring.shards import model_fingerprint
from chasing_random.selection.base import Ranking, SelectionContext, register
from chasing_random.scoring.reference import CHERRY_ALPACA, CHERRY_WIZ, CHERRY_WIZ_AS_SHIPPED
from chasing_random.selection.ifd import cost_to_make, rank_by_ifd, reference_option, table_info
from chasing_random.store import file_fingerprint

CHERRY_MAX_LENGTH = 512  # Cherry's max_length
DEFAULT_BASE = "smollm2-135m-instruct"
BAND = (25, 75)
PRE_EXPERIENCED_KIND = "cherry_pre_experienced"
CHERRY_REFERENCES = (CHERRY_WIZ, CHERRY_WIZ_AS_SHIPPED, CHERRY_ALPACA)


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


def pre_experience_sample(ctx: SelectionContext, base: str, max_length: int) -> tuple[list[int], dict, list]:
    """Step 1: row positions of the pre-experience sample, what was done, and the tables used."""
    from sklearn.cluster import KMeans

    from chasing_random.scoring.embeddings import embedding_table

    opts = ctx.options
    embedded = embedding_table(ctx.pool_path, base, pooling="mean", field="input", store=ctx.store,
                               batch_size=opts.batch_size, max_length=max_length, dtype=opts.dtype,
                               trust_remote_code=opts.trust_remote_code)
    losses = instruction_loss_table(ctx.pool_path, base, max_length, store=ctx.store, batch_size=opts.batch_size,
                                    dtype=opts.dtype, trust_remote_code=opts.trust_remote_code)
    perplexity = losses.frame["perplexity"].to_numpy(dtype=float)
    perplexity = np.where(np.isfinite(perplexity), perplexity, np.inf)
    clusters = min(opts.clusters, len(ctx.pool))
    if clusters < 1 or opts.per_cluster < 1:
        raise ChaseError(f"--clusters and --per-cluster must be positive, got {opts.clusters} and {opts.per_cluster}")
    labels = KMeans(n_clusters=clusters, random_state=0, n_init=10).fit_predict(embedded.vectors)
    picked = band_sample(labels, perplexity, opts.per_cluster)
    info = {"clusters": clusters, "per_cluster": opts.per_cluster, "band_percentiles": list(BAND),
            "sample_rows": len(picked), "embeddings": table_info(embedded.run),
            "instruction_losses": table_info(losses)}
    return picked, info, [embedded.run, losses]


def pre_experienced_model(ctx: SelectionContext, base: str, max_length: int) -> tuple[str, dict, list, float]:
    """Steps 1-2: the fine-tuned model's folder (cached by pool + base + sample config), info, tables, train hours.

    The train hours are what the fine-tune cost to make, also when the model was reused from the store.
    """
    from chasing_random.training.sft import train_model

    opts = ctx.options
    picked, info, runs = pre_experience_sample(ctx, base, max_length)
    overrides = opts.extra.get("train_overrides") or None
    key = ctx.store.key(PRE_EXPERIENCED_KIND, file_fingerprint(ctx.pool_path), model_fingerprint(base),
                        opts.clusters, opts.per_cluster, max_length, opts.dtype, opts.preset, overrides, opts.seed)
    folder = ctx.store.path(PRE_EXPERIENCED_KIND, key)
    existed = (folder / "manifest.json").exists()
    sample = ctx.pool.iloc[picked][["id", "input", "target"]].to_dict("records")
    manifest = train_model(sample, base, folder, preset=opts.preset, overrides=overrides, seed=opts.seed,
                           trust_remote_code=opts.trust_remote_code)
    info.update({"model": str(folder), "preset": opts.preset, "reused": existed,
                 "train_device_hours": manifest.get("device_hours"), "sample_ids": [r["id"] for r in sample]})
    return str(folder), info, runs, float(manifest.get("device_hours") or 0.0)


@register("cherry")
def cherry(ctx: SelectionContext) -> Ranking:
    """Cherry: IFD = loss_cond / loss_direct with a pre-experienced model; drop IFD > 1 and truncated rows."""
    opts = ctx.options
    base = opts.model or DEFAULT_BASE
    max_length = opts.max_length or CHERRY_MAX_LENGTH
    runs, train_hours, pre = [], 0.0, {"skipped": True}
    scorer = base
    if not opts.skip_pre_experience:
        scorer, pre, runs, train_hours = pre_experienced_model(ctx, base, max_length)
    template, reference = reference_option(opts, "cherry", CHERRY_REFERENCES, "cherry")
    losses = loss_table(ctx.pool_path, scorer, template, max_length, store=ctx.store, batch_size=opts.batch_size,
                        dtype=opts.dtype, trust_remote_code=opts.trust_remote_code, reference=reference,
                        direct_prefix=opts.direct_prefix)
    ranking = rank_by_ifd(ctx, losses, "cherry", inclusive=True, drop_truncated=True)
    cost = cost_to_make(losses, *runs)
    ranking.cost = {**cost, "device_hours": cost["device_hours"] + train_hours}
    ranking.info.update({"base_model": base, "pre_experience": pre})
    return ranking
