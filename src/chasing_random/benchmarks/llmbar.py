"""``llmbar``: LLMBar accuracy of the trained model used as a judge (no generation; both orders judged);
per item the mean correctness of its two orders."""

from __future__ import annotations

import json

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, Score
from chasing_random.errors import ChaseError

METRIC = Metric("accuracy", "fraction")
ITEMS = 419
PROMPT_TOKENS = 600  # instruction and two outputs, for --dry-run estimates


def evaluate(ctx: EvalContext) -> Score:
    """Run the trained model as the LLMBar judge on ``data`` (a local copy, else the repository's files)."""
    import torch

    from chasing_random.evaluation.llmbar import per_item_path, run_llmbar
    from chasing_random.store import jsonl_lines

    bench = ctx.bench
    metrics = run_llmbar(ctx.model_dir, ctx.folder, data=bench.data, limit=bench.limit, seed=bench.seed,
                         subsets=[bench.subset] if bench.subset else None, protocol=bench.protocol,
                         device="cuda" if torch.cuda.is_available() else "cpu")
    if metrics["accuracy"] is None:
        raise ChaseError(f"LLMBar: no item of {metrics['n_items']} could be judged by {ctx.model_dir} "
                         f"(failures: {metrics['failure_reasons']}); see {per_item_path(ctx.folder)}")
    rows = [json.loads(line) for _, line in jsonl_lines(per_item_path(ctx.folder))]
    per_prompt = {row["id"]: float(row["score"]) for row in rows if row["score"] is not None}
    return Score(METRIC, metrics["accuracy"], per_prompt, metrics)


SPEC = BenchmarkSpec("llmbar", "LLMBar accuracy: the trained model picks the output that follows the instruction",
                     METRIC, evaluate, expected_size=ITEMS,
                     evaluation_prompts=lambda bench: 2 * (bench.limit or ITEMS),
                     eval_tokens_per_prompt=PROMPT_TOKENS)
