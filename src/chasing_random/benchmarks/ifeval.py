"""``ifeval``: prompt-level strict accuracy with Google's checkers (541 prompts, packaged offline)."""

from __future__ import annotations

import json

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, PromptSource, Score

METRIC = Metric("prompt_level_strict_acc", "fraction")


def prompts(bench, folder) -> PromptSource:
    return PromptSource("ifeval", bench.limit)


def evaluate(ctx: EvalContext) -> Score:
    """IFEval metrics; per prompt the strict pass (0/1) keyed by the IFEval key."""
    from chasing_random.evaluation.ifeval import evaluate_ifeval, per_prompt_path
    from chasing_random.store import jsonl_lines

    metrics_path = ctx.folder / "metrics.json"
    metrics = evaluate_ifeval(ctx.outputs, metrics_path, allow_partial=ctx.bench.limit is not None)
    per_prompt = {}
    for _, line in jsonl_lines(per_prompt_path(metrics_path)):
        row = json.loads(line)
        per_prompt[str(row["key"])] = float(row["strict"])
    return Score(METRIC, metrics[METRIC.name], per_prompt, metrics)


SPEC = BenchmarkSpec("ifeval", "IFEval prompt-level strict accuracy", METRIC, evaluate, prompts, expected_size=541)
