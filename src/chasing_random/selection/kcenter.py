"""k-center greedy diversity (Sener & Savarese; used by DiverseEvol and MoDS) on any embedding table.

Start from a seeded row; then repeatedly take the row farthest from every row taken so far
(cosine distance on unit vectors, i.e. the lowest similarity to its nearest centre; ties: the
lower index). The take order is the ranking, so budgets nest. Exact and deterministic: lazy
blocked evaluation (see ``kcenter_greedy``) gives the plain loop's picks while reading only the
blocks of rows that can still hold the farthest row, each against all centres it missed in one
float32 matrix product; rows whose float32 values lie within the proven rounding bound of the
best are decided in float64, so the picks do not depend on how a BLAS kernel rounds.
"""

from __future__ import annotations

import heapq

import numpy as np

from chasing_random.errors import ChaseError
from chasing_random.selection.base import Ranking, SelectionContext, register
from chasing_random.selection.rds import float32_slack

BLOCK_ROWS = 1024
CENTRE_CHUNK = 1024


def kcenter_greedy(vectors: np.ndarray, budget: int, first: int,
                   block_rows: int = BLOCK_ROWS) -> tuple[list[int], list[float]]:
    """Row indices in pick order and each pick's cosine distance to the nearest earlier pick (first: 1.0).

    Lazy over blocks of rows: a row's similarity to its nearest centre only grows as centres are
    added, so a block's minimum computed against the first centres is a lower bound for it. Blocks
    sit in a heap by (bound, block); the top block is brought up to date with every centre added
    since its last visit (one block x centres product: a row is read once per visit, not once per
    pick). When the top block is current its minimum is the float32 best; every block whose bound
    is within ``slack`` (``float32_slack``: twice the float32 dot-product error bound)
    is brought current too, and if more than one row lies within the slack, their similarities are
    recomputed in float64 and the lowest (then the lowest index) is taken: the plain float64 loop's pick.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or not 0 <= first < len(x):
        raise ChaseError(f"k-center: vectors must be (n, d) with 0 <= first < n, got {x.shape} and {first}")
    n, dim = x.shape
    target = min(budget, n)
    starts = list(range(0, n, block_rows))
    nearest = np.empty(n, dtype=np.float32)
    largest = 0.0
    for s in starts:
        block = x[s:s + block_rows]
        np.matmul(block, x[first], out=nearest[s:s + block_rows])
        largest = max(largest, float(np.einsum("ij,ij->i", block, block).max()))
    slack = float32_slack(dim, np.sqrt(largest), np.sqrt(largest))
    nearest[first] = np.inf
    centres = np.empty((max(target, 1), dim), dtype=np.float32)
    centres64 = np.empty((max(target, 1), dim), dtype=np.float64)
    centres[0], centres64[0] = x[first], x[first]
    exact: dict[int, tuple[float, int]] = {}  # row -> (float64 nearest similarity, centres it includes)
    stamp = [1] * len(starts)  # centres each block's values already include
    heap = [(float(nearest[s:s + block_rows].min()), b) for b, s in enumerate(starts)]
    heapq.heapify(heap)
    order, distances = [first], [1.0]

    def bring_current(b: int, taken: int) -> float:
        rows, seg = x[starts[b]:starts[b] + block_rows], nearest[starts[b]:starts[b] + block_rows]
        for c in range(stamp[b], taken, CENTRE_CHUNK):
            np.maximum(seg, (rows @ centres[c:min(c + CENTRE_CHUNK, taken)].T).max(axis=1), out=seg)
        stamp[b] = taken
        return float(seg.min())

    while len(order) < target:
        taken = len(order)
        while stamp[heap[0][1]] < taken:
            b = heap[0][1]
            heapq.heapreplace(heap, (bring_current(b, taken), b))
        best = heap[0][0]
        near = []
        while heap and heap[0][0] <= best + slack:
            b = heapq.heappop(heap)[1]
            bring_current(b, taken)
            near.append(b)
        candidates = np.concatenate([starts[b] + np.flatnonzero(nearest[starts[b]:starts[b] + block_rows] <= best + slack)
                                     for b in near])
        if len(candidates) == 1:
            row = int(candidates[0])
        else:
            scored = []
            for r in candidates.tolist():
                value, upto = exact.get(r, (-np.inf, 0))
                value = max(value, float((centres64[upto:taken] @ x[r].astype(np.float64)).max()))
                exact[r] = (value, taken)
                scored.append((value, r))
            row = min(scored)[1]
            exact.pop(row)
        centres[taken], centres64[taken] = x[row], x[row]
        order.append(row)
        distances.append(1.0 - float(nearest[row]))
        nearest[row] = np.inf
        for b in near:
            heapq.heappush(heap, (float(nearest[starts[b]:starts[b] + block_rows].min()), b))
    return order, distances


def kcenter_reference(vectors: np.ndarray, budget: int, first: int) -> list[int]:
    """The plain loop in float64 (whole-table product, update, argmin: three passes per pick): the reference."""
    x = np.asarray(vectors, dtype=np.float64)
    nearest = np.full(len(x), -np.inf)
    order = [first]
    while len(order) < min(budget, len(x)):
        nearest = np.maximum(nearest, x @ x[order[-1]])
        nearest[order] = np.inf
        order.append(int(np.argmin(nearest)))
    return order


@register("kcenter")
def kcenter(ctx: SelectionContext) -> Ranking:
    """k-center greedy: repeatedly the row farthest from those taken (cosine, --embedder embeddings)."""
    from chasing_random.scoring.shards import cost_to_make, table_info

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
