"""Sharded, resumable score tables in the artifact store: one Parquet file per finished shard.

A table of kind K with key H lives at ``store/K/H/``: ``shards/00000.parquet`` ... are written
atomically as they finish, then ``table.parquet`` and its manifest (written last = done). A rerun
skips finished shards, so an interrupted run only redoes the shard it was in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.store import (
    ArtifactStore,
    atomic_path,
    manifest_path,
    read_manifest,
    write_manifest,
)
from chasing_random.ui import note_finished, progress_bar

TABLE_FILE = "table.parquet"
DEFAULT_SHARD_ROWS = 1024


@dataclass
class TableRun:
    """A finished table: where it is, its Arrow data, what this call spent, and its manifest."""

    path: Path
    table: pa.Table
    cost: dict
    manifest: dict
    reused: bool
    computed_shards: list[int] = field(default_factory=list)

    @property
    def frame(self):
        """The table as a pandas DataFrame (nulls become NaN in float columns)."""
        return self.table.to_pandas()


def zero_cost(device: str = "cpu") -> dict:
    """The cost record of work that was not done (a cached table)."""
    return {"device": device, "device_hours": 0.0, "api_tokens": {}}


def shard_path(folder: Path, shard_rows: int, index: int) -> Path:
    """Where shard ``index`` of a table cut into ``shard_rows``-row shards lives."""
    return folder / f"shards-{shard_rows}" / f"{index:05d}.parquet"


def forget_shards(store: ArtifactStore, kind: str, key: str, shard_rows: int,
                  redo: Callable[[pa.Table], bool]) -> int:
    """Delete the finished shards for which ``redo(shard)`` is true, and the joined table if any was.

    The next ``run_sharded`` call recomputes exactly those shards; returns how many were dropped.
    """
    folder = store.path(kind, key)
    dropped = [path for path in sorted((folder / f"shards-{shard_rows}").glob("*.parquet"))
               if redo(pq.read_table(path))]
    for path in dropped:
        path.unlink()
    if dropped:
        final = folder / TABLE_FILE
        manifest_path(final).unlink(missing_ok=True)
        final.unlink(missing_ok=True)
    return len(dropped)


def run_sharded(store: ArtifactStore, kind: str, key: str, n_rows: int,
                compute: Callable[[int, int], pa.Table], *, shard_rows: int = DEFAULT_SHARD_ROWS,
                description: str, inputs: dict, config: dict, device: str = "cpu",
                on_shard: Callable[[int, int], None] | None = None) -> TableRun:
    """Compute ``compute(start, stop)`` for every missing shard of ``n_rows``, then join the shards.

    ``on_shard(done, total)`` is called after each shard is safely on disk (progress, tests).
    The manifest records the device-hours of all shards, summed across resumed runs.
    """
    folder = store.path(kind, key)
    final = folder / TABLE_FILE
    if store.done(kind, key, TABLE_FILE):
        return TableRun(final, pq.read_table(final), zero_cost(device), read_manifest(final), reused=True)
    started = time.time()
    starts = list(range(0, n_rows, shard_rows)) or [0]
    computed, spent = [], 0.0
    with progress_bar(description, len(starts)) as advance:
        for index, start in enumerate(starts):
            path = shard_path(folder, shard_rows, index)
            if not path.exists():
                tick = time.perf_counter()
                table = compute(start, min(start + shard_rows, n_rows))
                seconds = time.perf_counter() - tick
                table = table.replace_schema_metadata({"device_seconds": repr(seconds)})
                with atomic_path(path) as tmp:
                    pq.write_table(table, tmp)
                computed.append(index)
                note_finished(f"{kind} shard")
                spent += seconds
            advance(1)
            if on_shard is not None:
                on_shard(index + 1, len(starts))
    shards = [pq.read_table(shard_path(folder, shard_rows, i)) for i in range(len(starts))]
    total_seconds = sum(float((t.schema.metadata or {}).get(b"device_seconds", b"0")) for t in shards)
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in shards])
    with atomic_path(final) as tmp:
        pq.write_table(table, tmp)
    total_cost = {"device": device, "device_hours": total_seconds / 3600, "api_tokens": {}}
    manifest = write_manifest(final, kind=kind, inputs=inputs, config=config, started=started,
                              extra={"key": key, "rows": table.num_rows, "shards": len(starts),
                                     "shard_rows": shard_rows, "cost": total_cost})
    return TableRun(final, table, {"device": device, "device_hours": spent / 3600, "api_tokens": {}},
                    manifest, reused=False, computed_shards=computed)


def model_fingerprint(name: str) -> dict:
    """What identifies a model's weights for cache keys: its name and, for a local folder, a hash of
    its config and the size, head and tail of every weight file (cheap, but changes with the weights)."""
    import hashlib

    from chasing_random.models.loading import resolve_model

    path = Path(resolve_model(name))
    if not path.is_dir():
        return {"name": name}
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.suffix in (".json", ".safetensors", ".bin", ".gguf", ".model", ".txt") and file.is_file():
            size = file.stat().st_size
            digest.update(f"{file.name}:{size}".encode())
            with open(file, "rb") as handle:
                digest.update(handle.read(1 << 20))
                if size > 2 << 20:
                    handle.seek(size - (1 << 20))
                    digest.update(handle.read(1 << 20))
    return {"name": name, "content_sha256_16": digest.hexdigest()[:16]}


def pick_device(device: str | None) -> str:
    """The device to score on: the one asked for, else CUDA when present, else CPU."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
