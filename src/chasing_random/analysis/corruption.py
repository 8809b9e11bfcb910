"""Corruption rates by type of every selected subset whose pool carries ``meta.corruption`` labels
(the audit pool): the ground truth of what each strategy let through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chasing_random.data.pool import read_pool
from chasing_random.data.synth import corruption_rates, has_corruption_labels
from chasing_random.errors import ChaseError
from chasing_random.results import SubsetRow
from chasing_random.store import jsonl_lines


@dataclass
class SubsetCorruption:
    subset: SubsetRow
    rows: int
    rates: dict[str, float]


def read_ids(path: Path) -> list[str]:
    """Ids of a subset file (JSONL of records with ``id``), in ranked order."""
    if not path.exists():
        raise ChaseError(f"{path}: subset file not found (named in results/subsets.jsonl)")
    ids = []
    for number, text in jsonl_lines(path):
        try:
            ids.append(str(json.loads(text)["id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ChaseError(f"{path}:{number}: field 'id': expected a JSON object with an id") from None
    return ids


def subset_corruption(subsets: list[SubsetRow], resolve) -> list[SubsetCorruption]:
    """Rates for each subset of a labelled pool; a ranked file longer than its budget is cut to it."""
    pools: dict[str, object] = {}
    out = []
    for subset in subsets:
        pool_path = str(resolve(subset.pool_path))
        if pool_path not in pools:
            pools[pool_path] = read_pool(pool_path)
        frame = pools[pool_path]
        if not has_corruption_labels(frame):
            continue
        ids = read_ids(resolve(subset.ids_path))
        if subset.budget is not None:
            ids = ids[: subset.budget]
        out.append(SubsetCorruption(subset, len(ids), corruption_rates(frame, ids)))
    return sorted(out, key=lambda s: (s.subset.pool, s.subset.budget or 0, s.subset.strategy, s.subset.seed or 0))
