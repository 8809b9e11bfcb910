"""The experiment file's pieces that layers below ``config`` read too: the strict base model, a judge
entry and a benchmark entry (the benchmark modules score against it; ``config`` checks it against
the registry).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chasing_random.errors import ChaseError
from chasing_random.judges.factory import JudgeSpec


class Strict(BaseModel):
    """Base model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class JudgeConfig(Strict):
    """A judge: its spec (``local:NAME`` or ``openai:MODEL``) and backend options (base_url,
    max_concurrency, ...). The experiment's judge is the default of every judge-based strategy and of
    pairwise benchmarks; a strategy (``options.judge`` + ``options.judge_options``) or a benchmark
    (``judge:``) may set its own."""

    spec: str = "local:smollm2-135m-instruct"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("spec")
    @classmethod
    def _parses(cls, spec: str) -> str:
        try:
            JudgeSpec.parse(spec, bare_is_local=False)
        except ChaseError as exc:
            raise ValueError(str(exc)) from None
        return spec

    def parsed(self) -> JudgeSpec:
        """The ``JudgeSpec`` (the one parsed form every judge of a run is built from)."""
        return JudgeSpec.parse(self.spec, self.options, bare_is_local=False)


class BenchmarkEntry(Strict):
    """One benchmark of the experiment file as its benchmark module reads it: generation on its prompts,
    then its metric. ``config.BenchmarkConfig`` adds the checks against the registry."""

    def judged_in_both_orders(self, judge: JudgeSpec) -> bool:
        """Whether pairs are judged in both shown orders: as configured, else yes unless ``judge`` (a
        parsed JudgeSpec) is an API judge (local judges are cheap and position-biased)."""
        if self.both_orders is not None:
            return self.both_orders
        return not judge.is_api

    name: str
    limit: int | None = Field(default=None, gt=0)
    seed: int = Field(default=0, ge=0)
    subset: str | None = None
    max_new_tokens: int | None = None
    tasks: list[str] = Field(default_factory=list, description="harness only")
    data: str | None = Field(default=None, description="llmbar, lima_pairwise, infobench: a local copy of the "
                                                       "benchmark's data (default: the hub / its repository)")
    protocol: Literal["weighted", "discrete"] = "weighted"
    both_orders: bool | None = Field(default=None, description="judge each pair in both shown orders; "
                                     "default: yes for local judges (cheap, position-biased), no for API judges")
    margin: float | None = Field(default=None, gt=0, description="equivalence margin of the report's verdicts, in "
                                 "the metric's units (default 0.02 for fractions, 2.0 for percents)")
    judge: JudgeConfig | None = Field(default=None, description="judge-based benchmarks: this benchmark's own "
                                                                 "judge instead of the experiment's")

    def fingerprint_view(self) -> dict:
        """The config that keys generation stages (the judge only keys evaluation)."""
        return self.model_dump(exclude={"judge"})
