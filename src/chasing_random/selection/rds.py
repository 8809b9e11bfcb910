"""RDS+ (Ivison et al. 2025): pool rows nearest to query examples in the base model's own embedding.

Every pool row and query is embedded with the base causal LM (position-weighted mean of the final
hidden states, L2-normalised; the pool's table is cached in the store and reused across query
sets). Score = cosine similarity. Selection is round-robin: each query in turn takes its most
similar pool row not yet taken, until the budget; the take order is the ranking, so budgets nest.
``targeted`` queries come from a benchmark or a file (``--queries ifeval``, ``file:PATH``);
``untargeted`` queries are a seeded held-out sample of the pool itself (excluded from selection).

The round-robin runs on each query's top-k pool rows found in blocked float32 matrix products
(one queries x 16,384 block at a time); a query that exhausts its top-k list before the budget is
filled makes k grow, and rows within float32 rounding of each other are decided in float64, so the
result is exactly the plain float64 loop's (ties: the lower pool index first).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.data.pool import POOL_SCHEMA, subsample_indices
from chasing_random.errors import ChaseError
from chasing_random.selection.base import DEFAULT_MODEL, Ranking, SelectionContext, SelectOptions, register
from chasing_random.store import atomic_path, fingerprint

RDS_MAX_LENGTH = 512
POOLING = "weighted-mean"
BLOCK_ROWS = 16384
MAX_UNTARGETED_QUERIES = 1000


def float32_slack(dim: int, norm_a: float, norm_b: float) -> float:
    """Twice the worst float32 rounding error of a length-``dim`` dot product of vectors with these norms.

    Two float32 similarities closer than this may be ordered either way by different BLAS kernels
    (|fl(a.b) - a.b| <= gamma_d |a||b|), so such near-ties are decided in float64.
    """
    gamma = dim * 2.0 ** -24 / (1 - dim * 2.0 ** -24)
    return (2 * gamma + 2.0 ** -21) * norm_a * norm_b + 1e-12  # 2^-21: the float32 rounding of the thresholds


def _block_candidates(sims: np.ndarray, k: int, slack: float) -> tuple[np.ndarray, np.ndarray]:
    """(query, column) pairs of each row's k largest entries, plus every entry within ``slack`` of the k-th."""
    import torch

    n_queries, width = sims.shape
    if width <= k:
        return np.repeat(np.arange(n_queries), width), np.tile(np.arange(width), n_queries)
    values, columns = torch.topk(torch.from_numpy(sims), k + 1, dim=1, sorted=True)
    values, columns = values.numpy(), columns.numpy()
    rows, cols = np.repeat(np.arange(n_queries), k), columns[:, :k].ravel()
    near = np.flatnonzero(values[:, k] >= values[:, k - 1] - slack)
    if len(near):  # the (k+1)-th is within the slack of the k-th: keep every such entry so the cut stays exact
        keep = ~np.isin(rows, near)
        extra_rows, extra_cols = np.nonzero(sims[near] >= values[near, k - 1, None] - slack)
        rows = np.concatenate([rows[keep], near[extra_rows]])
        cols = np.concatenate([cols[keep], extra_cols])
    return rows, cols


