"""Sharded score tables on a local Ray: same tables as in-process for any shard count, resume across
executors, a killed worker loses only its shard, a failing shard is retried then named, the store check."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pyarrow as pa
import pytest

from chasing_random.data.pool import build_pool
from chasing_random.errors import ChaseError
from chasing_random.scoring.losses import loss_table
from chasing_random.scoring.shards import run_sharded
from chasing_random.sharding import LocalShards, shard_layout, using
from chasing_random.store import ArtifactStore

ROWS = [{"instruction": f"Task {i}: " + "explain " * (i % 7), "output": "Because " + "it is so. " * (1 + i % 5)}
        for i in range(24)]


@pytest.fixture
def pool(tmp_path):
    (tmp_path / "rows.json").write_text(json.dumps(ROWS))
    build_pool("alpaca", str(tmp_path / "rows.json"), tmp_path / "pool.parquet")
    return tmp_path / "pool.parquet"


def ray_shards(retries: int = 2, concurrency: int | None = None):
    from chasing_random.pipeline.ray_executor import RayShards

    shape = {"num_cpus": 1.0, "num_gpus": 0.0, "concurrency": concurrency}
    return RayShards({"scoring": shape, "embedding": shape, "judging": shape}, retries)


def test_layout_is_length_bucketed_balanced_and_covers_every_row():
    lengths = [5, 100, 7, 100, 1, 50, 50, 3, 9, 2]
    for shard_rows in (1, 2, 3, 4, 10, 20):
        layout = shard_layout(len(lengths), shard_rows, lengths)
        assert len(layout) == -(-len(lengths) // shard_rows) and all(len(s) for s in layout)
        assert sorted(np.concatenate(layout).tolist()) == list(range(len(lengths)))
    assert [s.tolist() for s in shard_layout(10, 4, lengths)] == [[1], [3], [5, 6, 8, 2, 0, 7, 9, 4]]
    assert [s.tolist() for s in shard_layout(5, 2)] == [[0, 1], [2, 3], [4]]


def test_one_two_four_shards_give_the_same_table_locally_and_on_ray(pool, tmp_path, tiny_lm, ray_local):
    tables = {}
    for executor in ("local", "ray"):
        for shards in (1, 2, 4):
            store = ArtifactStore(tmp_path / f"{executor}{shards}")
            with using(LocalShards() if executor == "local" else ray_shards()):
                run = loss_table(pool, tiny_lm, "none", 64, store=store, shard_rows=-(-len(ROWS) // shards))
            assert run.manifest["shards"] == shards and run.manifest["length_bucketed"]
            tables[executor, shards] = run.table
    reference = tables["local", 1]
    assert reference.column("id").to_pylist() == [r.as_py() for r in reference.column("id")]  # pool order
    for key, table in tables.items():
        assert table.column("id").equals(reference.column("id")), key
        for column in ("n_response_tokens", "truncated"):
            assert table.column(column).equals(reference.column(column)), key
        for column in ("loss_cond", "loss_direct"):  # stated tolerance: 1e-5 nats (batch shapes differ)
            assert np.allclose(table.column(column).to_numpy(), reference.column(column).to_numpy(),
                               atol=1e-5, rtol=0, equal_nan=True), key
    for shards in (1, 2, 4):  # the same shards on either executor: bit-identical
        assert tables["ray", shards].equals(tables["local", shards])


def test_a_table_started_locally_finishes_on_ray_and_the_reverse(pool, tmp_path, tiny_lm, ray_local):
    def stop_after_first(done, total):
        if done == 1:
            raise KeyboardInterrupt

    for first, second in ((LocalShards(), ray_shards()), (ray_shards(concurrency=1), LocalShards())):
        store = ArtifactStore(tmp_path / f"{first.name}-then-{second.name}")
        with using(first), pytest.raises(KeyboardInterrupt):
            loss_table(pool, tiny_lm, "none", 64, store=store, shard_rows=6, on_shard=stop_after_first)
        with using(second):
            resumed = loss_table(pool, tiny_lm, "none", 64, store=store, shard_rows=6)
        assert len(resumed.computed_shards) == 3 and resumed.manifest["shards"] == 4, (first.name, second.name)


class Recorder:
    """A picklable shard computation that logs every attempt to a folder; it can kill its own worker
    or raise on chosen rows, to test what a failure costs."""

    def __init__(self, folder, kill_row: int | None = None, fail_row: int | None = None):
        self.folder, self.kill_row, self.fail_row = str(folder), kill_row, fail_row

    def __call__(self, rows: np.ndarray) -> pa.Table:
        from pathlib import Path

        log = Path(self.folder)
        log.mkdir(parents=True, exist_ok=True)
        attempt = len(list(log.glob(f"{int(rows[0])}-*"))) + 1
        (log / f"{int(rows[0])}-{attempt}").touch()
        if self.kill_row in rows and attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-shard
        if self.fail_row in rows:
            raise RuntimeError(f"row {self.fail_row} always fails")
        return pa.table({"id": [str(r) for r in rows], "value": [float(r) * 2 for r in rows]})

    def attempts(self) -> dict[int, int]:
        from pathlib import Path

        counts: dict[int, int] = {}
        for path in Path(self.folder).iterdir():
            first = int(path.name.split("-")[0])
            counts[first] = counts.get(first, 0) + 1
        return counts


@pytest.fixture
def by_value(ray_local):
    """Ray workers cannot import this test module: ship its classes by value."""
    import sys

    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray_local
    ray_local.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _table(store, compute, rows=12, shard_rows=3):
    return run_sharded(store, "test-table", "k", rows, compute, shard_rows=shard_rows, description="test",
                       inputs={}, config={})


def test_a_killed_worker_loses_only_its_shard(tmp_path, by_value):
    compute = Recorder(tmp_path / "log", kill_row=7)
    with using(ray_shards(concurrency=2)):
        run = _table(ArtifactStore(tmp_path / "store"), compute)
    assert run.table.column("value").to_pylist() == [2.0 * i for i in range(12)]
    assert compute.attempts() == {0: 1, 3: 1, 6: 2, 9: 1}  # only the killed shard ran twice


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_failing_shard_is_retried_then_named_and_the_rest_kept(tmp_path, executor, request):
    if executor == "ray":
        request.getfixturevalue("by_value")
    compute = Recorder(tmp_path / "log", fail_row=4)
    store = ArtifactStore(tmp_path / "store")
    with using(LocalShards(retries=1) if executor == "local" else ray_shards(retries=1)):
        with pytest.raises(ChaseError, match=r"(?s)1 shard\(s\) failed after 2 attempt\(s\).*test-table/k/shards-3/00001"
                                             r".*row 4 always fails"):
            _table(store, compute)
    assert compute.attempts() == {0: 1, 3: 2, 6: 1, 9: 1}
    kept = sorted(p.name for p in (store.path("test-table", "k") / "shards-3").glob("*.parquet"))
    assert kept == ["00000.parquet", "00002.parquet", "00003.parquet"]
    fixed = Recorder(tmp_path / "log2")
    with using(LocalShards()):
        run = _table(store, fixed)
    assert run.computed_shards == [1] and fixed.attempts() == {3: 1}


def test_a_store_workers_cannot_see_is_refused_before_work(tmp_path, ray_local):
    from chasing_random.pipeline.ray_executor import check_shared_store

    check_shared_store(ArtifactStore(tmp_path / "shared"))  # a plain local path: every worker sees it
    fd = os.open(tmp_path, os.O_RDONLY)  # /proc/self/fd/N is this process's folder, not a worker's
    try:
        with pytest.raises(ChaseError, match="must be on a shared filesystem"):
            check_shared_store(ArtifactStore(f"/proc/self/fd/{fd}/private-store"))
    finally:
        os.close(fd)
