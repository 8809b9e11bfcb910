"""Benchmark of the blocked DEITA diversity filter against its lower bound and the plain loop.

Planted data: CLUSTERS = budget clusters of near-duplicates (cosine ~0.98 within a cluster, ~0
across). Cluster j's best row sits at rank ~j * rows / clusters and its duplicates are spread over
the ranks after it, so the walk must examine almost the whole pool before the budget fills.
Prints: equality with the plain one-candidate-at-a-time loop on a prefix, the full run's time,
the time of one blocked product of every examined candidate against the final kept set (the lower
bound), their ratio (target <= 2), and the peak resident memory (target < 4 GB).

Example: python benchmarks/diversity_filter.py            (1,000,000 x 384, budget 10,000)
         python benchmarks/diversity_filter.py --rows 100000 --budget 1000 --prefix 5000
"""

from __future__ import annotations

import time

import numpy as np
from common import peak_gb, table_parser, timed

from chasing_random.selection.diversity import diversity_walk, normalise_rows


def planted_pool(rows: int, dim: int, clusters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (float32, built in chunks) and scores whose descending order plants the clusters."""
    rng = np.random.default_rng(seed)
    per = rows // clusters
    heads = np.arange(clusters) * per                        # key of each cluster's best row
    cluster_of = np.repeat(np.arange(clusters), per)
    cluster_of = np.concatenate([cluster_of, rng.integers(0, clusters, rows - len(cluster_of))])
    is_head = np.zeros(rows, dtype=bool)
    is_head[np.searchsorted(cluster_of[:clusters * per], np.arange(clusters))] = True
    h = heads[cluster_of].astype(np.float64)
    keys = np.where(is_head, h, h + rng.random(rows) * (rows - h) + 0.5)
    scores = -keys                                           # higher score = earlier in the walk
    perm = rng.permutation(rows)                             # store rows in random order
    cluster_of, scores = cluster_of[perm], scores[perm]
    centers = normalise_rows(rng.standard_normal((clusters, dim), dtype=np.float32))
    emb = np.empty((rows, dim), dtype=np.float32)
    sigma = np.float32(0.15 / np.sqrt(dim))
    for start in range(0, rows, 65536):
        stop = min(rows, start + 65536)
        emb[start:stop] = centers[cluster_of[start:stop]]
        emb[start:stop] += rng.standard_normal((stop - start, dim), dtype=np.float32) * sigma
    return emb, scores


def plain_loop(emb: np.ndarray, scores: np.ndarray, budget: int, threshold: float) -> list[int]:
    """The reference loop: one candidate at a time against every kept row (float64 products)."""
    unit = normalise_rows(emb).astype(np.float64)
    kept_rows = np.empty((min(budget, len(emb)), emb.shape[1]))
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if len(kept) >= budget:
            break
        if not kept or (kept_rows[:len(kept)] @ unit[i]).max() <= threshold:
            kept_rows[len(kept)] = unit[i]
            kept.append(int(i))
    return kept


def lower_bound_seconds(emb, scores, examined: int, kept_idx: np.ndarray, block: int = 2048) -> float:
    """Time of one blocked product of every examined candidate (normalised) against the final kept set."""
    order = np.argsort(-scores, kind="stable")[:examined]
    kept = normalise_rows(emb[kept_idx])
    started = time.perf_counter()
    for start in range(0, examined, block):
        (normalise_rows(emb[order[start:start + block]]) @ kept.T).max(axis=1)
    return time.perf_counter() - started


def main() -> None:
    parser = table_parser(__doc__, rows=1_000_000, dim=384, budget=10_000, prefix=20_000,
                          prefix_help="rows checked against the plain loop")
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args()

    emb, scores = planted_pool(args.rows, args.dim, args.budget)
    prefix = np.argsort(-scores, kind="stable")[:args.prefix]   # the first rows the walk examines
    sample = np.random.default_rng(1).choice(args.rows, args.prefix, replace=False)  # a random slice too
    for name, rows in (("walk-order prefix", prefix), ("random sample", sample)):
        blocked = diversity_walk(emb[rows], scores[rows], args.budget, args.threshold).indices.tolist()
        same = blocked == plain_loop(emb[rows], scores[rows], args.budget, args.threshold)
        print(f"plain loop on a {args.prefix}-row {name}: identical={same} ({len(blocked)} kept)")
        assert same

    result, seconds = timed(diversity_walk, emb, scores, args.budget, args.threshold)
    bound = lower_bound_seconds(emb, scores, result.examined, result.indices)
    print(f"full run: {args.rows} x {args.dim}, budget {args.budget}, threshold {args.threshold}: "
          f"kept {len(result.indices)}, examined {result.examined} ({result.examined / args.rows:.1%} of the pool)")
    print(f"filter {seconds:.2f} s; lower bound (examined x final kept product) {bound:.2f} s; "
          f"ratio {seconds / bound:.2f} (target <= 2)")
    print(f"peak resident memory {peak_gb():.2f} GB (target < 4)")


if __name__ == "__main__":
    main()
