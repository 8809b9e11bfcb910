"""DEITA's greedy diversity filter, blocked: one matrix product per block of candidates.

Semantics (METHODS.md): sort rows by score descending (ties: lower index first), keep the first,
walk down and reject a candidate whose cosine similarity to any kept row exceeds the threshold,
stop at the budget. Rows are L2-normalised to float32. A similarity is compared with the
threshold exactly (``math.fsum`` of the float64 products of the two float32 rows) whenever the
fast float32 product lies within its rounding-error bound of the threshold, so the result is
identical to the plain one-candidate-at-a-time loop, whatever the block size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chasing_random.errors import ChaseError

DEFAULT_BLOCK = 2048


@dataclass
class DiversityResult:
    """Selected row indices in selection order, how many candidates were examined, and for
    every rejected candidate its largest similarity to the rows kept before it."""

    indices: np.ndarray
    examined: int
    rejected_similarity: np.ndarray


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (norms in float64), as float32; zero rows stay zero."""
    x64 = np.asarray(x, dtype=np.float64)
    norms = np.sqrt((x64 * x64).sum(axis=1, keepdims=True))
    norms[norms == 0] = 1.0
    return (x64 / norms).astype(np.float32)


def exact_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The correctly rounded dot product of two float32 rows (products are exact in float64)."""
    return math.fsum((a.astype(np.float64) * b.astype(np.float64)).tolist())


def error_margin(dim: int) -> float:
    """A bound on the float32 rounding error of a dot product of two unit rows of length ``dim``."""
    return 2.0 * dim * 2.0 ** -24 + 1e-7


def _exceeds(row: np.ndarray, fast: np.ndarray, others: np.ndarray, threshold: float, margin: float) -> bool:
    """Whether ``row`` is more similar than the threshold to any of ``others`` (fast sims given)."""
    if fast.size == 0:
        return False
    if fast.max() > threshold + margin:
        return True
    near = np.flatnonzero(fast >= threshold - margin)
    return any(exact_similarity(row, others[j]) > threshold for j in near)


def diversity_walk(embeddings: np.ndarray, scores: np.ndarray, budget: int, threshold: float,
                   block_size: int = DEFAULT_BLOCK) -> DiversityResult:
    """The filter with the bookkeeping needed to explain an underflow (see module docstring)."""
    embeddings = np.asarray(embeddings)
    scores = np.asarray(scores, dtype=np.float64)
    if embeddings.ndim != 2 or scores.shape != (embeddings.shape[0],):
        raise ChaseError(f"diversity filter: embeddings must be (n, d) and scores (n,), got {embeddings.shape} "
                         f"and {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ChaseError("diversity filter: scores contain NaN or infinity")
    if budget < 0 or block_size < 1:
        raise ChaseError(f"diversity filter: budget must be >= 0 and block_size >= 1, got {budget}, {block_size}")
    n, dim = embeddings.shape
    order = np.argsort(-scores, kind="stable")
    margin = error_margin(dim)
    kept = np.empty((min(budget, n), dim), dtype=np.float32)
    selected: list[int] = []
    rejected_sims: list[float] = []
    examined = 0
    for start in range(0, n, block_size):
        if len(selected) >= budget:
            break
        rows = order[start:start + block_size]
        block = normalise_rows(embeddings[rows])
        k0 = len(selected)
        sims = block @ kept[:k0].T if k0 else np.zeros((len(rows), 0), dtype=np.float32)
        best = sims.max(axis=1) if k0 else np.full(len(rows), -np.inf, dtype=np.float32)
        # A candidate is clearly rejected by the kept set, clearly not, or needs the exact check.
        rejected = best > threshold + margin
        unsure = np.flatnonzero(~rejected & (best >= threshold - margin))
        for r in unsure:
            rejected[r] = _exceeds(block[r], sims[r], kept[:k0], threshold, margin)
        survivors = np.flatnonzero(~rejected)
        gram = block[survivors] @ block[survivors].T
        accepted: list[int] = []  # positions in ``survivors`` accepted in this block
        stop = len(rows)
        for s, r in enumerate(survivors):
            if len(selected) >= budget:
                stop = r
                break
            if _exceeds(block[r], gram[s, accepted], block[survivors[accepted]], threshold, margin):
                rejected[r] = True
                continue
            accepted.append(s)
            kept[len(selected)] = block[r]
            selected.append(int(rows[r]))
        examined += stop
        inner = gram[:, accepted].max(axis=1) if accepted else np.full(len(survivors), -np.inf)
        within = np.full(len(rows), -np.inf)
        within[survivors] = inner
        for r in np.flatnonzero(rejected[:stop]):
            rejected_sims.append(float(max(best[r], within[r])))
    return DiversityResult(np.asarray(selected, dtype=np.int64), examined, np.asarray(rejected_sims, dtype=np.float64))


def diversity_filter(embeddings: np.ndarray, scores: np.ndarray, budget: int, threshold: float) -> np.ndarray:
    """Row indices kept by DEITA's greedy filter, in selection order (exactly the plain loop's result)."""
    return diversity_walk(embeddings, scores, budget, threshold).indices


def underflow_report(result: DiversityResult, budget: int, threshold: float) -> str | None:
    """None when the budget was filled; otherwise the rows reached and a looser threshold to try.

    The suggestion is the similarity cap under which enough rejected rows would have passed their
    check against the rows kept before them: an estimate, since admitting rows also blocks others.
    """
    reached = len(result.indices)
    if reached >= budget:
        return None
    missing = budget - reached
    sims = np.sort(result.rejected_similarity)
    if len(sims) >= missing:
        suggestion = f"a higher similarity threshold, about {min(1.0, float(sims[missing - 1]) + 1e-3):.3f}"
    else:
        suggestion = "no threshold can fill it: the pool has fewer rows than the budget"
    return (f"diversity filter underflow: reached {reached} of {budget} rows at threshold {threshold:g} "
            f"(examined {result.examined}); try {suggestion} (a similarity above the threshold is rejected)")
