"""AlpaGasus: an LLM judge rates each (input, target) 0-5 for accuracy; keep score >= threshold,
best first. Failed rows are excluded with their reason; ties are broken by a seeded shuffle."""

from __future__ import annotations

from chasing_random.errors import ChaseError
from chasing_random.scoring.ratings import ALPAGASUS_SETTINGS, RatingTable, failure_summary
from chasing_random.selection.base import (
    JudgeSpec,
    Ranking,
    SelectionContext,
    not_scored,
    rank_by_score,
    register,
)


def failure_reason(failure: str) -> str:
    """The excluded-file reason of a judge failure: its kind, without the row-specific detail."""
    return "judge failed: " + failure.split(":", 1)[0]


def required_judge(ctx: SelectionContext, strategy: str, example: str) -> JudgeSpec:
    """The judge of a strategy that has no default one (``--judge``, else the run's), or a clear error."""
    spec = ctx.judge(ctx.options.judge)
    if spec is None:
        raise ChaseError(f"{strategy} needs --judge, e.g. {example}")
    return spec


def judged_rows(ctx: SelectionContext, table: RatingTable, sampled: list[str] | None, what: str):
    """A judge table's failure summary (an error above ``--max-failure-rate``), the rows it scored, and the
    excluded ids by reason: judge failures by kind, and the rows left out of a ``--score-limit`` sample."""
    summary = failure_summary(table, ctx.options.max_failure_rate, what)
    frame = table.frame
    excluded: dict[str, list[str]] = {}
    for row_id, failure in zip(frame["id"], frame["failure"]):
        if isinstance(failure, str):
            excluded.setdefault(failure_reason(failure), []).append(row_id)
    if sampled is not None:
        excluded[not_scored(ctx.options.score_limit)] = ctx.tables.unscored(sampled)
    return summary, frame[frame["failure"].isna()], excluded


def judge_cost(table: RatingTable) -> dict:
    """A ranking's cost from its judge table: the spend, dollars at the judge's own prices, replies from the cache."""
    return {**table.cost().record(), "api_price_usd": table.api_price_usd(),
            "cached_replies": int(table.frame["cached"].sum())}


@register("alpagasus")
def alpagasus(ctx: SelectionContext) -> Ranking:
    """LLM-judge accuracy ratings (0-5) above a threshold, best first (AlpaGasus; the study's variant by default)."""
    o = ctx.options
    spec = required_judge(ctx, "alpagasus", "local:smollm2-135m-instruct or openai:gpt-4o")
    if o.prompt not in ALPAGASUS_SETTINGS:
        raise ChaseError(f"unknown --prompt '{o.prompt}'; valid: {', '.join(ALPAGASUS_SETTINGS)}")
    mode = o.rating_mode or ("generate" if spec.is_api else "forward")
    threshold = o.threshold if o.threshold is not None else ALPAGASUS_SETTINGS[o.prompt]["threshold"]
    sampled = ctx.tables.sample_ids(o.score_limit, o.seed)
    table = ctx.tables.alpagasus(spec, prompt=o.prompt, parse=o.parse, mode=mode, ids=sampled,
                                 retry_failed=o.retry_failed)
    summary, ok, excluded = judged_rows(ctx, table, sampled, "alpagasus judge")
    below = ok[ok["score"] < threshold]
    if len(below):
        excluded[f"score below threshold {threshold:g}"] = list(below["id"])
    kept = ok[ok["score"] >= threshold]
    ids = rank_by_score(list(kept["id"]), kept["score"].to_numpy(), o.seed)
    scores = dict(zip(ok["id"], ok["score"].astype(float)))
    info = {"judge": table.judge.name, "prompt": o.prompt, "parse": o.parse if mode == "generate" else None,
            "rating_mode": mode, "threshold": threshold, "scored": len(table.frame), "failed": len(table.failures),
            "failure_rate": table.failure_rate(), "kept": len(ids), "score_table": str(table.run.path),
            "score_mean": float(ok["score"].mean()) if len(ok) else None}
    if mode == "forward":
        info["argmax_counts"] = {k: int(v) for k, v in ok["argmax"].value_counts().sort_index().items()}
    return Ranking(ids, excluded=excluded, scores={i: scores[i] for i in ids}, info=info, warnings=[summary],
                   cost=judge_cost(table))
