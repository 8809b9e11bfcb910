"""Sharded, resumable score tables in the artifact store: one Parquet file per finished shard.

A table of kind K with key H lives at ``store/K/H/``: ``shards-R/00000.parquet`` ... are written
atomically as they finish (the file is the shard's completion marker), then ``table.parquet`` and
its manifest (written last = done). A rerun skips finished shards, so an interrupted run only
redoes the shards it was in. Model-scored tables are length-bucketed (``shards-R-by-length``):
rows are sorted by length and cut into shards of equal total length, so no shard is much slower
than the others and each batches similar lengths. Shards run on the current shard executor
(in this process, or on Ray workers: see ``chasing_random.sharding``); the joined table is in pool order
whatever the executor, shard count or order of completion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.sharding import run_shards, shard_layout, shard_seconds
from chasing_random.store import (
    ArtifactStore,
    atomic_path,
    file_fingerprint,
    manifest_path,
    read_manifest,
    write_manifest,
)

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


@dataclass(frozen=True)
class PoolRead:
    """A pool file read once: its rows (a DataFrame) and the fingerprint of its bytes that keys its tables.

    ``scoring.tables.ScoreTables`` hands one to every table builder so a selection reads and hashes
    its pool once; a builder called on its own reads the file itself (``PoolRead.of``).
    """

    path: Path
    frame: object
    sha: str

    @classmethod
    def of(cls, path: str | Path, given: "PoolRead | None" = None) -> "PoolRead":
        """``given`` when the caller already read the pool, else the file read and hashed now."""
        if given is not None:
            return given
        from chasing_random.data.pool import read_pool

        return cls(Path(path), read_pool(path), file_fingerprint(path))


def table_info(run: TableRun) -> dict:
    """What a selection manifest says about a score table it used."""
    return {"path": str(run.path), "reused": run.reused, "cost_to_make": run.manifest.get("cost")}


def cost_to_make(*runs: TableRun) -> dict:
    """Device-hours the given tables cost to make, the same whether this call computed or reused them."""
    costs = [r.manifest.get("cost") or {} for r in runs]
    return {"device": costs[0].get("device", runs[0].cost["device"]),
            "device_hours": sum(float(c.get("device_hours", 0.0)) for c in costs), "api_tokens": {}}


def zero_cost(device: str = "cpu") -> dict:
    """The cost record of work that was not done (a cached table)."""
    return {"device": device, "device_hours": 0.0, "api_tokens": {}}


def shard_folder(folder: Path, shard_rows: int, by_length: bool) -> Path:
    """The folder of a table's shards for one layout (row-range or length-bucketed)."""
    return folder / (f"shards-{shard_rows}-by-length" if by_length else f"shards-{shard_rows}")


def shard_path(folder: Path, shard_rows: int, index: int, by_length: bool = False) -> Path:
    """Where shard ``index`` of a table cut into ``shard_rows``-row shards lives."""
    return shard_folder(folder, shard_rows, by_length) / f"{index:05d}.parquet"


def forget_shards(store: ArtifactStore, kind: str, key: str, shard_rows: int,
                  redo: Callable[[pa.Table], bool], by_length: bool = False) -> int:
    """Delete the finished shards for which ``redo(shard)`` is true, and the joined table if any was.

    The next ``run_sharded`` call recomputes exactly those shards; returns how many were dropped.
    """
    folder = store.path(kind, key)
    dropped = [path for path in sorted(shard_folder(folder, shard_rows, by_length).glob("*.parquet"))
               if redo(pq.read_table(path))]
    for path in dropped:
        path.unlink()
    if dropped:
        final = folder / TABLE_FILE
        manifest_path(final).unlink(missing_ok=True)
        final.unlink(missing_ok=True)
    return len(dropped)


def run_sharded(store: ArtifactStore, kind: str, key: str, n_rows: int,
                compute: Callable[[np.ndarray], pa.Table], *, shard_rows: int = DEFAULT_SHARD_ROWS,
                description: str, inputs: dict, config: dict, device: str = "cpu",
                on_shard: Callable[[int, int], None] | None = None, lengths: Sequence[int] | None = None,
                work: str = "scoring") -> TableRun:
    """Compute ``compute(rows)`` (pool row indices) for every missing shard, then join the shards.

    ``lengths`` (one per row) turns on length bucketing; ``work`` names the resource kind the shards
    ask a cluster for (``scoring``, ``embedding``, ``judging``). ``on_shard(done, total)`` is called
    after each shard is safely on disk (progress, tests). The manifest records the device-hours of
    all shards, summed across resumed runs.
    """
    folder = store.path(kind, key)
    final = folder / TABLE_FILE
    if store.done(kind, key, TABLE_FILE):
        return TableRun(final, pq.read_table(final), zero_cost(device), read_manifest(final), reused=True)
    started = time.time()
    by_length = lengths is not None
    layout = shard_layout(n_rows, shard_rows, lengths)
    paths = [shard_path(folder, shard_rows, i, by_length) for i in range(len(layout))]
    seconds, computed = run_shards(layout, paths, compute, label=f"{kind}/{key}", work=work,
                                   description=description, on_shard=on_shard)
    shards = [pq.read_table(path) for path in paths]
    total_seconds = sum(shard_seconds(t) for t in shards)
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in shards])
    if by_length:
        table = table.take(np.argsort(np.concatenate(layout), kind="stable"))
    with atomic_path(final) as tmp:
        pq.write_table(table, tmp)
    total_cost = {"device": device, "device_hours": total_seconds / 3600, "api_tokens": {}}
    manifest = write_manifest(final, kind=kind, inputs=inputs, config=config, started=started,
                              extra={"key": key, "rows": table.num_rows, "shards": len(layout),
                                     "shard_rows": shard_rows, "length_bucketed": by_length, "cost": total_cost})
    return TableRun(final, table, {"device": device, "device_hours": seconds / 3600, "api_tokens": {}},
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
