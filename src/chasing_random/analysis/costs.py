"""Dollar cost of selection (device-hours x price + API tokens x price) and of fine-tuning on the
full pool, from the runner's measured cost rows and the configured prices."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from chasing_random.errors import ChaseError
from chasing_random.results import FULL, SELECTION_STAGES, CostRow, Prices, SubsetRow


@dataclass
class Cost:
    """Dollars with what they came from."""

    dollars: float
    device_hours: float
    api_tokens: int
    rows: int  # how many cost rows were measured (0 = nothing recorded, counted as $0)


def dollars(row: CostRow, prices: Prices, line: int | None = None) -> float:
    """One cost row in dollars: device-hours x the device's price, plus each API model's input and
    output tokens x its price per million in that direction; an unpriced device or model is an error
    naming it and the config key to set."""
    where = f"results/costs.jsonl{f':{line}' if line else ''} ({row.pool}, {row.strategy}, {row.stage})"
    if row.device_hours and row.device not in prices.device_hour:
        raise ChaseError(f"{where}: device '{row.device}' has no price in config.json prices.device_hour "
                         f"(known: {', '.join(sorted(prices.device_hour))})")
    total = row.device_hours * prices.device_hour.get(row.device, 0.0)
    for model, tokens in row.api_tokens.items():
        try:
            price = prices.api_price(model)
        except ChaseError as exc:
            raise ChaseError(f"{where}: {exc}") from None
        total += (tokens.input * price.input + tokens.output * price.output) / 1e6
    return total


def _aggregate(rows: list[tuple[int, CostRow]], prices: Prices) -> Cost:
    """Shared rows (seed null) once, plus the mean over seeds of the seed-specific rows."""
    groups: dict[int | None, list[tuple[int, CostRow]]] = defaultdict(list)
    for line, row in rows:
        groups[row.seed].append((line, row))

    def totals(items: list[tuple[int, CostRow]]) -> np.ndarray:
        return np.array([[dollars(r, prices, line), r.device_hours, r.total_tokens] for line, r in items]
                        ).reshape(-1, 3).sum(axis=0)

    shared = totals(groups.pop(None, []))
    per_seed = np.mean([totals(items) for items in groups.values()], axis=0) if groups else np.zeros(3)
    money, hours, tokens = shared + per_seed
    return Cost(float(money), float(hours), int(round(tokens)), len(rows))


class CostModel:
    """Answers 'what did selecting with S cost' and 'what would fine-tuning on the whole pool cost'."""

    def __init__(self, rows: list[CostRow], prices: Prices, subsets: list[SubsetRow], resolve):
        self.rows = list(enumerate(rows, start=1))
        self.prices = prices
        self.subsets = subsets
        self.resolve = resolve
        for line, row in self.rows:  # fail early on unpriced devices or models
            dollars(row, prices, line)

    def selection(self, pool: str, strategy: str, budget: int | None) -> Cost:
        """Selection cost of a strategy at a budget: its budget-independent scoring rows (budget null)
        plus the rows of this budget; seeds are averaged. No rows recorded means $0."""
        rows = [(line, r) for line, r in self.rows if r.stage in SELECTION_STAGES and r.pool == pool
                and r.strategy == strategy and (r.budget is None or r.budget == budget)]
        return _aggregate(rows, self.prices)

    def pool_size(self, pool: str) -> int | None:
        for subset in self.subsets:
            if subset.pool == pool:
                path = self.resolve(subset.pool_path)
                if Path(path).exists():
                    return pq.ParquetFile(path).metadata.num_rows
        return None

    def full_finetune(self, pool: str) -> tuple[float | None, str]:
        """Cost of fine-tuning on the whole pool: measured (the ``full`` training rows), else
        extrapolated per training example from the other training rows; with a note saying which."""
        full_rows = [(line, r) for line, r in self.rows if r.stage == "training" and r.pool == pool
                     and r.strategy == FULL]
        if full_rows:
            return _aggregate(full_rows, self.prices).dollars, "measured"
        size = self.pool_size(pool)
        per_example = [dollars(r, self.prices) / (r.examples or r.budget)
                       for _, r in self.rows if r.stage == "training" and r.pool == pool and (r.examples or r.budget)]
        if not per_example or size is None:
            return None, "not available (no 'full' training row and nothing to extrapolate from)"
        estimate = float(np.median(per_example)) * size
        return estimate, (f"extrapolated: median cost per training example over {len(per_example)} training "
                          f"runs x {size} pool rows")
