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

import numpy as np
from common import clustered, peak_gb, table_parser, timed

from chasing_random.selection.kcenter import kcenter_greedy, kcenter_reference


def main() -> None:
    parser = table_parser(__doc__, rows=100_000, dim=384, budget=1000, prefix=100_000,
                          prefix_help="rows of the identity check (<= rows)")
    parser.add_argument("--prefix-budget", type=int, default=1000, help="picks of the identity check")
    args = parser.parse_args()
    x = clustered(np.random.default_rng(0), args.rows, args.dim, 500)
    prefix, picks = x[:args.prefix], min(args.prefix_budget, args.budget, args.prefix)
    plain, plain_s = timed(kcenter_reference, prefix, picks, 0)
    (fast, _), fast_s = timed(kcenter_greedy, prefix, picks, 0)
    print(f"prefix {len(prefix)} rows x {args.dim}, {picks} picks: identical to the plain loop: {fast == plain}")
    print(f"  plain loop {plain_s:.2f} s, lazy blocked {fast_s:.2f} s: lazy blocked is {plain_s / fast_s:.2f}x as fast")
    assert fast == plain, "lazy blocked k-center differs from the plain loop"
    if args.prefix < args.rows or picks < args.budget:
        (order, distances), full_s = timed(kcenter_greedy, x, args.budget, 0)
        print(f"whole table {args.rows} x {args.dim}, {len(order)} picks: {full_s:.1f} s "
              f"({1000 * full_s / len(order):.2f} ms per pick), final radius {distances[-1]:.4f}")
    print(f"peak resident memory {peak_gb():.2f} GB "
          f"(the table alone: {x.nbytes / 2**30:.2f} GB)")


if __name__ == "__main__":
    main()
