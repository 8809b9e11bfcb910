"""Ask-LLM: rank rows by the judge's log-probability of "yes" to "is this a good training example?".

One forward pass per row through the judge machinery (``choose`` over yes/no, local or endpoint), no
prompt library and no threshold: every scored row is ranked, highest first; failed rows are
excluded with their reason and ties are broken by a seeded shuffle.
"""

from __future__ import annotations

from chasing_random.selection.alpagasus import judge_cost, judged_rows, required_judge
from chasing_random.selection.base import Ranking, SelectionContext, rank_by_score, register


@register("askllm")
def askllm(ctx: SelectionContext) -> Ranking:
    """Ask-LLM: log P(yes) to "is this a good training example?" from one judge forward, highest first."""
    o = ctx.options
    spec = required_judge(ctx, "askllm", "local:smollm2-135m-instruct or openai:gpt-4o-mini")
    sampled = ctx.tables.sample_ids(o.score_limit, o.seed)
    table = ctx.tables.askllm(spec, ids=sampled, retry_failed=o.retry_failed)
    summary, ok, excluded = judged_rows(ctx, table, sampled, "askllm judge")
    ids = rank_by_score(list(ok["id"]), ok["score"].to_numpy(), o.seed)
    scores = dict(zip(ok["id"], ok["score"].astype(float)))
    info = {"judge": table.judge.name, "scored": len(table.frame), "failed": len(table.failures),
            "yes_share": float((ok["argmax"] == "yes").mean()) if len(ok) else None,
            "score_table": str(table.run.path)}
    return Ranking(ids, excluded=excluded, scores={i: scores[i] for i in ids}, info=info, warnings=[summary],
                   cost=judge_cost(table))
