"""``harness``: lm-evaluation-harness tasks or suites (``openllm-study``, ``openllm-leaderboard``) on the
trained model (no generation); the unweighted mean of the tasks' metrics."""

from __future__ import annotations

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, Score

METRIC = Metric("acc", "fraction")
DOCS_PER_TASK = 2000


def validate(bench) -> None:
    if not bench.tasks:
        raise ValueError("the harness benchmark needs tasks (e.g. [openllm] or [mmlu])")


def evaluate(ctx: EvalContext) -> Score:
    """lm-eval on the trained model (on the GPU when there is one); per item the score weighted so that
    the per-item mean is the suite's unweighted task mean (see evaluation.harness)."""
    import json

    import torch

    from chasing_random.evaluation.harness import per_item_path, per_prompt_scores, run_harness
    from chasing_random.store import jsonl_lines

    path = ctx.folder / "metrics.json"
    metrics = run_harness(ctx.model_dir, ctx.bench.tasks, ctx.bench.limit, path,
                          device="cuda" if torch.cuda.is_available() else "cpu")
    items = [json.loads(line) for _, line in jsonl_lines(per_item_path(path))]
    return Score(METRIC, metrics["mean_acc"], per_prompt_scores(items), metrics)


SPEC = BenchmarkSpec("harness", "lm-eval tasks on the trained model (mean accuracy)", METRIC, evaluate,
                     validate=validate, result_name=lambda bench: "harness:" + "+".join(bench.tasks),
                     evaluation_prompts=lambda bench: (bench.limit or DOCS_PER_TASK) * len(bench.tasks),
                     eval_tokens_per_prompt=400)
