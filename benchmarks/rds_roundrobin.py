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

import argparse
import resource
import time

import numpy as np

from chasing_random.selection.rds import BLOCK_ROWS, round_robin, round_robin_reference


def clustered(rng, rows: int, dim: int, clusters: int) -> np.ndarray:
    """Unit float32 rows scattered around ``clusters`` random centres (built in chunks: no float64 copy)."""
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    out = rng.standard_normal((rows, dim), dtype=np.float32)
    for s in range(0, rows, 65536):
        chunk = out[s:s + 65536]
        chunk *= 0.8
        chunk += centres[rng.integers(0, clusters, len(chunk))]
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def peak_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


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
    if args.prefix < args.rows:
        before = peak_gb()
        tick = time.perf_counter()
        order = round_robin(pool, queries, args.budget)[0]
        full_s = time.perf_counter() - tick
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
    tick = time.perf_counter()
    plain = round_robin_reference(prefix, queries, budget_prefix)
    plain_s = time.perf_counter() - tick
    tick = time.perf_counter()
    fast = round_robin(prefix, queries, budget_prefix)[0]
    fast_s = time.perf_counter() - tick
    print(f"prefix {args.prefix} rows x {args.dim}, {args.queries} queries, budget {budget_prefix}: "
          f"identical to the plain loop: {fast == plain}")
    print(f"  plain loop {plain_s:.2f} s, blocked {fast_s:.2f} s: blocked is {plain_s / fast_s:.2f}x as fast; "
          f"memory: plain holds {8 * args.queries * len(prefix) / 2**20:.0f} MiB of float64 similarities, blocked "
          f"{4 * args.queries * BLOCK_ROWS / 2**20:.0f} MiB of float32 at a time")
    assert fast == plain, "blocked round-robin differs from the plain loop"


if __name__ == "__main__":
    main()
