"""``lima_pairwise``: win rate (percent) on LIMA's 300 test prompts against the random models of the same
pool and budget, judged like ``alpaca_eval_pairwise``; 50 is a tie with random."""

from __future__ import annotations

from chasing_random.benchmarks.alpaca_eval_pairwise import LENGTH_METRIC, METRIC, evaluate
from chasing_random.benchmarks.base import BenchmarkSpec, PromptSource


def prompts(bench, folder) -> PromptSource:
    """LIMA's test prompts: ``data`` (a local file in the hub's layout) or the hub's ``GAIR/lima``."""
    return PromptSource(f"lima@{bench.data}" if bench.data else "lima", bench.limit)


SPEC = BenchmarkSpec("lima_pairwise", "LIMA (test) win rate against the random models, LLM-judged", METRIC,
                     evaluate, prompts, expected_size=300, needs_judge=True, pairwise=True,
                     eval_tokens_per_prompt=700, secondary_metrics=(LENGTH_METRIC,))
