"""Superfiltering: IFD with a small model and no template, highest first, with an optional diversity step.

Also the IFD ranking shared with Cherry: exclusions with reasons, ties broken by pool order, and
the warning when most IFD values exceed 1.
"""

from __future__ import annotations

import heapq

import numpy as np

from chasing_random.errors import ChaseError
from chasing_random.scoring.losses import ifd, mostly_above_one
from chasing_random.scoring.reference import SUPERFILTERING
from chasing_random.scoring.shards import TableRun, cost_to_make, table_info
from chasing_random.selection.base import DEFAULT_MODEL, Ranking, SelectionContext, not_scored, register

SUPERFILTER_MAX_LENGTH = 1024  # Superfiltering's default max_length
GAIN_CHUNK = 2048


def rank_by_ifd(ctx: SelectionContext, run: TableRun, kind: str, *, inclusive: bool,
                drop_truncated: bool, unscored: list[str] = ()) -> Ranking:
    """Rows ranked by IFD descending (ties in pool order) after the exclusions, each with its reason;
    ``unscored`` rows (outside a ``--score-limit`` sample) are excluded as not scored."""
    frame = run.frame
    left_out = set(unscored)
    if list(frame["id"]) != [i for i in ctx.pool["id"] if i not in left_out]:
        raise ChaseError(f"loss table {run.path} does not match pool {ctx.pool_path} (a stale or foreign table)")
    values = ifd(frame, kind)
    ids = np.array(frame["id"])
    limit = ctx.options.ifd_max
    if "excluded" in frame:  # a --reference table: the authors' own exclusions, each with its reason
        reasons = np.array([r if isinstance(r, str) else "" for r in frame["excluded"]], dtype=object)
        scored = reasons == ""
        masks = [(reason, reasons == reason) for reason in sorted(set(reasons) - {""})]
    else:
        no_tokens = frame["n_response_tokens"].to_numpy() == 0
        truncated = frame["truncated"].to_numpy(dtype=bool) & ~no_tokens & drop_truncated
        scored = ~no_tokens & ~truncated
        masks = [("no_response_tokens", no_tokens), ("truncated", truncated)]
    above = scored & ~((values <= limit) if inclusive else (values < limit))
    keep = np.flatnonzero(scored & ~above)
    order = keep[np.lexsort((keep, -values[keep]))]
    excluded = {reason: list(ids[mask]) for reason, mask in masks + [("ifd_above_max", above)] if mask.any()}
    if unscored:
        excluded[not_scored(ctx.options.score_limit)] = list(unscored)
    finite = values[scored]
    warnings = []
    if mostly_above_one(finite):
        format_name = run.manifest["config"].get("reference") or run.manifest["config"]["template"]
        warnings.append(f"{np.mean(finite[np.isfinite(finite)] > 1):.0%} of IFD values exceed 1: the model may not "
                        f"know the '{format_name}' template, which inflates IFD")
    config = run.manifest["config"]
    info = {"ifd": kind, "ifd_max": limit, "model": config["model"], "template": config["template"],
            **{k: config[k] for k in ("reference", "direct_prefix") if config.get(k) is not None},
            "max_length": config["max_length"], "ifd_above_one": int(np.sum(finite > 1)), "losses": table_info(run)}
    return Ranking([str(i) for i in ids[order]], excluded={k: [str(i) for i in v] for k, v in excluded.items()},
                   scores={str(ids[i]): float(values[i]) for i in order}, info=info, warnings=warnings,
                   cost=cost_to_make(run))


def facility_location_order(vectors: np.ndarray, picks: int) -> list[int]:
    """Lazy-greedy facility location over unit vectors: the order in which ``picks`` rows are chosen.

    Gain of row j = sum_i max(0, sim(i, j) - covered_i); ties go to the lower index (the higher IFD).
    """
    covered = np.zeros(len(vectors), dtype=np.float32)
    first_gains = np.concatenate([np.maximum(vectors @ vectors[c:c + GAIN_CHUNK].T, 0).sum(0)
                                  for c in range(0, len(vectors), GAIN_CHUNK)]) if len(vectors) else np.zeros(0)
    heap = [(-float(g), j) for j, g in enumerate(first_gains)]
    heapq.heapify(heap)
    order = []
    while heap and len(order) < picks:
        _, j = heapq.heappop(heap)
        similarity = vectors @ vectors[j]
        gain = float(np.maximum(similarity - covered, 0).sum())
        if heap and gain < -heap[0][0] - 1e-6:
            heapq.heappush(heap, (-gain, j))
            continue
        order.append(j)
        covered = np.maximum(covered, similarity)
    return order


def diversify(ctx: SelectionContext, ranking: Ranking) -> Ranking:
    """Superfiltering-D: facility location over embeddings of the top-IFD candidates (2x the largest budget).

    The greedy order fills the budgets; the other kept rows follow in IFD order.
    """
    opts = ctx.options
    embedded = ctx.tables.embeddings(opts.embedder, pooling=opts.pooling, field="input",
                                     batch_size=max(opts.batch_size, 32), trust_remote_code=opts.trust_remote_code)
    row = {i: n for n, i in enumerate(embedded.ids)}
    candidates = ranking.ids[:2 * max(ctx.budgets)]
    order = facility_location_order(embedded.vectors[[row[i] for i in candidates]], max(ctx.budgets))
    chosen = [candidates[j] for j in order]
    taken = set(chosen)
    rest = [i for i in ranking.ids if i not in taken]
    ranking.ids = chosen + rest
    ranking.info["diversity"] = {"method": "facility-location", "embedder": opts.embedder, "field": "input",
                                 "candidates": len(candidates), "chosen": len(chosen),
                                 "embeddings": table_info(embedded.run)}
    ranking.cost = {**ranking.cost,
                    "device_hours": ranking.cost["device_hours"] + cost_to_make(embedded.run)["device_hours"]}
    return ranking


def reference_option(opts, strategy: str, allowed: tuple[str, ...], default_template: str) -> tuple[str | None, str | None]:
    """(template, reference) for a loss table: ``--reference`` (one of ``allowed``) replaces the template."""
    if opts.reference is None:
        return opts.template or default_template, None
    if opts.reference not in allowed:
        raise ChaseError(f"{strategy} accepts --reference {' or '.join(allowed)}, got '{opts.reference}'")
    if opts.template:
        raise ChaseError(f"--template {opts.template} and --reference {opts.reference} exclude each other: "
                         "a reference mode builds the authors' own texts")
    return None, opts.reference


@register("superfilter")
def superfilter(ctx: SelectionContext) -> Ranking:
    """Superfiltering: IFD = exp(loss_cond - loss_direct) with a small model, keep IFD < 1, highest first."""
    opts = ctx.options
    template, reference = reference_option(opts, "superfilter", (SUPERFILTERING,), "none")
    tables, unscored = ctx.tables.sampled(opts.score_limit, opts.seed)
    # by default the packaged SmolLM2: Superfiltering used GPT-2, which no offline package ships
    run = tables.losses(opts.model or DEFAULT_MODEL, template, opts.max_length or SUPERFILTER_MAX_LENGTH,
                        batch_size=opts.batch_size, dtype=opts.dtype, trust_remote_code=opts.trust_remote_code,
                        reference=reference, direct_prefix=opts.direct_prefix)
    ranking = rank_by_ifd(ctx, run, "superfilter", inclusive=False, drop_truncated=False, unscored=unscored)
    if not opts.diversity:
        return ranking
    ranking = diversify(ctx, ranking)
    ranking.name = "superfilter-diversity"
    return ranking
