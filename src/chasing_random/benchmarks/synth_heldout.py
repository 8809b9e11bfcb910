"""``synth_heldout``: exact match on fresh tasks of the audit pool's families (disjoint from any pool)."""

from __future__ import annotations

import json
from pathlib import Path

from chasing_random.benchmarks.base import BenchmarkSpec, EvalContext, Metric, PromptSource, Score

METRIC = Metric("exact_match", "fraction")
PROMPTS_FILE = "prompts.jsonl"


def prompts(bench, folder: Path) -> PromptSource:
    """Write the held-out items into the generation folder; generation reads them as a prompt file."""
    from chasing_random.data.synth import heldout_set

    items = heldout_set(bench.limit or 200, bench.seed)
    path = folder / PROMPTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return PromptSource(f"file:{path}", None)


def evaluate(ctx: EvalContext) -> Score:
    """Per-prompt exact match against the items written beside the outputs."""
    from chasing_random.data.synth import score_heldout
    from chasing_random.store import jsonl_lines, write_json_atomic

    items = [json.loads(line) for _, line in jsonl_lines(ctx.outputs.parent / PROMPTS_FILE)]
    scored = score_heldout(json.loads(ctx.outputs.read_text(encoding="utf-8")), items)
    per_prompt = {row["instruction"]: row["score"] for row in scored}
    value = sum(per_prompt.values()) / len(per_prompt) if per_prompt else 0.0
    write_json_atomic(ctx.folder / "metrics.json", {"exact_match": value, "n": len(per_prompt)})
    return Score(METRIC, value, per_prompt)


SPEC = BenchmarkSpec("synth_heldout", "exact match on held-out audit-pool tasks", METRIC, evaluate, prompts,
                     expected_size=200)
