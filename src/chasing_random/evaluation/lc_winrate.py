"""AlpacaEval 2's length-controlled (LC) win rate, computed from its hub files in a local folder.

AlpacaEval (Dubois et al. 2024, "Length-Controlled AlpacaEval") fits, per model, the logistic GLM
logit P(model beats the baseline) = w_len * tanh(delta_len / sd) + w_diff * difficulty_i + w_model
(no intercept) with the preferences as soft labels, L1 penalty, C chosen by 5-fold grouped cross-
validation, and the annotations of two "gamed" (verbose, concise) baselines added with weight
lambda / 2 = 0.1 each to pull the length weight toward the baseline's. The LC win rate is the
model's predicted win rate at delta_len = 0, averaged over the instructions. The instruction
difficulties and the gamed rows ship only on the hub (dataset ``tatsu-lab/alpaca_eval``:
``df_gamed.csv``, ``instruction_difficulty.csv``); this module reads them from a folder and never
downloads. Without them, ``winrate.length_adjusted_win_rate`` is our own, differently named measure.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chasing_random.errors import ChaseError

HUB_DATASET = "tatsu-lab/alpaca_eval"
GAMED_FILE = "df_gamed.csv"
DIFFICULTY_FILE = "instruction_difficulty.csv"
GAMED_COLUMNS = ("index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline")
FEATURES = ("np.tanh(std_delta_len)", "instruction_difficulty", "not_gamed_baseline.astype(float)")
# AlpacaEval's "length_controlled_v1" GLM: regularisation toward the gamed baselines, its CV and solver.
REGULARIZE_LAMBDA = 0.2
N_SPLITS = 5
CS = np.logspace(-4, 4, 10)  # LogisticRegressionCV's default grid of C
RANDOM_STATE = 123
BOOTSTRAP = 100  # refits on resampled instructions (at the chosen C) for a sampling standard error
DIFFICULTY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class LCFiles:
    """The hub files' content: the gamed baselines' rows (features, soft preference in [0, 1] or NaN,
    not_gamed flag) and each AlpacaEval instruction's difficulty (position = instruction index)."""

    folder: Path
    gamed_features: np.ndarray  # rows x FEATURES (tanh already applied)
    gamed_preference: np.ndarray
    gamed_not_gamed: np.ndarray
    difficulty: np.ndarray
    difficulty_file_max_abs_diff: float | None  # against instruction_difficulty.csv when present


def _cell(path: Path, line: int, column: str, text: str, kind: str) -> Any:
    """One parsed CSV cell, or a one-line error naming file, line and column."""
    where = f"{path}:{line}: column '{column}'"
    stripped = text.strip()
    if kind == "bool":
        if stripped.lower() in ("true", "false"):
            return stripped.lower() == "true"
        raise ChaseError(f"{where}: expected True or False, got {text!r}")
    if kind == "optional" and stripped == "":
        return math.nan
    try:
        value = float(stripped)
    except ValueError:
        raise ChaseError(f"{where}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ChaseError(f"{where}: expected a finite number, got {text!r}")
    if kind == "index":
        if value < 0 or value != int(value):
            raise ChaseError(f"{where}: expected an instruction index (an integer >= 0), got {text!r}")
        return int(value)
    if kind == "optional" and not 0 <= value <= 1:
        raise ChaseError(f"{where}: a gamed preference must lie in [0, 1] (AlpacaEval stores preference - 1), "
                         f"got {text!r}")
    return value


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line, cells) of a CSV file; unreadable or ragged files raise naming the line."""
    if not path.is_file():
        raise ChaseError(f"{path}: not found; download '{path.name}' from the hub dataset {HUB_DATASET} "
                         f"(huggingface-cli download {HUB_DATASET} {path.name} --repo-type dataset --local-dir DIR)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ChaseError(f"{path}: empty file; expected a CSV with a header line")
            rows = []
            for cells in reader:
                if not cells:
                    continue
                if len(cells) != len(header):
                    raise ChaseError(f"{path}:{reader.line_num}: {len(cells)} fields where the header has "
                                     f"{len(header)}")
                rows.append((reader.line_num, cells))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ChaseError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise ChaseError(f"{path}: no data rows under the header")
    return header, rows


def _read_gamed(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    header, rows = _rows(path)
    missing = [c for c in GAMED_COLUMNS if c not in header]
    if missing:
        raise ChaseError(f"{path}:1: missing column(s) {', '.join(missing)}; AlpacaEval's {GAMED_FILE} has "
                         f"{', '.join(GAMED_COLUMNS)} (and 'model')")
    at = {c: header.index(c) for c in GAMED_COLUMNS}
    kinds = {"index": "index", "preference": "optional", "std_delta_len": "number",
             "instruction_difficulty": "number", "not_gamed_baseline": "bool"}
    parsed = [{c: _cell(path, line, c, cells[at[c]], kinds[c]) for c in GAMED_COLUMNS} for line, cells in rows]
    difficulty: dict[int, tuple[float, int]] = {}
    for (line, _), row in zip(rows, parsed):
        first = difficulty.setdefault(row["index"], (row["instruction_difficulty"], line))
        if abs(first[0] - row["instruction_difficulty"]) > DIFFICULTY_TOLERANCE:
            raise ChaseError(f"{path}:{line}: column 'instruction_difficulty': {row['instruction_difficulty']} for "
                             f"instruction {row['index']}, which line {first[1]} gives as {first[0]}")
    count = max(difficulty) + 1
    if len(difficulty) != count:
        gap = next(i for i in range(count) if i not in difficulty)
        raise ChaseError(f"{path}: instruction indices must run 0..{count - 1} (AlpacaEval's eval-set order); "
                         f"index {gap} has no row")
    features = np.array([[math.tanh(r["std_delta_len"]), r["instruction_difficulty"], float(r["not_gamed_baseline"])]
                         for r in parsed])
    return (features, np.array([r["preference"] for r in parsed]), np.array([r["not_gamed_baseline"] for r in parsed]),
            np.array([difficulty[i][0] for i in range(count)]))


def _difficulty_file_gap(path: Path, difficulty: np.ndarray) -> float:
    """Largest |difference| between instruction_difficulty.csv and df_gamed.csv's difficulties."""
    header, rows = _rows(path)
    if len(header) != 2:
        raise ChaseError(f"{path}:1: expected two columns (instruction index, difficulty), got {len(header)}")
    name = header[1] or "instruction_difficulty"
    values = {}
    for line, cells in rows:
        values[_cell(path, line, header[0] or "index", cells[0], "index")] = _cell(path, line, name, cells[1], "number")
    if set(values) != set(range(len(difficulty))):
        raise ChaseError(f"{path}: has {len(values)} instructions, {GAMED_FILE} has {len(difficulty)} (0..N-1); "
                         "the two files come from different AlpacaEval versions")
    return float(np.max(np.abs(np.array([values[i] for i in range(len(difficulty))]) - difficulty)))


