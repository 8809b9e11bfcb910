"""Ray scale: one scoring stage (an IFD loss table) in-process, on local Ray with 1 worker, and with 2.

Scores the same rows of ../shared/data/alpaca_random_9k.json with smollm2-135m-instruct (template
``none``, L = 256), cut into length-bucketed shards, three ways in one run, each into a fresh store:
(a) the local executor (reference); (b) Ray, 1 shard worker; (c) Ray, 2 shard workers. Prints the
wall times, the speed-up of 2 workers over 1, Ray's start-up time, and the overhead of Ray
scheduling (wall time minus the shards' own compute seconds, which includes each worker loading
the model once, and the round trip of empty tasks). Checks the three tables agree (1e-5 nats).
Each worker takes one CPU (OMP_NUM_THREADS=1). On a shared or 2-core machine the 2-worker figure
is a floor: the workers compete with everything else running there.

Usage: python benchmarks/ray_scale.py [--rows 64] [--shard-rows 16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from chasing_random.data.pool import build_pool
from chasing_random.scoring.losses import loss_table
from chasing_random.sharding import LocalShards, using
from chasing_random.store import ArtifactStore

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alpaca_random_9k.json"
MODEL = "smollm2-135m-instruct"
MAX_LENGTH = 256


def make_pool(n: int, folder: Path) -> Path:
    """The first n rows of the Alpaca sample as a pool (through the project's Alpaca adapter)."""
    (folder / "rows.json").write_text(json.dumps(json.loads(DATA.read_text())[:n]))
    build_pool("alpaca", str(folder / "rows.json"), folder / "bench.parquet")
    return folder / "bench.parquet"


def score(pool: Path, store: Path, executor, shard_rows: int):
    """(table, wall seconds, summed shard compute seconds) of one fresh loss table on ``executor``."""
    started = time.perf_counter()
    with using(executor):
        run = loss_table(pool, MODEL, "none", MAX_LENGTH, store=ArtifactStore(store), shard_rows=shard_rows,
                         device="cpu")
    return run, time.perf_counter() - started, run.manifest["cost"]["device_hours"] * 3600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64, help="rows of the Alpaca sample")
    parser.add_argument("--shard-rows", type=int, default=16, help="rows per shard (64/16 = 4 shards)")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"missing {DATA}", file=sys.stderr)
        return 1
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ray
    import torch

    from chasing_random.models.loading import smollm2_folder
    from chasing_random.pipeline.ray_executor import RayShards

    torch.set_num_threads(1)
    smollm2_folder()  # converted once, outside the timings
    folder = Path(tempfile.mkdtemp())
    pool = make_pool(args.rows, folder)
    local, t_local, c_local = score(pool, folder / "local", LocalShards(), args.shard_rows)

    tick = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 2**20, _node_ip_address="127.0.0.1")
    t_start = time.perf_counter() - tick

    @ray.remote(num_cpus=1)
    def empty() -> None:
        return None

    ray.get([empty.remote() for _ in range(2)])  # start the worker processes
    tick = time.perf_counter()
    ray.get([empty.remote() for _ in range(20)])
    t_task = (time.perf_counter() - tick) / 20
    shape = {"num_cpus": 1.0, "num_gpus": 0.0}
    runs = {}
    for workers in (1, 2):
        executor = RayShards({"scoring": {**shape, "concurrency": workers}}, retries=0)
        runs[workers] = score(pool, folder / f"ray{workers}", executor, args.shard_rows)
    ray.shutdown()

    (one, t_one, c_one), (two, t_two, c_two) = runs[1], runs[2]
    for run in (one, two):
        for column in ("loss_cond", "loss_direct"):
            assert np.allclose(run.table.column(column).to_numpy(), local.table.column(column).to_numpy(),
                               atol=1e-5, equal_nan=True), column
    shards = local.manifest["shards"]
    print(f"model: {MODEL}  rows: {args.rows}  shards: {shards} (length-bucketed)  L: {MAX_LENGTH}  "
          f"cores: {os.cpu_count()} (shared machine: other work competes for them)")
    print(f"(a) local executor      {t_local:7.2f} s wall  ({c_local:6.2f} s in shards)")
    print(f"(b) Ray, 1 worker       {t_one:7.2f} s wall  ({c_one:6.2f} s in shards)")
    print(f"(c) Ray, 2 workers      {t_two:7.2f} s wall  ({c_two:6.2f} s in shards, summed over workers)")
    print(f"speed-up of 2 workers over 1: {t_one / t_two:.2f}x (ideal 2.00x);  Ray 1 worker vs local: "
          f"{t_local / t_one:.2f}x")
    print(f"Ray start-up (ray.init, local): {t_start:.2f} s;  empty-task round trip: {t_task * 1000:.1f} ms")
    print(f"Ray overhead with 1 worker (wall - shard compute; includes loading the model once per worker): "
          f"{t_one - c_one:.2f} s;  local executor's (model load, pool read, join): {t_local - c_local:.2f} s")
    print("tables agree within 1e-5 nats across the three runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
