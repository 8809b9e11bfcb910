"""k-center greedy diversity (Sener & Savarese; used by DiverseEvol and MoDS) on any embedding table.

Start from a seeded row; then repeatedly take the row farthest from every row taken so far
(cosine distance on unit vectors, i.e. the lowest similarity to its nearest centre; ties: the
lower index). The take order is the ranking, so budgets nest. Exact and deterministic: lazy
evaluation (see ``kcenter_greedy``) gives the plain loop's picks while touching only the rows that
can still be the farthest (the plain loop passes over the whole table three times per pick).
"""

from __future__ import annotations

import heapq

import numpy as np

from chasing_random.errors import ChaseError
from chasing_random.selection.base import Ranking, SelectionContext, register

BLOCK_ROWS = 16384


def kcenter_greedy(vectors: np.ndarray, budget: int, first: int,
                   block_rows: int = BLOCK_ROWS) -> tuple[list[int], list[float]]:
    """Row indices in pick order and each pick's cosine distance to the nearest earlier pick (first: 1.0).

    Lazy: a row's similarity to its nearest centre only grows as centres are added, so a value
    computed against the first centres is a lower bound. Rows sit in a heap by (bound, index); the
    top row is brought up to date with the centres added since (one small product); if it still
    comes first it is the exact next pick, otherwise it goes back. Well-covered rows are never
    touched again, which is where the time goes in the plain loop.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or not 0 <= first < len(x):
        raise ChaseError(f"k-center: vectors must be (n, d) with 0 <= first < n, got {x.shape} and {first}")
    n, target = len(x), min(budget, len(x))
    centres = np.empty((max(target, 1), x.shape[1]), dtype=np.float32)
    centres[0] = x[first]
    nearest = np.concatenate([x[s:s + block_rows] @ x[first] for s in range(0, n, block_rows)])
    heap = [(float(v), i, 1) for i, v in enumerate(nearest.tolist()) if i != first]
    heapq.heapify(heap)
    order, distances = [first], [1.0]
    while len(order) < target:
        while True:
            value, row, stamp = heapq.heappop(heap)
            if stamp < len(order):
                value = max(value, float((centres[stamp:len(order)] @ x[row]).max()))
                stamp = len(order)
            if not heap or (value, row) <= heap[0][:2]:
                break
            heapq.heappush(heap, (value, row, stamp))
        centres[len(order)] = x[row]
        order.append(row)
        distances.append(1.0 - value)
    return order, distances


def kcenter_reference(vectors: np.ndarray, budget: int, first: int) -> list[int]:
    """The plain loop (whole-table product, update, argmin: three passes per pick): the benchmark's reference."""
    x = np.asarray(vectors, dtype=np.float32)
    nearest = np.full(len(x), -np.inf, dtype=np.float32)
    order = [first]
    while len(order) < min(budget, len(x)):
        nearest = np.maximum(nearest, x @ x[order[-1]])
        nearest[order] = np.inf
        order.append(int(np.argmin(nearest)))
    return order


@register("kcenter")
def kcenter(ctx: SelectionContext) -> Ranking:
    """k-center greedy: repeatedly the row farthest from those taken (cosine, --embedder embeddings)."""
    from chasing_random.scoring.tables import cost_to_make, table_info

    o = ctx.options
    table = ctx.tables.embeddings(o.embedder, pooling=o.pooling, field=o.embed_field, batch_size=max(o.batch_size, 32),
                                  dtype=o.dtype, trust_remote_code=o.trust_remote_code)
    ids = np.array(table.ids)
    if list(ids) != list(ctx.pool["id"]):
        raise ChaseError(f"embedding table {table.run.path} does not match pool {ctx.pool_path}")
    first = int(np.random.default_rng(o.seed).integers(len(ids)))
    order, distances = kcenter_greedy(table.vectors, max(ctx.budgets), first)
    rest = np.ones(len(ids), dtype=bool)
    rest[order] = False
    excluded = {f"not reached: budget {max(ctx.budgets)} filled": [str(i) for i in ids[rest]]} if rest.any() else {}
    return Ranking([str(i) for i in ids[order]], excluded=excluded,
                   scores={str(ids[r]): float(d) for r, d in zip(order, distances)},
                   info={"embedder": o.embedder, "field": o.embed_field, "first": str(ids[first]),
                         "final_radius": float(distances[-1]), "embeddings": table_info(table.run)},
                   cost=cost_to_make(table.run))
