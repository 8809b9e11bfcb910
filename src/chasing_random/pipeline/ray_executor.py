"""The Ray executor: stages as Ray tasks, and the shards of each score table and generation as Ray tasks.

Every worker reads and writes the same artifact store, so the store must be on a filesystem all
Ray nodes see (checked before any work starts). Workers ask for the resources the experiment file
gives per kind (``resources:``); a worker process keeps the model it loaded for its next shards.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

from chasing_random.config import ExperimentConfig
from chasing_random.errors import ChaseError
from chasing_random.sharding import ShardTask, compute_shard, describe_error, shard_failure, using
from chasing_random.store import ArtifactStore

PROBE_PREFIX = ".chase-store-probe-"
SHARDED_STAGES = ("generation",)  # stage kinds whose resources describe their shard workers


def import_ray():
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ChaseError("the Ray executor needs Ray: pip install 'chasing-random[ray]'") from None
    return ray


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address``, or start a local one (no dashboard) when there is none."""
    ray = import_ray()
    if ray.is_initialized():
        return
    if address is None:
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)


@functools.cache
def _remote_shard():
    ray = import_ray()

    @ray.remote(max_retries=0)
    def run_shard(compute, task: ShardTask) -> float:
        from chasing_random.models.loading import keep_models_loaded

        keep_models_loaded()
        return compute_shard(compute, task)

    return run_shard


def _failure_of(exc: BaseException) -> tuple[str, bool]:
    """(message, retryable) of a shard or stage task's error: a ChaseError is final, the rest retried."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ChaseError):
        return str(cause), False
    if cause is not None:
        return describe_error(cause), True
    return describe_error(exc), True  # the worker died (killed, out of memory) or its node went away


class RayShards:
    """Runs a table's missing shards as Ray tasks, at most ``concurrency`` at once, each retried
    ``retries`` times (a killed worker loses only the shard it was computing)."""

    name = "ray"

    def __init__(self, placement: dict[str, dict], retries: int = 2):
        self.placement, self.retries = placement, retries

    def shape(self, work: str) -> dict:
        """What one shard worker of this work asks the cluster for."""
        return self.placement.get(work, {"num_cpus": 1.0, "num_gpus": 0.0, "concurrency": None})

    def device(self, work: str) -> str:
        """The device this work's shards run on: its workers', not this process's (which may hold no GPU)."""
        return "cuda" if self.shape(work)["num_gpus"] > 0 else "cpu"

    def run(self, tasks: list[ShardTask], compute, *, work: str, on_done) -> float:
        """Run every task on the cluster; returns the summed compute seconds of the shards that finished."""
        if not tasks:
            return 0.0
        ray = import_ray()
        shape = self.shape(work)
        remote = _remote_shard()
        compute_ref = ray.put(compute)
        limit = shape["concurrency"] or len(tasks)
        pending, running, attempts, failed, spent = list(tasks), {}, {}, {}, 0.0
        while pending or running:
            while pending and len(running) < limit:
                task = pending.pop(0)
                attempts[task.index] = attempts.get(task.index, 0) + 1
                running[remote.options(num_cpus=shape["num_cpus"], num_gpus=shape["num_gpus"],
                                       name=task.name).remote(compute_ref, task)] = task
            (ref,), _ = ray.wait(list(running), num_returns=1)
            task = running.pop(ref)
            try:
                spent += ray.get(ref)
            except ray.exceptions.RayError as exc:
                message, retryable = _failure_of(exc)
                if retryable and attempts[task.index] <= self.retries:
                    pending.insert(0, task)
                else:
                    failed[task.name] = message
                continue
            on_done(task)
        if failed:
            raise shard_failure(failed, self.retries + 1)
        return spent


