"""``alpaca_eval_pairwise``: win rate (percent) on AlpacaEval prompts against the random models of the
same pool and budget, judged by an LLM; 50 is a tie with random. Second metric: our length-adjusted win
rate (the win rate predicted at equal answer lengths; not AlpacaEval's length-controlled win rate)."""

from __future__ import annotations

import json

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, PromptSource, Score

METRIC = Metric("win_rate", "percent", reference_value=50.0)
LENGTH_METRIC = Metric("length_adjusted_win_rate", "percent", reference_value=50.0)


def prompts(bench, folder) -> PromptSource:
    return PromptSource("alpaca_eval", bench.limit)


def evaluate(ctx: EvalContext) -> Score:
    """Pairwise judging of the outputs against the references; per prompt the preference in [0, 1]."""
    from chasing_random.evaluation.pairwise import run_pairwise

    metrics = run_pairwise(ctx.outputs, ctx.references, ctx.judge.build(), ctx.folder, seed=ctx.bench.seed,
                           both_orders=ctx.bench.judged_in_both_orders(ctx.judge),
                           protocol=ctx.bench.protocol)
    annotations = json.loads((ctx.folder / "annotations.json").read_text(encoding="utf-8"))
    per_prompt = {a["instruction"]: float(a["preference"]) - 1.0 for a in annotations
                  if a.get("preference") is not None}
    adjusted = metrics.get("length_adjusted_win_rate")
    secondary = (Score(LENGTH_METRIC, adjusted, {}),) if adjusted is not None else ()  # a refit: no per-prompt scores
    return Score(METRIC, metrics["win_rate"], per_prompt, metrics, metrics.get("api_tokens", {}), secondary=secondary)


SPEC = BenchmarkSpec("alpaca_eval_pairwise", "AlpacaEval win rate against the random models, LLM-judged", METRIC,
                     evaluate, prompts, expected_size=805, needs_judge=True, pairwise=True,
                     eval_tokens_per_prompt=700, secondary_metrics=(LENGTH_METRIC,))