def read_lc_files(folder: str | Path) -> LCFiles:
    """The hub files from ``folder`` (e.g. a hub snapshot of the dataset): ``df_gamed.csv`` is required;
    ``instruction_difficulty.csv``, when present, is checked against it (AlpacaEval's LC reads only the former)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChaseError(f"{folder}: no such folder (--lc-dir wants the folder holding AlpacaEval's {GAMED_FILE})")
    features, preference, not_gamed, difficulty = _read_gamed(folder / GAMED_FILE)
    gap = (_difficulty_file_gap(folder / DIFFICULTY_FILE, difficulty) if (folder / DIFFICULTY_FILE).exists()
           else None)
    return LCFiles(folder, features, preference, not_gamed, difficulty, gap)


def _soft_logloss(target: np.ndarray, predicted: np.ndarray, weight: np.ndarray) -> float:
    """AlpacaEval's CV score: mean over rows of weight * soft-label log loss (probabilities clipped at 1e-15)."""
    predicted = np.clip(predicted, 1e-15, 1 - 1e-15)
    return float(-np.mean(weight * (target * np.log(predicted) + (1 - target) * np.log(1 - predicted))))


def _fit_liblinear(c: float, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray):
    """AlpacaEval's L1 logistic regression (liblinear, no intercept) fitted at C = ``c``."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", fit_intercept=False, random_state=RANDOM_STATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear's convergence notes; the coefficients are what they are
        return model.fit(x, y, sample_weight=sample_weight)


def _gamed_weight(not_gamed: np.ndarray) -> np.ndarray:
    """Row weights of the fit: 1 for a real comparison, REGULARIZE_LAMBDA / 2 for a length-gamed one."""
    return not_gamed + REGULARIZE_LAMBDA * ~not_gamed / 2


def _duplicated(features: np.ndarray, target: np.ndarray, weight: np.ndarray):
    """Soft labels as liblinear takes them: each row as a win weighted target * weight and a loss weighted
    (1 - target) * weight."""
    rows = len(target)
    return (np.vstack([features, features]), np.r_[np.ones(rows), np.zeros(rows)],
            np.r_[target * weight, (1 - target) * weight])


def fit_glm(features: np.ndarray, target: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float]:
    """The L1-penalised soft-label logistic fit AlpacaEval uses (liblinear, no intercept): each row twice,
    as a win with weight target * weight and as a loss with weight (1 - target) * weight; C from
    ``CS`` by 5-fold GroupKFold (a row's two copies share a fold) on the weighted soft log loss; then
    refit on all rows. Returns (coefficients, chosen C)."""
    from sklearn.model_selection import GroupKFold

    rows = len(target)
    x, y, sample_weight = _duplicated(features, target, weight)
    soft, true_weight, groups = np.r_[target, target], np.r_[weight, weight], np.r_[np.arange(rows), np.arange(rows)]

    def fit(c: float, index: np.ndarray):
        return _fit_liblinear(c, x[index], y[index], sample_weight[index])

    folds = list(GroupKFold(n_splits=N_SPLITS).split(x, y, groups))
    scores = np.zeros(len(CS))
    for i, c in enumerate(CS):
        for train, test in folds:
            predicted = fit(c, train).predict_proba(x[test])[:, 1]
            scores[i] -= _soft_logloss(soft[test], predicted, true_weight[test])
    best = float(CS[int(np.argmax(scores))])
    return fit(best, np.arange(2 * rows)).coef_[0].copy(), best


def _bootstrap_lcs(files: LCFiles, mine: np.ndarray, preferences: np.ndarray, c: float, seed: int) -> np.ndarray:
    """LC win rates refitted (at C = ``c``) on BOOTSTRAP resamples of the model's instructions; the gamed
    baseline rows stay as they are (they are the leaderboard's, not this sample's)."""
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    weight_gamed = _gamed_weight(files.gamed_not_gamed)
    out = np.empty(BOOTSTRAP)
    for b in range(BOOTSTRAP):
        pick = rng.integers(0, len(mine), len(mine))
        target = np.r_[files.gamed_preference, preferences[pick] - 1]
        keep = ~np.isnan(target)
        x, y, w = _duplicated(np.vstack([files.gamed_features, mine[pick]])[keep], target[keep],
                              np.r_[weight_gamed, np.ones(len(pick))][keep])
        coef = _fit_liblinear(c, x, y, w).coef_[0]
        out[b] = expit(mine[pick][:, 1:] @ coef[1:]).mean() * 100
    return out


def length_controlled_winrate(annotations: list[dict], preferences: np.ndarray, files: LCFiles, *,
                              seed: int = 0) -> dict[str, Any]:
    """AlpacaEval's LC win rate of one annotation set against its baseline (``output_1``). Row i must be
    AlpacaEval instruction i (the eval set's order, as AlpacaEval assumes); ``preferences`` are in [1, 2]
    or NaN (excluded from the fit, still predicted). ``lc_standard_error`` is AlpacaEval's: the SEM of the
    per-instruction predictions, which ignores the sampling of prompts and of the fit; ``lc_bootstrap_se``
    (ours) is the SD of refits on instructions resampled with replacement, at the chosen C."""
    from scipy.special import expit

    count = len(files.difficulty)
    if len(annotations) != count:
        raise ChaseError(f"the LC win rate needs one annotation per AlpacaEval instruction in the eval set's order "
                         f"({count} in {files.folder / GAMED_FILE}); got {len(annotations)}")
    generators = {(r.get("generator_1"), r.get("generator_2")) for r in annotations}
    delta = np.array([len(r["output_1"]) - len(r["output_2"]) for r in annotations], dtype=float)
    spread = float(delta.std(ddof=1))
    length = np.tanh(delta / spread) if spread > 0 else np.zeros(count)
    mine = np.column_stack([length, files.difficulty, np.ones(count)])
    baseline, model = next(iter(generators)) if len(generators) == 1 else (None, None)
    if baseline is not None and baseline == model:
        coef, best = np.zeros(len(FEATURES)), None  # the baseline against itself: 50 by construction
    else:
        features = np.vstack([files.gamed_features, mine])
        target = np.r_[files.gamed_preference, preferences - 1]
        not_gamed = np.r_[files.gamed_not_gamed, np.ones(count, bool)]
        weight = _gamed_weight(not_gamed)
        keep = ~np.isnan(target)
        coef, best = fit_glm(features[keep], target[keep], weight[keep])
    at_equal_length = mine.copy()
    at_equal_length[:, 0] = 0.0
    predicted = expit(at_equal_length @ coef)
    refits = _bootstrap_lcs(files, mine, preferences, best, seed) if best is not None else np.zeros(2)
    return {
        "length_controlled_winrate": float(predicted.mean() * 100),
        "lc_standard_error": float(predicted.std(ddof=1) / math.sqrt(count) * 100),
        "lc_bootstrap_se": float(refits.std(ddof=1)),
        "lc_model": {"weights": dict(zip(FEATURES, map(float, coef))), "C": best, "length_delta_std": spread,
                     "n_gamed_rows": int(len(files.gamed_preference)), "regularize_to_baseline_lambda":
                     REGULARIZE_LAMBDA, "glm": "length_controlled_v1", "files": str(files.folder),
                     "difficulty_file_max_abs_diff": files.difficulty_file_max_abs_diff,
                     "bootstrap_refits": BOOTSTRAP if best is not None else 0},
    }
