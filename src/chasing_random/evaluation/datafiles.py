"""Benchmark data files: read a JSON list or JSONL of items with located errors, fetch hub copies,
take a benchmark's seeded ``--limit`` sample.

Shared by LLMBar, LIMA and InFoBench, whose files are small JSON lists or JSONL; a bad item is a
``ChaseError`` naming the file, the item (its 1-based position or line) and the field.
"""

from __future__ import annotations

import json
import random
import urllib.request
from pathlib import Path

from chasing_random.errors import ChaseError
from chasing_random.store import atomic_path, default_home, jsonl_lines


def read_items(path: str | Path) -> list[tuple[str, dict]]:
    """The objects of a JSON list (``item N``) or a JSONL file (``line N``), each with its location."""
    path = Path(path)
    if not path.is_file():
        raise ChaseError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, list):
        located = [(f"item {i}", row) for i, row in enumerate(data, start=1)]
    elif isinstance(data, dict):
        located = [("line 1", data)]
    else:
        located = []
        for number, line in jsonl_lines(path):
            try:
                located.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ChaseError(f"{path}: line {number}: not valid JSON ({exc.msg}); expected a JSON list of "
                                 "objects or one object per line") from None
    for where, row in located:
        if not isinstance(row, dict):
            raise ChaseError(f"{path}: {where}: expected an object, got {type(row).__name__}")
    if not located:
        raise ChaseError(f"{path}: holds no items")
    return located


def text_field(path: Path, where: str, row: dict, field: str, *, allow_empty: bool = False) -> str:
    """``row[field]`` as a string, or an error naming file, item and field."""
    if field not in row:
        raise ChaseError(f"{path}: {where}: field '{field}' is missing")
    value = row[field]
    if not isinstance(value, str):
        raise ChaseError(f"{path}: {where}: field '{field}' must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ChaseError(f"{path}: {where}: field '{field}' is empty")
    return value


def hub_file(repo_id: str, filename: str) -> Path:
    """A file of a hub dataset repository, downloaded once into the hub cache (online, or cached)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset"))
    except Exception as exc:  # offline, gated, missing: all mean "could not fetch"
        raise ChaseError(f"could not fetch '{filename}' of hub dataset '{repo_id}' ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); download it elsewhere and "
                         "pass the local file") from None


def url_file(url: str, name: str) -> Path:
    """A file downloaded once from ``url`` into ``$CHASE_HOME/benchmarks/NAME`` (reused afterwards)."""
    target = default_home() / "benchmarks" / name
    if target.exists():
        return target
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (fixed https URLs)
            data = response.read()
    except OSError as exc:
        raise ChaseError(f"could not download {url} ({exc}); download it elsewhere and pass the local "
                         "folder") from None
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def seeded_sample(items: list, limit: int | None, seed: int) -> list:
    """A seeded sample of ``limit`` items kept in their order (all when no limit): a benchmark's ``--limit``."""
    if limit is None:
        return items
    if limit < 1:
        raise ChaseError(f"--limit must be at least 1, got {limit}")
    if limit >= len(items):
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]
