"""Benchmark of RDS+ round-robin selection: blocked top-k products against the plain loop.

Clustered unit vectors stand in for an embedding index (queries are drawn near random clusters, so
queries compete for the same rows as in real targeted selection). Prints the identity of the
blocked result with the plain loop (full similarity matrix, one masked argmax per turn) on a prefix,
both times on that prefix and their ratio, and the blocked run's time on the whole table.

Example: python benchmarks/rds_roundrobin.py                      (100,000 x 576, 1,000 queries, budget 10,000)
         python benchmarks/rds_roundrobin.py --rows 1000000 --dim 384   (the issue's 1M case; ~10x the time)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from chasing_random.selection.rds import round_robin, round_robin_reference


def clustered(rng, rows: int, dim: int, clusters: int) -> np.ndarray:
    """Unit rows scattered around ``clusters`` random centres."""
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    out = centres[rng.integers(0, clusters, rows)] + 0.8 * rng.standard_normal((rows, dim)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=576)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--prefix", type=int, default=100_000, help="rows of the identity check against the plain loop")
    args = parser.parse_args()
    import torch  # noqa: F401  (imported before timing: the blocked top-k uses torch.topk)

    rng = np.random.default_rng(0)
    pool = clustered(rng, args.rows, args.dim, 200)
    queries = clustered(rng, args.queries, args.dim, 200)
    prefix, budget_prefix = pool[:args.prefix], min(args.budget, args.prefix) * args.prefix // args.rows or 100
    tick = time.perf_counter()
    plain = round_robin_reference(prefix, queries, budget_prefix)
    plain_s = time.perf_counter() - tick
    tick = time.perf_counter()
    fast = round_robin(prefix, queries, budget_prefix)[0]
    fast_s = time.perf_counter() - tick
    print(f"prefix {args.prefix} rows x {args.dim}, {args.queries} queries, budget {budget_prefix}: "
          f"identical to the plain loop: {fast == plain}")
    print(f"  plain loop {plain_s:.2f} s, blocked {fast_s:.2f} s: blocked is {plain_s / fast_s:.2f}x as fast; "
          f"memory: plain holds {4 * args.queries * len(prefix) / 2**20:.0f} MiB of similarities, blocked "
          f"{4 * args.queries * 16384 / 2**20:.0f} MiB")
    if args.prefix >= args.rows:
        return
    tick = time.perf_counter()
    order = round_robin(pool, queries, args.budget)[0]
    full_s = time.perf_counter() - tick
    print(f"whole table {args.rows} rows, budget {args.budget}: blocked {full_s:.2f} s "
          f"({len(order)} rows, {len(set(order))} distinct)")


if __name__ == "__main__":
    main()
