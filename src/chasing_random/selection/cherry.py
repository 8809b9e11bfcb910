"""Cherry (IFD, Li et al. NAACL 2024): pre-experience sample, brief fine-tune, then IFD with that model.

Steps 1-2 (the perplexity-band sample of KMeans clusters and the fine-tune on it) are made on the
scoring side (``scoring.pre_experience``, reached through ``ctx.tables``). Step 3 here:
IFD = loss_cond / loss_direct (``cherry`` template) with that model; drop IFD > 1 and truncated
rows; highest first. ``--skip-pre-experience`` scores with the base model instead.
"""

from __future__ import annotations

from chasing_random.scoring.pre_experience import PreExperienceConfig
from chasing_random.scoring.reference import CHERRY_ALPACA, CHERRY_WIZ, CHERRY_WIZ_AS_SHIPPED
from chasing_random.scoring.shards import cost_to_make
from chasing_random.selection.base import DEFAULT_MODEL, Ranking, SelectionContext, register
from chasing_random.selection.ifd import rank_by_ifd, reference_option

CHERRY_MAX_LENGTH = 512  # Cherry's max_length
CHERRY_REFERENCES = (CHERRY_WIZ, CHERRY_WIZ_AS_SHIPPED, CHERRY_ALPACA)


@register("cherry")
def cherry(ctx: SelectionContext) -> Ranking:
    """Cherry: IFD = loss_cond / loss_direct with a pre-experienced model; drop IFD > 1 and truncated rows."""
    opts = ctx.options
    base = opts.model or DEFAULT_MODEL
    max_length = opts.max_length or CHERRY_MAX_LENGTH
    runs, train_hours, pre = [], 0.0, {"skipped": True}
    scorer = base
    if not opts.skip_pre_experience:
        made = ctx.tables.pre_experienced(base, max_length, PreExperienceConfig(
            clusters=opts.clusters, per_cluster=opts.per_cluster, batch_size=opts.batch_size, dtype=opts.dtype,
            preset=opts.preset, overrides=opts.extra.get("train_overrides") or None, seed=opts.seed,
            trust_remote_code=opts.trust_remote_code))
        scorer, pre, runs, train_hours = made.model, made.info, made.runs, made.train_hours
    template, reference = reference_option(opts, "cherry", CHERRY_REFERENCES, "cherry")
    losses = ctx.tables.losses(scorer, template, max_length, batch_size=opts.batch_size, dtype=opts.dtype,
                               trust_remote_code=opts.trust_remote_code, reference=reference,
                               direct_prefix=opts.direct_prefix)
    ranking = rank_by_ifd(ctx, losses, "cherry", inclusive=True, drop_truncated=True)
    cost = cost_to_make(losses, *runs)
    ranking.cost = {**cost, "device_hours": cost["device_hours"] + train_hours}
    ranking.info.update({"base_model": base, "pre_experience": pre})
    return ranking
