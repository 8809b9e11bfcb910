"""Work cut into shards and where the shards run: in this process (default) or on Ray workers.

Used by score tables (``scoring.shards``) and generation (``generation.generate``). A shard's rows
are fixed by a deterministic layout (``shard_layout``: length-bucketed when lengths are given); a
finished shard is one Parquet file, written atomically, and the file is its completion marker, so
work started on one executor resumes on the other. A failed shard is retried up to ``retries`` times,
the other shards carry on, and the shards that still fail are reported by name in one ``ChaseError``.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.errors import ChaseError
from chasing_random.store import atomic_path
from chasing_random.ui import note_finished, progress_bar

DEFAULT_RETRIES = 2
Compute = Callable[[np.ndarray], pa.Table]


def shard_layout(n_rows: int, shard_rows: int, lengths: Sequence[int] | None = None) -> list[np.ndarray]:
    """The rows of each shard: ``ceil(n / shard_rows)`` shards, in row order, or with ``lengths``
    longest first and cut so every shard holds about the same total length (at least one row each).

    Deterministic: ties in length keep row order, so every executor and rerun cuts the same shards.
    """
    n_shards = max(1, -(-n_rows // shard_rows))
    if lengths is None or n_rows == 0:
        return [np.arange(start, min(start + shard_rows, n_rows)) for start in range(0, max(n_rows, 1), shard_rows)]
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.lexsort((np.arange(n_rows), -lengths))  # longest first, then row order
    cumulative = np.cumsum(np.maximum(lengths[order], 1))
    targets = cumulative[-1] * np.arange(1, n_shards) / n_shards
    above = np.minimum(np.searchsorted(cumulative, targets, side="left"), n_rows - 1)
    below = np.maximum(above - 1, 0)
    nearer_below = (above > 0) & (targets - cumulative[below] <= cumulative[above] - targets)
    cuts = np.where(nearer_below, below, above) + 1  # cut where the running length is nearest the target
    step = np.arange(n_shards - 1)
    cuts = np.maximum.accumulate(np.maximum(cuts, 1) - step) + step  # strictly increasing: no empty shard
    cuts = np.minimum(cuts, n_rows - (n_shards - 1 - step))
    return [order[a:b] for a, b in zip([0, *cuts], [*cuts, n_rows])]


@dataclass
class ShardTask:
    """One missing shard: its number, a name for messages, its rows and its file."""

    index: int
    name: str
    rows: np.ndarray
    path: Path


def write_shard(task_path: Path, table: pa.Table, seconds: float) -> None:
    """Write one finished shard atomically, with the seconds it took in its metadata."""
    table = table.replace_schema_metadata({"device_seconds": repr(seconds)})
    with atomic_path(task_path) as tmp:
        pq.write_table(table, tmp)


def compute_shard(compute: Compute, task: ShardTask) -> float:
    """Compute one shard and write its file; returns the seconds the computation took."""
    tick = time.perf_counter()
    table = compute(task.rows)
    seconds = time.perf_counter() - tick
    write_shard(task.path, table, seconds)
    return seconds


def run_shards(layout: list[np.ndarray], paths: list[Path], compute: Compute, *, label: str, work: str,
               description: str, on_shard: Callable[[int, int], None] | None = None) -> tuple[float, list[int]]:
    """Compute every shard whose file is missing on the current executor; ``label`` prefixes shard
    names in messages, ``work`` names the resource kind its workers ask a cluster for.

    ``on_shard(done, total)`` is called after each shard is safely on disk (progress, tests).
    Returns the summed compute seconds of this call and the indices of the shards it computed.
    """
    todo = [ShardTask(index, f"{label}/{path.parent.name}/{path.name}", rows, path)
            for index, (rows, path) in enumerate(zip(layout, paths)) if not path.exists()]
    finished = len(layout) - len(todo)
    with progress_bar(description, len(layout)) as advance:
        advance(finished)

        def done(task: ShardTask) -> None:
            nonlocal finished
            finished += 1
            note_finished(f"{work} shard")
            advance(1)
            if on_shard is not None:
                on_shard(finished, len(layout))

        seconds = current_executor().run(todo, compute, work=work, on_done=done)
    return seconds, sorted(t.index for t in todo)


def shard_seconds(table: pa.Table) -> float:
    """The compute seconds recorded in a shard file's metadata."""
    return float((table.schema.metadata or {}).get(b"device_seconds", b"0"))


def shard_failure(failed: dict[str, str], attempts: int) -> ChaseError:
    """The error that names every shard that failed after all its attempts, with its last error."""
    lines = [f"{name}: {error}" for name, error in failed.items()]
    return ChaseError(f"{len(failed)} shard(s) failed after {attempts} attempt(s); finished shards are kept, "
                      "rerun to retry:\n  " + "\n  ".join(lines))


class LocalShards:
    """Shards one after another in this process (a model loads once per table or generation run)."""

    name = "local"

    def __init__(self, retries: int = DEFAULT_RETRIES):
        self.retries = retries

    def device(self, work: str) -> str | None:
        """The device this work's shards run on: None, i.e. whatever this process has."""
        return None

    def run(self, tasks: list[ShardTask], compute: Compute, *, work: str,
            on_done: Callable[[ShardTask], None]) -> float:
        """Run every task; returns the summed compute seconds of the shards that finished."""
        spent, failed = 0.0, {}
        for task in tasks:
            error = None
            for attempt in range(self.retries + 1):
                try:
                    spent += compute_shard(compute, task)
                    error = None
                    break
                except ChaseError as exc:  # bad input or a bad model: the same every time, so not retried
                    error = str(exc)
                    break
                except Exception as exc:  # noqa: BLE001 - anything else may be transient (memory, I/O)
                    error = describe_error(exc)
            if error is None:
                on_done(task)
            else:
                failed[task.name] = error
        if failed:
            raise shard_failure(failed, self.retries + 1)
        return spent


_EXECUTOR: contextvars.ContextVar = contextvars.ContextVar("shard_executor", default=None)


def current_executor():
    """The shard executor of this context: the one set by ``using``, else a local one."""
    return _EXECUTOR.get() or LocalShards()


@contextlib.contextmanager
def using(executor) -> Iterator[None]:
    """Run the shards of the tables and generations started inside this block on ``executor``."""
    token = _EXECUTOR.set(executor)
    try:
        yield
    finally:
        _EXECUTOR.reset(token)


def describe_error(exc: BaseException) -> str:
    """A one-line description of a worker's error (its type and message, last traceback line)."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return text[-1] if text else type(exc).__name__
