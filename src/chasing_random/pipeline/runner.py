"""Run a plan: locally in this process (default) or on Ray; then collect results for the report.

Only stages whose done record is missing run. An interruption loses at most the stage that was
running (and that stage's own shards resume where they can).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from chasing_random.config import ExperimentConfig
from chasing_random.pipeline.plan import Plan, Stage, expand
from chasing_random.pipeline.stages import run_stage
from chasing_random.store import ArtifactStore, write_json_atomic, write_text_atomic
from chasing_random.ui import console, note_finished, styled

EXECUTORS = ("local", "ray")


@dataclass
class RunPaths:
    """Where a run keeps its store and results."""

    run_dir: Path
    store: ArtifactStore

    @classmethod
    def of(cls, config: ExperimentConfig, run_dir: str | Path | None = None) -> "RunPaths":
        """Absolute paths, so the results files name files that resolve from any working directory."""
        root = Path(run_dir or config.run_dir or Path("runs") / config.name).resolve()
        store = ArtifactStore(Path(config.store).resolve() if config.store else root / "store")
        return cls(root, store)


def plan_rows(plan: Plan, paths: RunPaths) -> list[dict]:
    """Every stage with its status and estimated cost, for ``--dry-run``."""
    prices = plan.config.prices.device_hour
    price = prices.get(plan.config.device, 0.0)
    return [{"kind": s.kind, "stage": s.name, "status": "cached" if s.done(paths.store) else "to do",
             "est_device_hours": s.estimate_device_hours, "est_dollars": s.estimate_device_hours * price}
            for s in plan.stages]


def run_local(plan: Plan, paths: RunPaths) -> None:
    """Run every missing stage in dependency order in this process, with a progress line per stage."""
    todo = [s for s in plan.stages if not s.done(paths.store)]
    console.print(f"{len(plan.stages) - len(todo)} of {len(plan.stages)} stages cached; {len(todo)} to run")
    for number, stage in enumerate(todo, start=1):
        started = time.time()
        console.print(styled(f"[{number}/{len(todo)}]", "cyan"), f"{stage.name} ...")
        run_stage(stage, paths.store, plan.config)
        note_finished("stage")
        console.print(f"    done in {time.time() - started:.1f}s")


def run_ray(plan: Plan, paths: RunPaths, address: str | None = None) -> None:
    """Run missing stages as Ray tasks; a stage starts when its dependencies' tasks finish.

    The artifact store must be on a filesystem every Ray node sees (NFS, a mounted bucket).
    Training and generation ask for a GPU when the config's device is not ``cpu``.
    """
    try:
        import ray
    except ImportError:
        from chasing_random.errors import ChaseError

        raise ChaseError("the Ray executor needs the optional extra: pip install 'chasing-random[ray]'") from None
    ray.init(address=address, ignore_reinit_error=True)
    gpu = 0 if plan.config.device == "cpu" else 1

    @ray.remote
    def remote_stage(stage: Stage, store_root: str, config_json: str, *deps_done) -> str:
        config = ExperimentConfig.model_validate_json(config_json)
        run_stage(stage, ArtifactStore(Path(store_root)), config)
        return stage.key

    refs: dict[str, object] = {}
    config_json = plan.config.model_dump_json()
    for stage in plan.stages:
        if stage.done(paths.store):
            continue
        needs_gpu = gpu if stage.kind in ("training", "generation", "selection") else 0
        dep_refs = [refs[d.key] for d in stage.deps if d.key in refs]
        refs[stage.key] = remote_stage.options(num_gpus=needs_gpu, name=stage.name).remote(
            stage, str(paths.store.root), config_json, *dep_refs)
    ray.get(list(refs.values()))


def collect_results(plan: Plan, paths: RunPaths) -> dict[str, int]:
    """Write results/{evaluations,costs,subsets}.jsonl and config.json from the finished stages."""
    store = paths.store
    budgets = plan.config.budgets
    evaluations, costs, subsets = [], [], []
    for stage in plan.stages:
        if not stage.done(store):
            continue
        record = stage.record(store)
        p, out = stage.params, record["outputs"]
        if stage.kind == "selection":
            cost = out.get("cost") or {}
            costs.append({"pool": p["pool"], "strategy": p["label"], "budget": None, "seed": p["seed"],
                          "stage": "selection", "device": cost.get("device", record["device"]),
                          "device_hours": float(cost.get("device_hours", 0.0)),
                          "api_tokens": cost.get("api_tokens", {}), "wall_time_s": record["wall_time_s"]})
            for budget, path in out["subsets"].items():
                subsets.append({"pool": p["pool"], "strategy": p["label"], "budget": int(budget),
                                "seed": p["seed"], "ids_path": path, "pool_path": out["pool_path"]})
        elif stage.kind == "training":
            manifest = out["manifest"]
            costs.append({"pool": p["pool"], "strategy": p["strategy"], "budget": p["budget"], "seed": p["seed"],
                          "stage": "training", "device": record["device"],
                          "device_hours": float(manifest.get("device_hours", record["wall_time_s"] / 3600)),
                          "api_tokens": {}, "wall_time_s": record["wall_time_s"],
                          "examples": manifest.get("n_examples")})
        elif stage.kind == "evaluation":
            bench = p["benchmark"]["name"]
            if bench == "harness":
                bench = "harness:" + "+".join(p["benchmark"]["tasks"])
            settings = [p["setting_budget"]] if "setting_budget" in p else (
                [p["budget"]] if p["budget"] is not None else budgets)
            for budget in settings:
                evaluations.append({"pool": p["pool"], "budget": budget, "strategy": p["strategy"], "seed": p["seed"],
                                    "benchmark": bench, "metric": out["metric"], "value": out["value"],
                                    "per_prompt": out["per_prompt"],
                                    "reference_value": out.get("reference_value")})
            if out.get("api_tokens"):
                costs.append({"pool": p["pool"], "strategy": p["strategy"], "budget": p["budget"], "seed": p["seed"],
                              "stage": "evaluation", "device": record["device"], "device_hours": 0.0,
                              "api_tokens": out["api_tokens"], "wall_time_s": record["wall_time_s"]})
    results = paths.run_dir / "results"
    for name, rows in (("evaluations", evaluations), ("costs", costs), ("subsets", subsets)):
        write_text_atomic(results / f"{name}.jsonl",
                          "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows))
    write_json_atomic(paths.run_dir / "config.json", json.loads(plan.config.model_dump_json()))
    return {"evaluations": len(evaluations), "costs": len(costs), "subsets": len(subsets)}


def run_experiment(config: ExperimentConfig, *, run_dir: str | Path | None = None, executor: str = "local",
                   ray_address: str | None = None) -> RunPaths:
    """Expand the grid, run what is missing, and collect results for the report."""
    paths = RunPaths.of(config, run_dir)
    plan = expand(config)
    if executor == "ray":
        run_ray(plan, paths, ray_address)
    else:
        run_local(plan, paths)
    collect_results(plan, paths)
    return paths
