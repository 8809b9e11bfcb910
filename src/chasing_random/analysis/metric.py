"""What the statistics need to know about a metric: its unit, its direction, whether per-prompt scores
are binary, and the equivalence margin. One place, so the benchmark registry can supply it later."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROPORTION, PERCENT = "proportion", "percent"
# Equivalence margins (two one-sided tests) when the config gives none: 2 points on the metric's scale.
DEFAULT_MARGIN = {PROPORTION: 0.02, PERCENT: 2.0}


@dataclass(frozen=True)
class MetricSpec:
    """How to read one benchmark metric: ``unit`` is ``proportion`` (values in [0, 1], shown as points)
    or ``percent``; ``binary`` when every per-prompt score is 0 or 1; ``margin`` in value units."""

    unit: str = PROPORTION
    higher_is_better: bool = True
    binary: bool = False
    margin: float = DEFAULT_MARGIN[PROPORTION]

    @property
    def points(self) -> float:
        """Factor from value units to percentage points (for display)."""
        return 100.0 if self.unit == PROPORTION else 1.0


def infer_spec(values: list[float], per_prompt: list[np.ndarray], margin: float | None = None,
               higher_is_better: bool = True) -> MetricSpec:
    """The spec of a metric from its rows: percent when any value exceeds 1.5, binary when every
    per-prompt score is 0 or 1 (and there are some), the configured margin or the unit's default."""
    unit = PERCENT if any(abs(v) > 1.5 for v in values) else PROPORTION
    scores = [a for a in per_prompt if a.size]
    binary = bool(scores) and all(np.isin(a, (0.0, 1.0)).all() for a in scores)
    return MetricSpec(unit, higher_is_better, binary, DEFAULT_MARGIN[unit] if margin is None else margin)
