"""DEITA: rank by a scorer's expected quality (the study), complexity, or their product (evol),
then walk down that order keeping rows not too similar to those already kept (diversity filter)."""

from __future__ import annotations

import numpy as np

from chasing_random.errors import ChaseError
from chasing_random.results import Spend
from chasing_random.scoring.ratings import failure_summary
from chasing_random.selection.alpagasus import failure_reason
from chasing_random.selection.base import Ranking, SelectionContext, not_scored, register
from chasing_random.selection.diversity import diversity_walk, underflow_report

SCORES = ("evol", "quality", "complexity")
DEFAULT_SCORERS = {"complexity": "hkust-nlp/deita-complexity-scorer", "quality": "hkust-nlp/deita-quality-scorer"}


def scorer_spec(ctx: SelectionContext, kind: str):
    """The scorer of one score: --complexity-scorer / --quality-scorer, else --judge, else the run's
    judge, else DEITA's own."""
    o = ctx.options
    return ctx.judge((o.complexity_scorer if kind == "complexity" else o.quality_scorer) or o.judge,
                     fallback=DEFAULT_SCORERS[kind])


@register("deita")
def deita(ctx: SelectionContext) -> Ranking:
    """DEITA: scorer expected values (quality by default, as the study) and a greedy cosine diversity filter."""
    o = ctx.options
    if o.score not in SCORES:
        raise ChaseError(f"unknown --score '{o.score}'; valid: {', '.join(SCORES)}")
    kinds = ["complexity", "quality"] if o.score == "evol" else [o.score]
    excluded: dict[str, list[str]] = {}
    warnings, cost, per_kind, info = [], Spend(), {}, {}
    api_price = 0.0
    failed: set[str] = set()
    pool_ids = ctx.column("id")
    sampled = ctx.tables.sample_ids(o.score_limit, o.seed)
    if sampled is not None:
        excluded[not_scored(o.score_limit)] = ctx.tables.unscored(sampled)
    for kind in kinds:
        table = ctx.tables.deita(scorer_spec(ctx, kind), kind, ids=sampled, retry_failed=o.retry_failed)
        warnings.append(failure_summary(table, o.max_failure_rate, f"deita {kind} scorer"))
        frame = table.frame
        for row_id, failure in zip(frame["id"], frame["failure"]):
            if isinstance(failure, str) and row_id not in failed:  # a row failed by both is excluded once
                failed.add(row_id)
                excluded.setdefault(f"{kind} {failure_reason(failure)}", []).append(row_id)
        per_kind[kind] = dict(zip(frame["id"], frame["score"]))
        cost = cost.plus(table.cost())
        api_price += table.api_price_usd()
        info[f"{kind}_scorer"] = table.judge.name
        info[f"{kind}_table"] = str(table.run.path)
    ids = [i for i in (sampled if sampled is not None else pool_ids) if i not in failed]
    scores = np.array([np.prod([per_kind[k][i] for k in kinds]) for i in ids], dtype=np.float64)

    table = ctx.tables.embeddings(o.embedder, pooling=o.pooling, field="both", batch_size=o.batch_size,
                                  dtype=o.dtype, trust_remote_code=o.trust_remote_code)
    row_of = {row_id: n for n, row_id in enumerate(table.ids)}
    vectors = table.vectors[[row_of[i] for i in ids]] if ids else np.zeros((0, table.vectors.shape[1]), np.float32)
    budget = max(ctx.budgets)
    walk = diversity_walk(vectors, scores, budget, o.diversity_threshold)
    selected = [ids[i] for i in walk.indices]
    chosen = set(selected)
    order = np.argsort(-scores, kind="stable")
    examined = [ids[i] for i in order[:walk.examined] if ids[i] not in chosen]
    if examined:
        excluded[f"too similar to a kept row (cosine > {o.diversity_threshold:g})"] = examined
    rest = [ids[i] for i in order[walk.examined:]]
    if rest:
        excluded[f"not reached: budget {budget} filled"] = rest
    message = underflow_report(walk, budget, o.diversity_threshold)
    if message:
        warnings.append(message)
    cost = cost.plus(Spend(device=table.run.cost.get("device", "cpu"),
                           device_hours=float(table.run.manifest.get("cost", {}).get("device_hours", 0.0))))
    info.update({"score": o.score, "embedder": o.embedder, "pooling": o.pooling,
                 "diversity_threshold": o.diversity_threshold, "examined": walk.examined,
                 "embedding_table": str(table.run.path), "underflow": message})
    return Ranking(selected, excluded=excluded, scores={ids[i]: float(scores[i]) for i in walk.indices},
                   info=info, warnings=warnings, cost={**cost.record(), "api_price_usd": api_price})
