"""Win-rate metrics as pure functions of AlpacaEval-layout annotations.

Definitions follow AlpacaEval (``output_1`` = reference, ``output_2`` = the model, preference in
[1, 2] where 2 means the model won, 0 is a legacy code for a draw and counts as 1.5). Preferences
that are null or outside [1, 2] are excluded from the metrics, as AlpacaEval excludes them, but
they are counted and reported under ``bad_preferences`` instead of vanishing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chasing_random.data.readers import read_rows_or_raise
from chasing_random.errors import ChaseError

if TYPE_CHECKING:
    from chasing_random.evaluation.lc_winrate import LCFiles

ANNOTATION_FIELDS = ("instruction", "output_1", "output_2")


def read_annotations(path: str | Path) -> list[dict]:
    """An annotations file (.json list or .jsonl); records must be objects with string
    ``instruction``, ``output_1``, ``output_2`` (preferences are checked by ``winrate_metrics``)."""
    path = Path(path)
    if not path.exists():
        raise ChaseError(f"{path}: annotations file not found")
    records = []
    for item in read_rows_or_raise(path, "an annotations file"):
        where = f"{path}:{item.line}"
        if not isinstance(item.row, dict):
            raise ChaseError(f"{where}: expected an annotation object, got {type(item.row).__name__}")
        for field in ANNOTATION_FIELDS:
            if not isinstance(item.row.get(field), str):
                raise ChaseError(f"{where}: field '{field}' must be a string (AlpacaEval annotation layout: "
                                 f"instruction, output_1, generator_1, output_2, generator_2, preference)")
        records.append(item.row)
    if not records:
        raise ChaseError(f"{path}: the annotations file holds no records")
    return records


def preference_array(annotations: list[dict]) -> tuple[np.ndarray, dict]:
    """Preferences as floats (NaN where unusable, 0 mapped to the draw 1.5) and an account of the bad ones."""
    values = np.full(len(annotations), np.nan)
    null, out_of_range, not_a_number, first_bad = 0, 0, 0, []
    for index, record in enumerate(annotations):
        raw = record.get("preference")
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            null += 1
        elif isinstance(raw, bool) or not isinstance(raw, (int, float)):
            not_a_number += 1
        elif raw == 0 or 1 <= raw <= 2:
            values[index] = 1.5 if raw == 0 else float(raw)
            continue
        else:
            out_of_range += 1
        if len(first_bad) < 10:
            first_bad.append({"index": index, "preference": raw})
    audit = {"null": null, "out_of_range": out_of_range, "not_a_number": not_a_number,
             "total": null + out_of_range + not_a_number, "first": first_bad}
    return values, audit


def head_to_head(preferences: np.ndarray) -> dict[str, Any]:
    """AlpacaEval's head-to-head numbers from valid preferences in [1, 2]: the mean of
    (preference - 1) in percent, its standard error (sample std, ddof=1), wins (> 1.5), base wins
    (< 1.5), exact draws (== 1.5) and the count; rates that are undefined (too few values) are None."""
    wins = preferences - 1
    n = len(wins)
    return {
        "win_rate": float(wins.mean() * 100) if n else None,
        "standard_error": float(wins.std(ddof=1) / math.sqrt(n) * 100) if n > 1 else None,
        "n_wins": int((wins > 0.5).sum()),
        "n_wins_base": int((wins < 0.5).sum()),
        "n_draws": int((wins == 0.5).sum()),
        "n_total": n,
    }


def discrete_win_rate(preferences: np.ndarray) -> float | None:
    """Win rate after rounding each preference to a win (2), loss (1) or, for exactly 1.5, a draw (None if empty)."""
    rounded = np.where(preferences == 1.5, 1.5, np.round(preferences))
    return float((rounded - 1).mean() * 100) if len(rounded) else None


def avg_length(annotations: list[dict]) -> int:
    """Mean character length of the model's outputs (``output_2``), truncated to an int as on the leaderboard."""
    return int(np.mean([len(record["output_2"]) for record in annotations]))


