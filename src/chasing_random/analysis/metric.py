"""What the statistics need to know about a metric: its unit and direction (from the benchmark
registry, carried by the result rows), whether per-prompt scores are binary, and the equivalence margin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chasing_random.results import EvaluationRow

# Equivalence margins (two one-sided tests) when the config gives none: 2 points for fractions and
# percents, 0.1 for scores on other scales.
DEFAULT_MARGIN = {"fraction": 0.02, "percent": 2.0, "score": 0.1}


@dataclass(frozen=True)
class MetricSpec:
    """How to read one benchmark metric: ``unit`` a key of ``chasing_random.benchmarks.UNITS``;
    ``binary`` when every per-prompt score is 0 or 1; ``margin`` in value units."""

    unit: str = "fraction"
    higher_is_better: bool = True
    binary: bool = False
    margin: float = DEFAULT_MARGIN["fraction"]

    @property
    def points(self) -> float:
        """Factor from value units to percentage points (for display); 1 for percents and scores."""
        return 100.0 if self.unit == "fraction" else 1.0


def spec_of(rows: list[EvaluationRow], margin: float | None = None) -> MetricSpec:
    """The spec of a setting's rows: unit and direction as the registry declared them, binary when every
    per-prompt score is 0 or 1 (and there are some) and no prompt carries a weight (a weighted prompt is
    a cluster of units, not one 0/1 outcome), the configured margin or the unit's default."""
    unit = rows[0].unit or "fraction"
    higher = rows[0].higher_is_better if rows[0].higher_is_better is not None else True
    scores = [np.fromiter(r.per_prompt.values(), float) for r in rows if r.per_prompt]
    binary = (bool(scores) and all(np.isin(a, (0.0, 1.0)).all() for a in scores)
              and not any(r.per_prompt_weight for r in rows))
    return MetricSpec(unit, higher, binary, DEFAULT_MARGIN.get(unit, 0.1) if margin is None else margin)
