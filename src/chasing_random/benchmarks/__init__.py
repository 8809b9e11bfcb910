"""The benchmark registry: one module per benchmark, one line each below.

Adding a benchmark = a module with a ``SPEC`` (``BenchmarkSpec``: prompts, expected size, scoring into
``Score``, judge or not, generation defaults) and its line here; config validation, the planner, the
stages, the runner and the report read it from here. See docs/architecture.md.
"""

from __future__ import annotations

from chasing_random.benchmarks import (alpaca_eval_pairwise, harness, ifeval, infobench, lima_pairwise, llmbar,
                                       synth_heldout)
from chasing_random.benchmarks.base import UNITS, BenchmarkSpec, EvalContext, Metric, PromptSource, Score, Unit
from chasing_random.errors import ChaseError

BENCHMARKS: dict[str, BenchmarkSpec] = {
    synth_heldout.SPEC.name: synth_heldout.SPEC,
    ifeval.SPEC.name: ifeval.SPEC,
    alpaca_eval_pairwise.SPEC.name: alpaca_eval_pairwise.SPEC,
    harness.SPEC.name: harness.SPEC,
    llmbar.SPEC.name: llmbar.SPEC,
    lima_pairwise.SPEC.name: lima_pairwise.SPEC,
    infobench.SPEC.name: infobench.SPEC,
}

__all__ = ["BENCHMARKS", "UNITS", "BenchmarkSpec", "EvalContext", "Metric", "PromptSource", "Score", "Unit",
           "get_benchmark", "metric_of"]


def get_benchmark(name: str) -> BenchmarkSpec:
    """The registered benchmark, or an error listing the valid names."""
    if name not in BENCHMARKS:
        raise ChaseError(f"unknown benchmark '{name}'; valid: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def metric_of(benchmark: str, metric: str) -> Metric | None:
    """The declared metric of a results-file benchmark name (``harness:TASKS`` -> harness), or None."""
    spec = BENCHMARKS.get(benchmark.split(":", 1)[0])
    if spec is None:
        return None
    return next((m for m in (spec.metric, *spec.secondary_metrics) if m.name == metric), None)
