"""What a benchmark is to the pipeline: its prompts, its expected size, how its outputs become a
score (metric, value, unit, direction, per-prompt scores), whether it needs a judge, and its
generation defaults. One ``BenchmarkSpec`` per benchmark module; ``chasing_random.benchmarks``
holds the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from chasing_random.judges.factory import JudgeSpec
from chasing_random.schema import BenchmarkEntry


@dataclass(frozen=True)
class Unit:
    """How a metric's values read: ``per_prompt_scale`` turns per-prompt scores (fractions) into the
    value's unit, ``digits`` is how many decimals tables show."""

    name: str
    per_prompt_scale: float
    digits: int


UNITS = {"fraction": Unit("fraction", 1.0, 4), "percent": Unit("percent", 100.0, 2), "score": Unit("score", 1.0, 2)}


@dataclass(frozen=True)
class Metric:
    """A metric a benchmark reports: its name, unit (a key of ``UNITS``), direction, and the fixed
    reference the value is compared with instead of random when there is one (50 for win rates)."""

    name: str
    unit: str
    higher_is_better: bool = True
    reference_value: float | None = None

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"metric '{self.name}': unknown unit '{self.unit}'; valid: {', '.join(UNITS)}")


@dataclass(frozen=True)
class Score:
    """One model's result on a benchmark: the metric's value, its per-prompt scores, the full metrics
    file's content and what judging cost (``api_tokens``: model -> {input, output}).

    ``per_prompt_weight`` (prompt key -> units the prompt's score averages over, e.g. the instructions of
    an IFEval prompt) makes the value a ratio, sum(w * score) / sum(w), whose prompts are clusters;
    empty = every prompt weighs one. ``secondary`` holds further metrics of the same outputs (each its
    own row in the results)."""

    metric: Metric
    value: float
    per_prompt: dict[str, float]
    metrics: dict[str, Any] = field(default_factory=dict)
    api_tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    per_prompt_weight: dict[str, float] = field(default_factory=dict)
    secondary: tuple["Score", ...] = ()

    def outputs(self) -> dict:
        """The evaluation stage's outputs (its done record)."""
        return {"metric": self.metric.name, "value": self.value, "unit": self.metric.unit,
                "higher_is_better": self.metric.higher_is_better, "reference_value": self.metric.reference_value,
                "metrics": self.metrics, "per_prompt": self.per_prompt, "per_prompt_weight": self.per_prompt_weight,
                "api_tokens": self.api_tokens,
                "secondary": [{k: v for k, v in s.outputs().items() if k not in ("metrics", "api_tokens", "secondary")}
                              for s in self.secondary]}


@dataclass(frozen=True)
class PromptSource:
    """What generation reads: a ``load_benchmark`` name (or ``file:PATH``) and a prompt limit."""

    name: str
    limit: int | None


@dataclass(frozen=True)
class EvalContext:
    """What an evaluation sees: the benchmark's config, the stage folder, the generated outputs (or
    the trained model for benchmarks that do not generate), reference outputs and the judge."""

    bench: BenchmarkEntry
    folder: Path
    outputs: Path | None = None
    model_dir: str | None = None
    references: list[str] = field(default_factory=list)
    judge: JudgeSpec | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark of the experiment grid.

    ``prompts`` (generating benchmarks) writes any prompt file into the generation folder and says
    what to generate on; ``evaluate`` scores one model. ``pairwise`` benchmarks are scored against the
    random models' outputs at the same pool and budget; ``needs_judge`` ones get the experiment's
    judge (or the benchmark's own ``judge``). ``eval_tokens_per_prompt`` sizes ``--dry-run`` estimates
    of the evaluation (judge or model tokens per prompt).
    """

    name: str
    description: str
    metric: Metric
    evaluate: Callable[[EvalContext], Score]
    prompts: Callable[[BenchmarkEntry, Path], PromptSource] | None = None
    expected_size: int | None = None
    needs_judge: bool = False
    pairwise: bool = False
    max_new_tokens: int | None = None
    eval_tokens_per_prompt: int = 0
    validate: Callable[[BenchmarkEntry], None] | None = None
    result_name: Callable[[BenchmarkEntry], str] | None = None
    evaluation_prompts: Callable[[BenchmarkEntry], int] | None = None
    secondary_metrics: tuple[Metric, ...] = ()

    @property
    def generates(self) -> bool:
        return self.prompts is not None

    def label(self, bench: BenchmarkEntry) -> str:
        """The benchmark's name in results files (e.g. ``harness:mmlu+arc_easy``)."""
        return self.result_name(bench) if self.result_name else self.name

    def prompt_count(self, bench: BenchmarkEntry) -> int:
        """Prompts (or documents) one evaluation runs over, for estimates."""
        if self.evaluation_prompts:
            return self.evaluation_prompts(bench)
        return bench.limit or self.expected_size or 500
