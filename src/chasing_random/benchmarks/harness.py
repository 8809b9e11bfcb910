"""``harness``: lm-evaluation-harness tasks on the trained model (no generation); mean accuracy."""

from __future__ import annotations

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, Score

METRIC = Metric("acc", "fraction")
DOCS_PER_TASK = 2000


def validate(bench) -> None:
    if not bench.tasks:
        raise ValueError("the harness benchmark needs tasks (e.g. [openllm] or [mmlu])")


def evaluate(ctx: EvalContext) -> Score:
    from chasing_random.evaluation.harness import run_harness

    metrics = run_harness(ctx.model_dir, ctx.bench.tasks, ctx.bench.limit, ctx.folder / "metrics.json")
    return Score(METRIC, metrics["mean_acc"], {}, metrics)


SPEC = BenchmarkSpec("harness", "lm-eval tasks on the trained model (mean accuracy)", METRIC, evaluate,
                     validate=validate, result_name=lambda bench: "harness:" + "+".join(bench.tasks),
                     evaluation_prompts=lambda bench: (bench.limit or DOCS_PER_TASK) * len(bench.tasks),
                     eval_tokens_per_prompt=400)
