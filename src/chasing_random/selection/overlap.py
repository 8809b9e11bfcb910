"""Pairwise overlap of subsets: how much random trials (or strategies) share."""

from __future__ import annotations

import json
from pathlib import Path

from chasing_random.errors import ChaseError
from chasing_random.store import jsonl_lines


def subset_ids(path: Path) -> set[str]:
    """The ids of a subset JSONL file."""
    ids = set()
    for number, line in jsonl_lines(path):
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ChaseError(f"{path}:{number}: field 'id': not a subset record") from None
    return ids


def subset_files(paths: list[Path], minimum: int = 2) -> list[Path]:
    """Subset files under the given folders or files (ranking, excluded-row and unmatched-row files are skipped)."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.jsonl")
                                if not p.name.endswith((".ranking.jsonl", ".excluded.jsonl", "unmatched.jsonl"))))
        elif path.exists():
            files.append(path)
        else:
            raise ChaseError(f"{path}: no such file or folder")
    if len(files) < minimum:
        raise ChaseError("overlap needs at least two subset files" if minimum == 2 else "no subset files given")
    return files


def pairwise_overlap(paths: list[Path]) -> list[dict]:
    """For every pair of subsets: sizes, shared ids, Jaccard index and overlap of the smaller."""
    files = subset_files(paths)
    ids = {f: subset_ids(f) for f in files}
    rows = []
    for i, a in enumerate(files):
        for b in files[i + 1:]:
            shared = len(ids[a] & ids[b])
            union = len(ids[a] | ids[b])
            smaller = min(len(ids[a]), len(ids[b]))
            rows.append({"a": a.name, "b": b.name, "size_a": len(ids[a]), "size_b": len(ids[b]),
                         "shared": shared, "jaccard": round(shared / union, 4) if union else 0.0,
                         "overlap_of_smaller": round(shared / smaller, 4) if smaller else 0.0})
    return rows