def top_k(pool: np.ndarray, queries: np.ndarray, k: int, block_rows: int = BLOCK_ROWS,
          slack: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, its k most similar pool rows plus every row within ``slack`` of the k-th, best first.

    From blocked float32 products (ties: lower index). Each query's list holds every pool row whose
    similarity is at least its k-th value minus ``slack``, so nothing that rounding could lift past
    the k-th is cut. Memory: one queries x block_rows product at a time.
    """
    n_queries, n = len(queries), len(pool)
    k = min(k, n)
    best_rows = np.zeros(0, dtype=np.int64)
    best_idx = np.zeros(0, dtype=np.int64)
    best_sim = np.zeros(0, dtype=np.float32)
    for start in range(0, n, block_rows):
        sims = queries @ pool[start:start + block_rows].T
        rows, cols = _block_candidates(sims, k, slack)
        cand_rows = np.concatenate([best_rows, rows])
        cand_idx = np.concatenate([best_idx, cols + start])
        cand_sim = np.concatenate([best_sim, sims[rows, cols]])
        order = np.lexsort((cand_idx, -cand_sim, cand_rows))
        cand_rows, cand_idx, cand_sim = cand_rows[order], cand_idx[order], cand_sim[order]
        first = np.searchsorted(cand_rows, np.arange(n_queries))
        count = np.diff(np.append(first, len(cand_rows)))
        kth = cand_sim[first + np.minimum(count, k) - 1]  # each query's k-th (or last) value so far
        rank = np.arange(len(cand_rows)) - first[cand_rows]
        keep = (rank < k) | (cand_sim >= kth[cand_rows] - slack)
        best_rows, best_idx, best_sim = cand_rows[keep], cand_idx[keep], cand_sim[keep]
    bounds = np.searchsorted(best_rows, np.arange(n_queries + 1))
    return [(best_idx[bounds[q]:bounds[q + 1]], best_sim[bounds[q]:bounds[q + 1]]) for q in range(n_queries)]


def round_robin(pool: np.ndarray, queries: np.ndarray, budget: int,
                block_rows: int = BLOCK_ROWS) -> tuple[list[int], list[float], list[int]]:
    """Pool row indices in take order, the cosine of each to the query that took it, and that query.

    Each query walks its own top-k list (rows within the float32 rounding slack of the k-th kept).
    A query's pick is its best untaken row; rows within the slack of it are decided in float64
    (ties: lower index), so the picks are the plain float64 loop's whatever the BLAS rounding. When
    a query's untaken rows all lie below its list's k-th value, its list alone is recomputed 4x longer.
    """
    pool, queries = np.asarray(pool, dtype=np.float32), np.asarray(queries, dtype=np.float32)
    if pool.ndim != 2 or queries.ndim != 2 or pool.shape[1] != queries.shape[1] or not len(queries):
        raise ChaseError(f"round-robin: pool {pool.shape} and queries {queries.shape} must be (n, d) and (m>0, d)")
    n = len(pool)
    target = min(budget, n)
    pool_norm = max((float(np.sqrt(np.einsum("ij,ij->i", b, b).max())) for b in
                     (pool[s:s + block_rows] for s in range(0, n, block_rows))), default=0.0)
    slack = float32_slack(pool.shape[1], pool_norm, float(np.linalg.norm(queries, axis=1).max()))
    k = min(n, 2 * math.ceil(budget / len(queries)) + 32)

    def with_cut(found: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray, float]:
        rows, sims = found  # below the cut (the k-th value) a row outside the list may rank higher
        return rows, sims, (-np.inf if len(rows) == n else float(sims[k - 1]))

    lists = [with_cut(found, k) for found in top_k(pool, queries, k, block_rows, slack)]
    taken = np.zeros(n, dtype=bool)
    pointer = [0] * len(queries)
    order: list[int] = []
    scores: list[float] = []
    by_query: list[int] = []
    while len(order) < target:
        for q in range(len(queries)):
            rows, sims, cut = lists[q]
            p = pointer[q]
            while True:
                while p < len(rows) and taken[rows[p]]:
                    p += 1
                if (p < len(rows) and sims[p] >= cut) or cut == -np.inf:
                    break
                longer = min(n, 4 * len(rows))
                rows, sims, cut = lists[q] = with_cut(top_k(pool, queries[q:q + 1], longer, block_rows, slack)[0], longer)
                p = 0  # another product shape may round differently: walk the new list from its start
            pointer[q] = p
            if p == len(rows):
                continue
            end = p + int(np.searchsorted(-sims[p:], -(sims[p] - slack), side="right"))
            near = [j for j in range(p, end) if not taken[rows[j]]]
            if len(near) > 1:
                exact = pool[rows[near]].astype(np.float64) @ queries[q].astype(np.float64)
                j = min(zip(-exact, rows[near].tolist(), near))[2]
            else:
                j = p
            taken[rows[j]] = True
            order.append(int(rows[j]))
            scores.append(float(sims[j]))
            by_query.append(q)
            if len(order) == target:
                break
    return order, scores, by_query


def round_robin_reference(pool: np.ndarray, queries: np.ndarray, budget: int) -> list[int]:
    """The plain loop in float64 (full similarity matrix, one argmax per turn): the benchmark's and tests' reference."""
    sims = np.asarray(queries, dtype=np.float64) @ np.asarray(pool, dtype=np.float64).T
    taken = np.zeros(sims.shape[1], dtype=bool)
    order: list[int] = []
    while len(order) < min(budget, sims.shape[1]):
        for q in range(len(sims)):
            masked = np.where(taken, -np.inf, sims[q])
            row = int(np.argmax(masked))  # first maximum = lower index on ties
            taken[row] = True
            order.append(row)
            if len(order) == min(budget, sims.shape[1]):
                break
    return order


def query_pool(ctx: SelectionContext, texts: list[str]):
    """The query texts as a pool file in the store (keyed by content), so their embeddings are cached too."""
    key = ctx.store.key("rds-queries", fingerprint(texts))
    path = ctx.store.path("rds-queries", key, "queries.parquet")
    if not path.exists():
        rows = {"id": [f"q{i}" for i in range(len(texts))], "input": texts, "target": [""] * len(texts),
                "source": ["queries"] * len(texts), "meta": ["{}"] * len(texts)}
        with atomic_path(path) as tmp:
            pq.write_table(pa.table(rows, schema=POOL_SCHEMA), tmp)
    return path


def is_targeted(options: SelectOptions) -> bool:
    """RDS+ looks at evaluation data exactly when its queries come from a benchmark or file."""
    return options.queries is not None


@register("rds", targeted=is_targeted)
def rds(ctx: SelectionContext) -> Ranking:
    """RDS+: round-robin nearest pool rows to query examples (position-weighted base-model embeddings)."""
    from chasing_random.scoring.shards import cost_to_make, table_info
    from chasing_random.scoring.tables import ScoreTables

    o = ctx.options
    model = o.model or DEFAULT_MODEL
    common = {"pooling": POOLING, "batch_size": o.batch_size, "dtype": o.dtype,
              "max_length": o.max_length or RDS_MAX_LENGTH, "trust_remote_code": o.trust_remote_code}
    index = ctx.tables.embeddings(model, field=o.embed_field, **common)
    ids = np.array(index.ids)
    excluded: dict[str, list[str]] = {}
    runs = [index.run]
    if o.queries is not None:
        from chasing_random.generation.benchmarks import load_benchmark

        prompts = load_benchmark(o.queries, limit=o.query_limit, seed=o.seed)
        embedded = ScoreTables(query_pool(ctx, [p["instruction"] for p in prompts]), ctx.store).embeddings(
            model, field="input", **common)
        queries, candidates, query_source = embedded.vectors, np.arange(len(ids)), o.queries
        runs.append(embedded.run)
    else:
        size = o.query_limit or min(MAX_UNTARGETED_QUERIES, max(1, len(ids) // 10))
        if size >= len(ids):
            raise ChaseError(f"rds untargeted: --query-limit {size} leaves no pool rows to select from")
        held = subsample_indices(len(ids), size, [o.seed, size], option="--query-limit")
        queries = index.vectors[held]
        candidates = np.setdiff1d(np.arange(len(ids)), held)
        excluded["held out as RDS queries"] = [str(i) for i in ids[held]]
        query_source = f"held-out pool sample ({size} rows, seed {o.seed})"
    budget = min(max(ctx.budgets), len(candidates))
    whole = len(candidates) == len(ids)  # targeted: select from the table itself, no 1M x d copy
    order, scores, by_query = round_robin(index.vectors if whole else index.vectors[candidates], queries, budget)
    chosen = candidates[order]
    unreached = np.zeros(len(ids), dtype=bool)
    unreached[candidates] = True
    unreached[chosen] = False
    if unreached.any():
        excluded[f"not reached: budget {budget} filled"] = [str(i) for i in ids[unreached]]
    info = {"model": model, "pooling": POOLING, "embed_field": o.embed_field, "queries": query_source,
            "n_queries": int(len(queries)), "queries_used": int(len(set(by_query))),
            "mean_cosine": float(np.mean(scores)) if scores else None,
            "embeddings": [table_info(run) for run in runs]}
    return Ranking([str(i) for i in ids[chosen]], excluded=excluded,
                   scores={str(ids[c]): s for c, s in zip(chosen, scores)}, info=info, cost=cost_to_make(*runs))
