"""RDS+ (Ivison et al. 2025): pool rows nearest to query examples in the base model's own embedding.

Every pool row and query is embedded with the base causal LM (position-weighted mean of the final
hidden states, L2-normalised; the pool's table is cached in the store and reused across query
sets). Score = cosine similarity. Selection is round-robin: each query in turn takes its most
similar pool row not yet taken, until the budget; the take order is the ranking, so budgets nest.
``targeted`` queries come from a benchmark or a file (``--queries ifeval``, ``file:PATH``);
``untargeted`` queries are a seeded held-out sample of the pool itself (excluded from selection).

The round-robin runs on each query's top-k pool rows found in blocked matrix products; a query
that exhausts its top-k list before the budget is filled makes k grow, so the result is exactly
the plain loop's (ties: the lower pool index first).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.data.pool import POOL_SCHEMA, subsample_indices
from chasing_random.errors import ChaseError
from chasing_random.selection.base import Ranking, SelectionContext, SelectOptions, register
from chasing_random.store import atomic_path, fingerprint

BASE_MODEL = "smollm2-135m-instruct"
RDS_MAX_LENGTH = 512
POOLING = "weighted-mean"
BLOCK_ROWS = 16384
MAX_UNTARGETED_QUERIES = 1000


def _block_candidates(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(query, column) pairs of each row's k largest entries, plus every entry tied with the k-th."""
    import torch

    n_queries, width = sims.shape
    if width <= k:
        return np.repeat(np.arange(n_queries), width), np.tile(np.arange(width), n_queries)
    values, columns = torch.topk(torch.from_numpy(sims), k + 1, dim=1, sorted=True)
    values, columns = values.numpy(), columns.numpy()
    rows, cols = np.repeat(np.arange(n_queries), k), columns[:, :k].ravel()
    tied = np.flatnonzero(values[:, k] == values[:, k - 1])
    if len(tied):  # the (k+1)-th equals the k-th: keep every entry tied with it so the cut stays exact
        keep = ~np.isin(rows, tied)
        extra_rows, extra_cols = np.nonzero(sims[tied] >= values[tied, k - 1, None])
        rows = np.concatenate([rows[keep], tied[extra_rows]])
        cols = np.concatenate([cols[keep], extra_cols])
    return rows, cols


def top_k(pool: np.ndarray, queries: np.ndarray, k: int, block_rows: int = BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k most similar pool rows, best first (ties: lower index), from blocked products.

    Rows tied with the k-th value are all kept through the merge, so the cut is exact.
    """
    n_queries, n = len(queries), len(pool)
    k = min(k, n)
    best_idx = np.zeros((n_queries, 0), dtype=np.int64)
    best_sim = np.zeros((n_queries, 0), dtype=np.float32)
    for start in range(0, n, block_rows):
        sims = queries @ pool[start:start + block_rows].T
        rows, cols = _block_candidates(sims, k)
        cand_rows = np.concatenate([np.repeat(np.arange(n_queries), best_idx.shape[1]), rows])
        cand_idx = np.concatenate([best_idx.ravel(), cols + start])
        cand_sim = np.concatenate([best_sim.ravel(), sims[rows, cols]])
        order = np.lexsort((cand_idx, -cand_sim, cand_rows))
        cand_rows, cand_idx, cand_sim = cand_rows[order], cand_idx[order], cand_sim[order]
        first = np.searchsorted(cand_rows, np.arange(n_queries))
        rank = np.arange(len(cand_rows)) - first[cand_rows]
        keep = rank < k
        width = min(k, best_idx.shape[1] + sims.shape[1])
        best_idx = cand_idx[keep].reshape(n_queries, width)
        best_sim = cand_sim[keep].reshape(n_queries, width)
    return best_idx, best_sim


def round_robin(pool: np.ndarray, queries: np.ndarray, budget: int,
                block_rows: int = BLOCK_ROWS) -> tuple[list[int], list[float], list[int]]:
    """Pool row indices in take order, the cosine of each to the query that took it, and that query.

    Each query walks its own sorted top-k list; when a query finds its list all taken, its list alone
    is recomputed 4x longer (its first k entries are unchanged, so earlier turns stay valid).
    """
    pool, queries = np.asarray(pool, dtype=np.float32), np.asarray(queries, dtype=np.float32)
    if pool.ndim != 2 or queries.ndim != 2 or pool.shape[1] != queries.shape[1] or not len(queries):
        raise ChaseError(f"round-robin: pool {pool.shape} and queries {queries.shape} must be (n, d) and (m>0, d)")
    n = len(pool)
    target = min(budget, n)
    idx, sim = top_k(pool, queries, 2 * math.ceil(budget / len(queries)) + 32, block_rows)
    lists = [(idx[q], sim[q]) for q in range(len(queries))]
    taken = np.zeros(n, dtype=bool)
    pointer = [0] * len(queries)
    order: list[int] = []
    scores: list[float] = []
    by_query: list[int] = []
    while len(order) < target:
        for q in range(len(queries)):
            rows, sims = lists[q]
            p = pointer[q]
            while True:
                while p < len(rows) and taken[rows[p]]:
                    p += 1
                if p < len(rows) or len(rows) == n:
                    break
                longer = top_k(pool, queries[q:q + 1], 4 * len(rows), block_rows)
                rows, sims = lists[q] = (longer[0][0], longer[1][0])
            pointer[q] = p
            if p == len(rows):
                continue
            taken[rows[p]] = True
            order.append(int(rows[p]))
            scores.append(float(sims[p]))
            by_query.append(q)
            if len(order) == target:
                break
    return order, scores, by_query


def round_robin_reference(pool: np.ndarray, queries: np.ndarray, budget: int) -> list[int]:
    """The plain loop (full similarity matrix, one argmax per turn): the benchmark's and tests' reference."""
    sims = np.asarray(queries, dtype=np.float32) @ np.asarray(pool, dtype=np.float32).T
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
    from chasing_random.scoring.tables import ScoreTables, cost_to_make, table_info

    o = ctx.options
    model = o.model or BASE_MODEL
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
    order, scores, by_query = round_robin(index.vectors[candidates], queries, budget)
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
