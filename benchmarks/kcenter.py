"""Benchmark of lazy k-center greedy against the plain loop: identity on a prefix, and the ratio.

Clustered unit vectors stand in for MiniLM embeddings. The plain loop takes three passes over the
table per pick (product, update, argmin); the lazy version updates only rows that can be the next
pick. The last line projects 10,000 picks from 1,000,000 rows linearly (an estimate, not a run).

Example: python benchmarks/kcenter.py                 (100,000 x 384, 1,000 picks)
         python benchmarks/kcenter.py --rows 1000000 --budget 10000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from chasing_random.selection.kcenter import kcenter_greedy, kcenter_reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--prefix", type=int, default=100_000, help="rows of the identity check (<= rows)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((500, args.dim)).astype(np.float32)
    x = centres[rng.integers(0, 500, args.rows)] + rng.standard_normal((args.rows, args.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    prefix = x[:args.prefix]
    tick = time.perf_counter()
    plain = kcenter_reference(prefix, args.budget, 0)
    plain_s = time.perf_counter() - tick
    tick = time.perf_counter()
    fast = kcenter_greedy(prefix, args.budget, 0)[0]
    fast_s = time.perf_counter() - tick
    print(f"prefix {len(prefix)} rows x {args.dim}, {args.budget} picks: identical to the plain loop: {fast == plain}")
    print(f"  plain loop {plain_s:.2f} s, lazy {fast_s:.2f} s: lazy is {plain_s / fast_s:.2f}x as fast")
    if args.prefix < args.rows:
        tick = time.perf_counter()
        kcenter_greedy(x, args.budget, 0)
        fast_s = time.perf_counter() - tick
        print(f"whole table {args.rows} rows: lazy {fast_s:.2f} s")
    per_pick_row = fast_s / (args.budget * args.rows)
    print(f"projection, 10,000 picks from 1,000,000 x {args.dim}: {per_pick_row * 1e10 / 60:.0f} min on this machine "
          f"(linear in picks x rows)")


if __name__ == "__main__":
    main()
