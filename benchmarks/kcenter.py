"""Benchmark of lazy blocked k-center greedy against the plain loop: identity on a prefix, the ratio, the 1M run.

Clustered unit vectors stand in for MiniLM embeddings. The plain loop (float64) passes over the
whole table three times per pick (product, update, argmin); the lazy blocked version reads only
the blocks that can hold the next pick, each against all centres it missed in one product.
Prints the identity and the ratio on a prefix, then the whole table's time, the time per pick and
the peak resident memory. Nothing is projected: the whole-table line is a measured run.

Example: python benchmarks/kcenter.py                                (100,000 x 384, 1,000 picks)
         python benchmarks/kcenter.py --rows 1000000 --budget 10000    (the issue's 1M x 384 case)
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from chasing_random.selection.kcenter import kcenter_greedy, kcenter_reference


def clustered(rows: int, dim: int, clusters: int = 500, seed: int = 0) -> np.ndarray:
    """Unit float32 rows scattered around random centres, built without float64 temporaries."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    for s in range(0, rows, 65536):  # in chunks, so the peak memory printed is the table's, not a temporary's
        chunk = x[s:s + 65536]
        chunk += centres[rng.integers(0, clusters, len(chunk))]
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--prefix", type=int, default=100_000, help="rows of the identity check (<= rows)")
    parser.add_argument("--prefix-budget", type=int, default=1000, help="picks of the identity check")
    args = parser.parse_args()
    x = clustered(args.rows, args.dim)
    prefix, picks = x[:args.prefix], min(args.prefix_budget, args.budget, args.prefix)
    tick = time.perf_counter()
    plain = kcenter_reference(prefix, picks, 0)
    plain_s = time.perf_counter() - tick
    tick = time.perf_counter()
    fast = kcenter_greedy(prefix, picks, 0)[0]
    fast_s = time.perf_counter() - tick
    print(f"prefix {len(prefix)} rows x {args.dim}, {picks} picks: identical to the plain loop: {fast == plain}")
    print(f"  plain loop {plain_s:.2f} s, lazy blocked {fast_s:.2f} s: lazy blocked is {plain_s / fast_s:.2f}x as fast")
    assert fast == plain, "lazy blocked k-center differs from the plain loop"
    if args.prefix < args.rows or picks < args.budget:
        tick = time.perf_counter()
        order, distances = kcenter_greedy(x, args.budget, 0)
        full_s = time.perf_counter() - tick
        print(f"whole table {args.rows} x {args.dim}, {len(order)} picks: {full_s:.1f} s "
              f"({1000 * full_s / len(order):.2f} ms per pick), final radius {distances[-1]:.4f}")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB "
          f"(the table alone: {x.nbytes / 2**30:.2f} GB)")


if __name__ == "__main__":
    main()
