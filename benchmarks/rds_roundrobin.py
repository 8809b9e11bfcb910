"""Benchmark of RDS+ round-robin selection: blocked top-k products against the plain loop.

Clustered unit vectors stand in for an embedding index (queries are drawn near random clusters, so
queries compete for the same rows as in real targeted selection). Runs the whole table first and
prints its time and the peak resident memory before and after it (so the blocked run's memory
beyond the table is visible), then the identity of the blocked result with the plain loop (full
similarity matrix in float64, one masked argmax per turn) on a prefix, both times on that prefix and their ratio.

Example: python benchmarks/rds_roundrobin.py                      (100,000 x 576, 1,000 queries, budget 10,000)
         python benchmarks/rds_roundrobin.py --rows 1000000         (the issue's 1M x 576 case)
"""

from __future__ import annotations

import time

import numpy as np
from common import clustered, peak_gb, table_parser, timed

from chasing_random.selection.rds import BLOCK_ROWS, round_robin, round_robin_reference


def main() -> None:
    parser = table_parser(__doc__, rows=100_000, dim=576, budget=10_000, prefix=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    import torch  # noqa: F401  (imported before timing: the blocked top-k uses torch.topk)

    rng = np.random.default_rng(0)
    pool = clustered(rng, args.rows, args.dim, 200, noise=0.8)
    queries = clustered(rng, args.queries, args.dim, 200, noise=0.8)
    if args.prefix < args.rows:
        before = peak_gb()
        (order, *_), full_s = timed(round_robin, pool, queries, args.budget)
        after = peak_gb()
        tick = time.perf_counter()
        for start in range(0, args.rows, BLOCK_ROWS):  # the lower bound: the products alone, nothing kept
            queries @ pool[start:start + BLOCK_ROWS].T
        bare_s = time.perf_counter() - tick
        print(f"whole table {args.rows} x {args.dim}, {args.queries} queries, budget {args.budget}: blocked "
              f"{full_s:.2f} s ({len(order)} rows, {len(set(order))} distinct); the bare blocked products alone "
              f"{bare_s:.2f} s (blocked / bare = {full_s / bare_s:.2f}); peak resident memory {before:.2f} GB with "
              f"the table ({pool.nbytes / 2**30:.2f} GB) built, {after:.2f} GB after the run")
    prefix, budget_prefix = pool[:args.prefix], min(args.budget, args.prefix) * args.prefix // args.rows or 100
    plain, plain_s = timed(round_robin_reference, prefix, queries, budget_prefix)
    (fast, *_), fast_s = timed(round_robin, prefix, queries, budget_prefix)
    print(f"prefix {args.prefix} rows x {args.dim}, {args.queries} queries, budget {budget_prefix}: "
          f"identical to the plain loop: {fast == plain}")
    print(f"  plain loop {plain_s:.2f} s, blocked {fast_s:.2f} s: blocked is {plain_s / fast_s:.2f}x as fast; "
          f"memory: plain holds {8 * args.queries * len(prefix) / 2**20:.0f} MiB of float64 similarities, blocked "
          f"{4 * args.queries * BLOCK_ROWS / 2**20:.0f} MiB of float32 at a time")
    assert fast == plain, "blocked round-robin differs from the plain loop"


if __name__ == "__main__":
    main()
