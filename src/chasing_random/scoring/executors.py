"""Where the shards of a score table run: in this process (default) or on Ray workers.

Both executors write the same shard files (the file is the completion marker), so a table started
on one resumes on the other. A failed shard is retried up to ``retries`` times, the other shards
carry on, and the shards that still fail are reported by name in one ``ChaseError``.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from chasing_random.errors import ChaseError

DEFAULT_RETRIES = 2
Compute = Callable[[np.ndarray], pa.Table]


@dataclass
class ShardTask:
    """One missing shard: its number, a name for messages, its pool rows and its file."""

    index: int
    name: str
    rows: np.ndarray
    path: Path


def compute_shard(compute: Compute, task: ShardTask) -> float:
    """Compute one shard and write its file; returns the seconds the computation took."""
    from chasing_random.scoring.shards import write_shard

    tick = time.perf_counter()
    table = compute(task.rows)
    seconds = time.perf_counter() - tick
    write_shard(task.path, table, seconds)
    return seconds


def shard_failure(failed: dict[str, str], attempts: int) -> ChaseError:
    """The error that names every shard that failed after all its attempts, with its last error."""
    lines = [f"{name}: {error}" for name, error in failed.items()]
    return ChaseError(f"{len(failed)} shard(s) failed after {attempts} attempt(s); finished shards are kept, "
                      "rerun to retry:\n  " + "\n  ".join(lines))


class LocalShards:
    """Shards one after another in this process (a model loads once per table, as before)."""

    name = "local"

    def __init__(self, retries: int = DEFAULT_RETRIES):
        self.retries = retries

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
    """Run the score tables built inside this block on ``executor``."""
    token = _EXECUTOR.set(executor)
    try:
        yield
    finally:
        _EXECUTOR.reset(token)


def describe_error(exc: BaseException) -> str:
    """A one-line description of a worker's error (its type and message, last traceback line)."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return text[-1] if text else type(exc).__name__
