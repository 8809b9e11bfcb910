"""Run a plan: locally in this process (default) or on Ray (``ray_executor``); then collect results.

Only stages whose done record is missing run. An interruption loses at most the stage that was
running (and that stage's own shards resume where they can).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from chasing_random.config import BenchmarkConfig, ExperimentConfig
from chasing_random.errors import ChaseError
from chasing_random.judges.factory import JudgeSpec
from chasing_random.pipeline.plan import DONE_MARKER, Arm, Plan, Stage, expand
from chasing_random.pipeline.stages import run_stage
from chasing_random.results import CostRow, EvaluationRow, Spend, SubsetRow, write_results
from chasing_random.store import ArtifactStore, write_json_atomic
from chasing_random.ui import console, note_finished, styled, third_party_to_log

EXECUTORS = ("local", "ray")
LOG_FILE = "run.log"  # third-party warnings and log lines of a run (chase run --verbose shows them instead)


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


def placement_rows(plan: Plan) -> list[dict]:
    """What each kind of worker asks a Ray cluster for, how many stages of that kind the plan has, and
    the shard size of the kinds that run in shards (``shard``: size and unit, else None)."""
    from chasing_random.generation.shards import DEFAULT_SHARD_PROMPTS
    from chasing_random.scoring.ratings import JUDGE_SHARD_ROWS
    from chasing_random.scoring.shards import DEFAULT_SHARD_ROWS

    shards = {"generation": (plan.config.resources.generation.shard_rows or DEFAULT_SHARD_PROMPTS, "prompts"),
              "scoring": (DEFAULT_SHARD_ROWS, "rows"), "embedding": (DEFAULT_SHARD_ROWS, "rows"),
              "judging": (JUDGE_SHARD_ROWS, "rows")}
    counts: dict[str, int] = {}
    for stage in plan.stages:
        counts[stage.kind] = counts.get(stage.kind, 0) + 1
    return [{"kind": kind, **shape, "stages": counts.get(kind), "shard": shards.get(kind)}
            for kind, shape in plan.config.resources.placement(plan.config.device).items()]


def _selection_spend(stage: Stage, out: dict, device: str, folder: Path) -> Spend:
    """A selection stage's spend; records from before tokens named their model are upgraded when the
    manifest names a single API judge, else an error says how to regenerate them."""
    cost = dict(out.get("cost") or {})
    tokens = cost.get("api_tokens") or {}
    if tokens and set(tokens) <= {"prompt", "completion"}:
        info = out.get("manifest", {}).get("info", {})
        judges = {JudgeSpec.parse(v) for k, v in info.items() if (k == "judge" or k.endswith("_scorer")) and v}
        api = {j.model for j in judges if j.is_api}
        if len(api) != 1:
            raise ChaseError(f"selection stage '{stage.name}' recorded API tokens without the judge model "
                             f"(an older version): delete {folder / DONE_MARKER} and run `chase run CONFIG` again "
                             "(the judge's replies come back from the response cache)")
        cost["api_tokens"] = {api.pop(): {"input": tokens.get("prompt", 0), "output": tokens.get("completion", 0)}}
    return Spend.model_validate({"device": device, **cost})


def evaluation_rows(arm: Arm, bench: BenchmarkConfig, out: dict, budget: int | None) -> list[EvaluationRow]:
    """The results rows of one evaluation stage's outputs in one setting (rows name the arm by its label):
    its metric first (the report's primary), then each secondary metric of the same outputs (IFEval's
    instruction level)."""
    metric = bench.spec.metric
    return [EvaluationRow(pool=arm.pool, budget=budget, strategy=arm.label, seed=arm.seed,
                          benchmark=bench.spec.label(bench), metric=score["metric"], value=score["value"],
                          unit=score.get("unit", metric.unit),
                          higher_is_better=score.get("higher_is_better", metric.higher_is_better),
                          per_prompt=score["per_prompt"], per_prompt_weight=score.get("per_prompt_weight") or {},
                          reference_value=score.get("reference_value"),
                          judge_order=(out.get("metrics") or {}).get("order") if score is out else None)
            for score in (out, *out.get("secondary", ()))]


def collect_results(plan: Plan, paths: RunPaths) -> dict[str, int]:
    """Write results/{evaluations,costs,subsets}.jsonl (through ``chasing_random.results``) and config.json
    from the finished stages: every stage that spends (selection, training, generation, evaluation)
    gets a cost row."""
    store = paths.store
    budgets = plan.config.budgets
    evaluations: list[EvaluationRow] = []
    costs: list[CostRow] = []
    subsets: list[SubsetRow] = []
    for stage in plan.stages:
        if not stage.done(store) or stage.arm is None:  # pools spend nothing worth a row
            continue
        record = stage.record(store)
        arm, out, wall = stage.arm, record["outputs"], record["wall_time_s"]
        who = {"pool": arm.pool, "strategy": arm.label, "seed": arm.seed}  # rows name a strategy by its label
        if stage.kind == "selection":
            spend = _selection_spend(stage, out, record["device"], stage.folder(store))
            costs.append(CostRow(**who, budget=None, stage="selection", wall_time_s=wall, **spend.model_dump()))
            manifest = out["manifest"]
            for budget, path in out["subsets"].items():
                subsets.append(SubsetRow(**who, budget=int(budget), ids_path=path, pool_path=out["pool_path"],
                                         targeted=bool(manifest.get("targeted")),
                                         contaminated=manifest["subsets"][budget].get("contaminated")))
        elif stage.kind == "training":
            manifest = out["manifest"]
            costs.append(CostRow(**who, budget=arm.budget, stage="training", device=record["device"],
                                 device_hours=float(manifest.get("device_hours", wall / 3600)), wall_time_s=wall,
                                 examples=manifest.get("n_examples")))
        elif stage.kind == "generation":
            costs.append(CostRow(**who, budget=arm.budget, stage="generation", device=record["device"],
                                 device_hours=wall / 3600, wall_time_s=wall))
        elif stage.kind == "evaluation":
            bench = stage.params.benchmark
            setting = stage.params.setting_budget
            settings = [setting] if setting is not None else [arm.budget] if arm.budget is not None else budgets
            for budget in settings:
                evaluations.extend(evaluation_rows(arm, bench, out, budget))
            api_tokens = out.get("api_tokens") or {}
            costs.append(CostRow(**who, budget=arm.budget, stage="evaluation", device=record["device"],
                                 device_hours=0.0 if api_tokens else wall / 3600, api_tokens=api_tokens,
                                 wall_time_s=wall))
    counts = write_results(paths.run_dir, evaluations, costs, subsets)
    write_json_atomic(paths.run_dir / "config.json", json.loads(plan.config.model_dump_json()))
    return counts


def run_experiment(config: ExperimentConfig, *, run_dir: str | Path | None = None, executor: str = "local",
                   ray_address: str | None = None, verbose: bool = False) -> RunPaths:
    """Expand the grid, run what is missing, and collect results for the report. Third-party warnings
    and log lines go to ``RUN_DIR/run.log`` unless ``verbose``."""
    paths = RunPaths.of(config, run_dir)
    plan = expand(config)
    with third_party_to_log(paths.run_dir / LOG_FILE, verbose):
        if executor == "ray":
            from chasing_random.pipeline.ray_executor import run_ray

            todo = sum(not s.done(paths.store) for s in plan.stages)
            console.print(f"{len(plan.stages) - todo} of {len(plan.stages)} stages cached; {todo} to run on Ray")
            run_ray(plan, paths.store, ray_address, on_stage=lambda stage: console.print(f"    done: {stage.name}"))
        else:
            run_local(plan, paths)
    collect_results(plan, paths)
    return paths