def check_shared_store(store: ArtifactStore) -> None:
    """Fail before any work when a Ray node cannot see the store (it must be on a shared filesystem).

    Writes a probe file into the store and asks one task on every alive node to read it back.
    """
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    root = Path(store.root)
    root.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    probe = root / f"{PROBE_PREFIX}{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [_probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(probe), token) for n in nodes]
        blind = [n.get("NodeManagerAddress", n["NodeID"]) for n, seen in zip(nodes, ray.get(refs)) if not seen]
    finally:
        probe.unlink(missing_ok=True)
    if blind:
        raise ChaseError(f"the artifact store {root} is not visible from Ray node(s) {', '.join(blind)}: the store "
                         "must be on a shared filesystem every worker mounts at the same path (NFS, a mounted "
                         "bucket); set store: in the experiment file")


def _probe_fn(path: str, token: str) -> bool:
    """True when this worker reads ``token`` from ``path``."""
    try:
        return Path(path).read_text(encoding="utf-8") == token
    except OSError:
        return False


class _LazyRemote:
    """A Ray remote function created on first use, so importing this module does not import Ray."""

    def __init__(self, fn):
        self.fn, self.remote_fn = fn, None

    def options(self, **kw):
        if self.remote_fn is None:
            self.remote_fn = import_ray().remote(self.fn)
        return self.remote_fn.options(**kw)


_probe = _LazyRemote(_probe_fn)


def _run_stage_remote(stage, store_root: str, config_json: str, placement: dict, retries: int) -> str:
    """One stage in a Ray worker; its score tables' shards fan out as further Ray tasks."""
    from chasing_random.pipeline.stages import run_stage

    config = ExperimentConfig.model_validate_json(config_json)
    with using(RayShards(placement, retries)):
        run_stage(stage, ArtifactStore(Path(store_root)), config)
    return stage.key


_stage = _LazyRemote(_run_stage_remote)


def run_ray(plan, store: ArtifactStore, address: str | None = None, on_stage=None) -> None:
    """Run the plan's missing stages as Ray tasks: a stage starts when its dependencies are done and
    its kind has a free slot (``concurrency``); a failed stage is retried, then reported by name."""
    connect(address)
    ray = import_ray()
    check_shared_store(store)
    config = plan.config
    placement = config.resources.placement(config.device)
    retries = config.resources.retries
    config_json = config.model_dump_json()
    todo = [s for s in plan.stages if not s.done(store)]
    finished = {s.key for s in plan.stages if s.key not in {t.key for t in todo}}
    running, attempts, failed = {}, {}, {}
    while todo or running:
        busy = {}
        for stage in running.values():
            busy[stage.kind] = busy.get(stage.kind, 0) + 1
        for stage in list(todo):
            shape = placement[stage.kind]
            ready = all(d.key in finished for d in stage.deps)
            blocked = any(d.key in failed for d in stage.deps)
            if blocked:
                todo.remove(stage)
                failed[stage.key] = (stage.name, "not run: a stage it needs failed")
            elif ready and (shape["concurrency"] is None or busy.get(stage.kind, 0) < shape["concurrency"]):
                todo.remove(stage)
                attempts[stage.key] = attempts.get(stage.key, 0) + 1
                # a generation stage's model work runs in its shard tasks, which take the GPUs
                gpus = 0.0 if stage.kind in SHARDED_STAGES else shape["num_gpus"]
                ref = _stage.options(num_cpus=shape["num_cpus"], num_gpus=gpus, name=stage.name,
                                     max_retries=0).remote(stage, str(store.root), config_json, placement, retries)
                running[ref] = stage
                busy[stage.kind] = busy.get(stage.kind, 0) + 1
        if not running:
            break
        (ref,), _ = ray.wait(list(running), num_returns=1)
        stage = running.pop(ref)
        try:
            ray.get(ref)
        except ray.exceptions.RayError as exc:
            message, retryable = _failure_of(exc)
            if retryable and attempts[stage.key] <= retries:
                todo.insert(0, stage)
            else:
                failed[stage.key] = (stage.name, message)
            continue
        finished.add(stage.key)
        if on_stage is not None:
            on_stage(stage)
    if failed:
        raise ChaseError(f"{len(failed)} stage(s) failed on Ray; finished stages are kept, rerun to retry:\n  "
                         + "\n  ".join(f"{name}: {message}" for name, message in failed.values()))
