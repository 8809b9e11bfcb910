"""``ifeval``: prompt-level strict accuracy with Google's checkers (541 prompts, packaged offline), and
instruction-level strict accuracy as a second metric whose prompts are clusters of their instructions."""

from __future__ import annotations

import json

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, PromptSource, Score

METRIC = Metric("prompt_level_strict_acc", "fraction")
INSTRUCTION_METRIC = Metric("inst_level_strict_acc", "fraction")


def prompts(bench, folder) -> PromptSource:
    return PromptSource("ifeval", bench.limit)


def evaluate(ctx: EvalContext) -> Score:
    """IFEval metrics; per prompt (keyed by the IFEval key) the strict pass (0/1) and, for the
    instruction level, the share of its instructions followed weighted by their number."""
    from chasing_random.evaluation.ifeval import evaluate_ifeval, per_prompt_path
    from chasing_random.store import jsonl_lines

    metrics_path = ctx.folder / "metrics.json"
    metrics = evaluate_ifeval(ctx.outputs, metrics_path, allow_partial=ctx.bench.limit is not None)
    per_prompt, followed, instructions = {}, {}, {}
    for _, line in jsonl_lines(per_prompt_path(metrics_path)):
        row = json.loads(line)
        key = str(row["key"])
        per_prompt[key] = float(row["strict"])
        if row["strict_instructions"]:
            instructions[key] = float(len(row["strict_instructions"]))
            followed[key] = sum(row["strict_instructions"]) / instructions[key]
    instruction_level = Score(INSTRUCTION_METRIC, metrics[INSTRUCTION_METRIC.name], followed,
                              per_prompt_weight=instructions)
    return Score(METRIC, metrics[METRIC.name], per_prompt, metrics, secondary=(instruction_level,))


SPEC = BenchmarkSpec("ifeval", "IFEval prompt-level strict accuracy", METRIC, evaluate, prompts, expected_size=541,
                     secondary_metrics=(INSTRUCTION_METRIC,))
