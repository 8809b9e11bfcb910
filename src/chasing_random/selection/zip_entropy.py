"""ZIP (Yin et al. 2024, "Entropy Law"): greedily keep the set whose zlib compression ratio is lowest.

Compression ratio g(S) = raw bytes / zlib bytes of the rows of S concatenated (row = input, newline,
target, UTF-8); a low ratio means little redundancy. The paper's three-stage loop, until the budget:
1. global: the K1 remaining rows with the lowest stored ratio get it recomputed as g(selected + row);
2. local coarse: the K2 of those with the lowest new ratio;
3. local fine: from those K2, K3 rows are added one at a time, each the row x minimising
   g(rows added this round + x); the K3 rows join the selection.
A row's stored ratio starts as g(row) and is refreshed only when stage 1 looks at it (as in the paper).

g(S + x) is measured by copying the zlib stream of S and feeding x, which gives the same bytes as
compressing S + x from scratch, so each measurement costs O(|x|) instead of O(|S|). CPU only.
"""

from __future__ import annotations

import time
import zlib

import numpy as np

from chasing_random.errors import ChaseError
from chasing_random.selection.base import Ranking, SelectionContext, register

LEVEL = 9


class Stream:
    """A zlib stream of concatenated rows that can tell the ratio of itself plus one more row."""

    def __init__(self):
        self.compressor = zlib.compressobj(LEVEL)
        self.raw = 0
        self.written = 0

    def ratio_with(self, data: bytes) -> float:
        """g(rows so far + data), without changing the stream."""
        trial = self.compressor.copy()
        size = self.written + len(trial.compress(data)) + len(trial.flush())
        return (self.raw + len(data)) / size

    def add(self, data: bytes) -> None:
        self.written += len(self.compressor.compress(data))
        self.raw += len(data)


def zip_order(texts: list[bytes], budget: int, k1: int, k2: int, k3: int) -> tuple[list[int], list[float]]:
    """Row indices in ZIP's selection order and g(selection) after each round (one value per row added)."""
    if min(k1, k2, k3) < 1 or not k1 >= k2 >= k3:
        raise ChaseError(f"zip needs K1 >= K2 >= K3 >= 1, got K1={k1}, K2={k2}, K3={k3}")
    n = len(texts)
    stored = np.array([len(t) / len(zlib.compress(t, LEVEL)) for t in texts], dtype=np.float64)
    available = np.ones(n, dtype=bool)
    selected = Stream()
    order: list[int] = []
    ratios: list[float] = []
    target = min(budget, n)
    while len(order) < target:
        left = np.flatnonzero(available)
        global_k = left[np.lexsort((left, stored[left]))[:k1]]                        # stage 1
        stored[global_k] = [selected.ratio_with(texts[i]) for i in global_k]
        coarse = list(global_k[np.lexsort((global_k, stored[global_k]))[:k2]])          # stage 2
        local = Stream()                                                                # stage 3
        for _ in range(min(k3, len(coarse), target - len(order))):
            best = min(coarse, key=lambda i: (local.ratio_with(texts[i]), i))
            coarse.remove(best)
            local.add(texts[best])
            selected.add(texts[best])
            available[best] = False
            order.append(int(best))
        ratios.extend([selected.raw / max(1, selected.written + len(selected.compressor.copy().flush()))]
                      * (len(order) - len(ratios)))
    return order, ratios


@register("zip")
def zip_strategy(ctx: SelectionContext) -> Ranking:
    """ZIP: greedy lowest zlib compression ratio of the selected set, the Entropy Law's three-stage loop."""
    o = ctx.options
    started = time.perf_counter()
    ids = list(ctx.pool["id"])
    texts = [f"{i}\n{t}".encode("utf-8") for i, t in zip(ctx.pool["input"], ctx.pool["target"])]
    order, ratios = zip_order(texts, max(ctx.budgets), o.zip_k1, o.zip_k2, o.zip_k3)
    chosen = {ids[i] for i in order}
    rest = [i for i in ids if i not in chosen]
    excluded = {f"not reached: budget {max(ctx.budgets)} filled": rest} if rest else {}
    return Ranking([ids[i] for i in order], excluded=excluded,
                   scores={ids[i]: r for i, r in zip(order, ratios)},
                   info={"k1": o.zip_k1, "k2": o.zip_k2, "k3": o.zip_k3, "zlib_level": LEVEL,
                         "final_ratio": ratios[-1] if ratios else None},
                   cost={"device": "cpu", "device_hours": (time.perf_counter() - started) / 3600, "api_tokens": {}})
