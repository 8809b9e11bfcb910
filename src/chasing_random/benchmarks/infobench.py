"""``infobench``: DRFR, the share of InFoBench's decomposed requirements a judge answers Yes about the
model's outputs (failures left out and counted). Per instruction: the share of its answered questions
judged Yes, weighted by their number, so DRFR is a ratio whose instructions are clusters (one response
is judged on all of an instruction's requirements)."""

from __future__ import annotations

import json
from collections import defaultdict

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, PromptSource, Score
from chasing_random.errors import ChaseError

METRIC = Metric("drfr", "fraction")
QUESTIONS_PER_ITEM = 4.5  # 2,250 requirements over 500 instructions


def prompts(bench, folder) -> PromptSource:
    """InFoBench's prompts: ``data`` (a local file in the dataset's layout) or the hub's ``kqsong/InFoBench``."""
    return PromptSource(f"infobench@{bench.data}" if bench.data else "infobench", bench.limit)


def evaluate(ctx: EvalContext) -> Score:
    from chasing_random.evaluation.infobench import per_question_path, run_infobench
    from chasing_random.store import jsonl_lines

    metrics = run_infobench(ctx.outputs, ctx.judge.build(), ctx.folder, data=ctx.bench.data,
                            protocol=ctx.bench.protocol, allow_partial=ctx.bench.limit is not None)
    if metrics["drfr"] is None:
        raise ChaseError(f"InFoBench: the judge answered none of {metrics['n_questions']} questions "
                         f"(failures: {metrics['failure_reasons']}); see {per_question_path(ctx.folder)}")
    yes: dict[str, float] = defaultdict(float)
    answered: dict[str, float] = defaultdict(float)
    for _, line in jsonl_lines(per_question_path(ctx.folder)):
        row = json.loads(line)
        if row["answer"] is not None:
            yes[str(row["id"])] += row["answer"] == "Yes"
            answered[str(row["id"])] += 1
    per_prompt = {key: yes[key] / count for key, count in answered.items()}
    return Score(METRIC, metrics["drfr"], per_prompt, metrics, metrics.get("api_tokens", {}),
                 per_prompt_weight=dict(answered))


SPEC = BenchmarkSpec("infobench", "InFoBench DRFR: decomposed requirements judged Yes", METRIC, evaluate, prompts,
                     expected_size=500, needs_judge=True,
                     evaluation_prompts=lambda bench: int((bench.limit or 500) * QUESTIONS_PER_ITEM),
                     eval_tokens_per_prompt=700)