def _soft_logistic_fit(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Maximum-likelihood logistic regression with targets in [0, 1] (soft labels); the coefficients."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    def loss_and_grad(beta):
        z = features @ beta
        loss = -(targets * log_expit(z) + (1 - targets) * log_expit(-z)).mean()
        return loss, features.T @ (expit(z) - targets) / len(targets)

    def hessian(beta):
        p = expit(features @ beta)
        return (features * (p * (1 - p))[:, None]).T @ features / len(targets)

    return minimize(loss_and_grad, np.zeros(features.shape[1]), jac=True, hess=hessian, method="trust-exact",
                    options={"gtol": 1e-10}).x


LENGTH_BOOTSTRAP = 200  # refits on resampled prompts for the standard error
NEWTON_STEPS = 25


def _bootstrap_refits(features: np.ndarray, targets: np.ndarray, start: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """The soft-label logistic fit on LENGTH_BOOTSTRAP resamples of the rows at once: resamples as count
    weights (resamples x rows), Newton steps from the full-data fit, all resamples in one array."""
    from scipy.special import expit

    n = len(targets)
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(LENGTH_BOOTSTRAP)]).astype(float)
    beta = np.tile(start, (LENGTH_BOOTSTRAP, 1))
    for _ in range(NEWTON_STEPS):
        p = expit(beta @ features.T)
        gradient = (weights * (p - targets)) @ features
        curvature = weights * p * (1 - p)
        hessian = np.einsum("bn,ni,nj->bij", curvature, features, features) + 1e-9 * np.eye(features.shape[1])
        beta = beta - np.linalg.solve(hessian, gradient[..., None])[..., 0]
    return beta


def _length_features(annotations: list[dict]) -> tuple[np.ndarray, float]:
    delta = np.array([len(r["output_1"]) - len(r["output_2"]) for r in annotations], dtype=float)
    spread = float(delta.std(ddof=1)) if len(delta) > 1 else 0.0
    return (np.tanh(delta / spread) if spread > 0 else np.zeros_like(delta)), spread


def length_adjusted_win_rate(annotations: list[dict], preferences: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """Our own length adjustment (not AlpacaEval's LC, which also needs per-instruction difficulties and
    gamed-baseline annotations that ship only on the hub): fit
    logit P(model wins) = b + w * tanh((len_1 - len_2) / std(len_1 - len_2)) on the valid preferences
    (soft labels) and report 100 * sigmoid(b), the predicted win rate when both answers have the same
    length. It controls for the judge's preference for length only. Its standard error comes from
    refitting on prompts resampled with replacement (sampling error of this prompt set)."""
    from scipy.special import expit

    valid = ~np.isnan(preferences)
    scaled, spread = _length_features(annotations)
    if valid.sum() < 2:
        return {"length_adjusted_win_rate": None, "length_adjusted_se": None, "length_adjusted_model": None}
    features = np.column_stack([np.ones(valid.sum()), scaled[valid]])
    targets = preferences[valid] - 1
    beta = _soft_logistic_fit(features, targets)
    refits = expit(_bootstrap_refits(features, targets, beta, np.random.default_rng(seed))[:, 0])
    return {
        "length_adjusted_win_rate": float(expit(beta[0])) * 100,
        "length_adjusted_se": float(np.std(refits, ddof=1)) * 100,
        "length_adjusted_model": {"intercept": float(beta[0]), "tanh_length_delta": float(beta[1]),
                                  "length_delta_std": spread, "bootstrap_refits": LENGTH_BOOTSTRAP,
                                  "formula": "logit(p) = intercept + w * tanh((len(output_1) - len(output_2)) / std)"},
    }


def winrate_metrics(annotations: list[dict], lc_files: "LCFiles | None" = None) -> dict[str, Any]:
    """Every win-rate metric of one annotation set, plus the generators seen and the bad-preference account;
    AlpacaEval's own length-controlled win rate too when its hub files are given (``lc_winrate``)."""
    preferences, bad = preference_array(annotations)
    valid = preferences[~np.isnan(preferences)]
    metrics = head_to_head(valid)
    metrics["discrete_win_rate"] = discrete_win_rate(valid)
    metrics["avg_length"] = avg_length(annotations)
    metrics.update(length_adjusted_win_rate(annotations, preferences))
    if lc_files is not None:
        from chasing_random.evaluation.lc_winrate import length_controlled_winrate

        metrics.update(length_controlled_winrate(annotations, preferences, lc_files))
    metrics["n_records"] = len(annotations)
    metrics["bad_preferences"] = bad
    metrics["generators_1"] = sorted({str(r.get("generator_1")) for r in annotations})
    metrics["generators_2"] = sorted({str(r.get("generator_2")) for r in annotations})
    return metrics
