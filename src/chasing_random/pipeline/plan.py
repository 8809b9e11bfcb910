"""Grid expansion: an experiment config becomes a list of stages in dependency order.

Each stage's key is a fingerprint of its config and of its dependencies' keys (Merkle style),
so changing one budget or one option re-runs only the stages downstream of it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from chasing_random.config import (BenchmarkConfig, ExperimentConfig, GenerationConfig, JudgeConfig, PoolConfig,
                                  StrategyConfig, TrainingConfig)
from chasing_random.data.pool import looks_like_hub_id
from chasing_random.errors import ChaseError
from chasing_random.pipeline.estimate import Estimator
from chasing_random.store import ArtifactStore, file_fingerprint, fingerprint

STAGE_CODE_VERSION = "1"
BASE_MODEL_STRATEGIES = ("rds", "tokenlength")  # strategies that read the base model being fine-tuned
DONE_MARKER = "stage.json"


@dataclass(frozen=True)
class Arm:
    """Which selection, and which fine-tuned model, a stage belongs to. ``strategy`` is the registry name
    (what runs), ``label`` the name in reports (``StrategyConfig.label``, e.g. two RDS+ variants); a label is
    never parsed back into a strategy. ``budget`` is None for the selection itself and for the full pool."""

    pool: str
    strategy: str
    label: str
    seed: int | None
    budget: int | None = None

    def tag(self) -> str:
        """``pool/label/budget[/seedN]``: how stage names show the arm."""
        seed = f"/seed{self.seed}" if self.seed is not None else ""
        return f"{self.pool}/{self.label}/{self.budget or 'full'}{seed}"

    def model_json(self) -> dict[str, Any]:
        """How ``stage.json`` of a stage about this arm's model names it: its key ``strategy`` holds the
        *label* (the format stores were written in; typed code reads ``label`` and ``strategy``)."""
        return {"pool": self.pool, "strategy": self.label, "budget": self.budget, "seed": self.seed}


# Typed parameters of each kind of stage, built once by ``expand`` and read by attribute. ``to_json`` is
# the ``params`` of the stage's ``stage.json``, key for key and in order as stores have always held them.

@dataclass(frozen=True)
class PoolParams:
    """A pool stage: the pool's config (for strictrandom's whole source, the derived pool's)."""

    pool: PoolConfig

    def to_json(self) -> dict[str, Any]:
        return {"pool": self.pool.model_dump()}


@dataclass(frozen=True)
class SelectionParams:
    """A selection stage: the strategy's options (with the base model for strategies that read it), every
    budget's subset it writes, and the experiment's judge (the default of judge-based strategies)."""

    arm: Arm
    options: dict[str, Any]
    budgets: tuple[int, ...]
    judge: JudgeConfig

    def to_json(self) -> dict[str, Any]:
        arm = self.arm
        return {"pool": arm.pool, "strategy": arm.strategy, "label": arm.label, "seed": arm.seed,
                "options": dict(self.options), "budgets": list(self.budgets), "judge": self.judge.model_dump()}


@dataclass(frozen=True)
class TrainingParams:
    """A training stage: one budget's subset of the arm's selection, fine-tuned as configured."""

    arm: Arm
    training: TrainingConfig

    def to_json(self) -> dict[str, Any]:
        return {**self.arm.model_json(), "training": self.training.model_dump()}


@dataclass(frozen=True)
class GenerationParams:
    """A generation stage: the arm's model on one benchmark's prompts."""

    arm: Arm
    benchmark: BenchmarkConfig
    generation: GenerationConfig

    def to_json(self) -> dict[str, Any]:
        return {**self.arm.model_json(), "benchmark": self.benchmark.model_dump(),
                "generation": self.generation.model_dump()}


@dataclass(frozen=True)
class EvaluationParams:
    """An evaluation stage: the benchmark's metric of the arm's model. ``generation`` is set when the
    benchmark scores generated outputs, ``judge`` when it needs a judge, ``setting_budget`` (the budget of
    the random references) when it is judged pairwise."""

    arm: Arm
    benchmark: BenchmarkConfig
    generation: GenerationConfig | None = None
    judge: JudgeConfig | None = None
    setting_budget: int | None = None

    def to_json(self) -> dict[str, Any]:
        out = {**self.arm.model_json(), "benchmark": self.benchmark.model_dump()}
        if self.generation is not None:
            out["generation"] = self.generation.model_dump()
        if self.setting_budget is not None:
            out["setting_budget"] = self.setting_budget
        if self.judge is not None:
            out["judge"] = self.judge.model_dump()
        return out


StageParams = Union[PoolParams, SelectionParams, TrainingParams, GenerationParams, EvaluationParams]


@dataclass
class Stage:
    """One unit of work of a run: its identity, its typed parameters, what it needs, where its outputs go."""

    kind: str
    name: str
    key: str
    params: StageParams
    deps: list["Stage"] = field(default_factory=list)
    estimate_device_hours: float = 0.0

    @property
    def arm(self) -> Arm | None:
        """The selection or model the stage is about (None for pools)."""
        return getattr(self.params, "arm", None)

    def folder(self, store: ArtifactStore) -> Path:
        return store.path(self.kind, self.key)

    def done(self, store: ArtifactStore) -> bool:
        return (self.folder(store) / DONE_MARKER).exists()

    def record(self, store: ArtifactStore) -> dict:
        """The done record the stage wrote when it finished (params, outputs, wall time)."""
        return json.loads((self.folder(store) / DONE_MARKER).read_text(encoding="utf-8"))

    def outputs(self, store: ArtifactStore) -> dict:
        """What the stage produced (paths, metrics, cost)."""
        return self.record(store)["outputs"]


@dataclass
class Plan:
    """All stages of a run in an order where dependencies come first."""

    config: ExperimentConfig
    stages: list[Stage]

    def of_kind(self, kind: str) -> list[Stage]:
        return [s for s in self.stages if s.kind == kind]


def _pool_fingerprint(pool: PoolConfig) -> str:
    config = pool.model_dump()
    for name, default in (("mixture", None), ("decontaminate", []), ("exclude_contaminated", False)):
        if config.get(name) == default:  # keys of pools that do not use these options stay what they were
            del config[name]
    source = {"config": config}
    path = Path(pool.path) if pool.path else None
    if path is not None and path.is_file():
        source["sha256_16"] = file_fingerprint(path)
    elif path is not None and path.is_dir():  # a FLAN collection folder: names, sizes and times of its files
        source["files"] = [[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns]
                           for p in sorted(path.rglob("*")) if p.is_file()]
    if pool.mixture is not None and pool.mixture.weights and Path(pool.mixture.weights).is_file():
        source["weights_sha256_16"] = file_fingerprint(pool.mixture.weights)
    return fingerprint(source)


def random_strategies(config: ExperimentConfig) -> list[tuple[StrategyConfig, list[int]]]:
    """The strategies with their trial seeds: random and strictrandom seeds, then the configured ones."""
    plan = [(StrategyConfig(name="random"), config.seeds.random)]
    if config.seeds.strictrandom:
        plan.append((StrategyConfig(name="strictrandom"), config.seeds.strictrandom))
    return plan


def _check_model(name: str, where: str) -> None:
    """A model name must be a packaged alias, an existing folder or an ``owner/name`` hub id."""
    from chasing_random.models.loading import EMBEDDER_ALIASES, MODEL_ALIASES

    if name in MODEL_ALIASES + EMBEDDER_ALIASES or Path(name).expanduser().is_dir():
        return
    if name.count("/") == 1 and not name.startswith((".", "/", "~")) and all(name.split("/")):
        return
    raise ChaseError(f"{where}: unknown model '{name}'; expected an alias ({', '.join(MODEL_ALIASES + EMBEDDER_ALIASES)}), "
                     "an existing folder, or an owner/name hub id")


def _check_judge(spec: str, where: str) -> None:
    from chasing_random.judges.factory import BACKENDS

    backend, sep, name = spec.partition(":")
    if not sep or backend not in BACKENDS:  # a bare model name means a local judge (judge_for_selection)
        backend, name = "local", spec
    if not name:
        raise ChaseError(f"{where}: judge spec '{spec}': expected local:NAME or openai:MODEL")
    if backend == "local":
        _check_model(name, where)


def _check_source(path: str, where: str) -> None:
    if Path(path).exists() or looks_like_hub_id(path):
        return
    raise ChaseError(f"{where}: '{path}': no such file (and not a hub id of the form owner/name)")


def check_names(config: ExperimentConfig) -> None:
    """Resolve every name of the grid (sources, pool files, strategies, templates, presets, models,
    judges) before anything runs, so a typo fails the dry run instead of the stage that reaches it."""
    from chasing_random.data.sources import get_adapter
    from chasing_random.data.templates import get_template
    from chasing_random.selection.base import get_strategy
    from chasing_random.training.presets import get_preset

    def located(where: str, check, *args) -> None:
        try:
            check(*args)
        except ChaseError as exc:
            message = str(exc)
            raise ChaseError(message if message.startswith(where) else f"{where}: {message}") from None

    for i, pool in enumerate(config.pools):
        if pool.source != "synth":
            if pool.source != "flan-mixture":  # the mixture builder reads the FLAN collection layout itself
                located(f"pools[{i}].source", get_adapter, pool.source)
            _check_source(pool.path, f"pools[{i}].path")
        if pool.mixture is not None and pool.mixture.weights:
            _check_source(pool.mixture.weights, f"pools[{i}].mixture.weights")
        if pool.whole_source:
            _check_source(pool.whole_source, f"pools[{i}].whole_source")
    for i, strategy in enumerate(config.strategies):
        where = f"strategies[{i}]"
        located(f"{where}.name", get_strategy, strategy.name)
        options = strategy.options
        if options.get("template"):
            located(f"{where}.options.template", get_template, options["template"])
        if options.get("preset"):
            located(f"{where}.options.preset", get_preset, options["preset"])
        for key in ("model", "embedder", "tokenizer"):
            if options.get(key):
                _check_model(str(options[key]), f"{where}.options.{key}")
        for key in ("judge", "complexity_scorer", "quality_scorer"):
            if options.get(key):
                _check_judge(str(options[key]), f"{where}.options.{key}")
    recipe = get_preset(config.training.preset, config.training.overrides)
    located("training.overrides.template", get_template, recipe.template)
    _check_model(config.training.base_model, "training.base_model")
    _check_judge(config.judge.spec, "judge.spec")
    for i, bench in enumerate(config.benchmarks):
        if bench.judge is not None:
            _check_judge(bench.judge.spec, f"benchmarks[{i}].judge.spec")


def expand(config: ExperimentConfig) -> Plan:
    """The whole grid as stages: pool -> selection -> training -> generation -> evaluation."""
    check_names(config)
    est = Estimator(config)
    stages: list[Stage] = []
    training_cfg = config.training.model_dump()
    generation_cfg = config.generation.model_dump()
    for pool in config.pools:
        pool_stage = Stage("pool", f"pool {pool.name}", fingerprint("pool", STAGE_CODE_VERSION, _pool_fingerprint(pool)),
                           PoolParams(pool), estimate_device_hours=est.pool(pool))
        stages.append(pool_stage)
        whole_source_stage = None
        if pool.whole_source:
            whole = pool.model_copy(update={"name": f"{pool.name}-source", "path": pool.whole_source,
                                            "limit": None, "whole_source": None})
            whole_source_stage = Stage("pool", f"pool {whole.name}",
                                       fingerprint("pool", STAGE_CODE_VERSION, _pool_fingerprint(whole)),
                                       PoolParams(whole), estimate_device_hours=est.pool(whole))
            stages.append(whole_source_stage)
        # model stages per (strategy, seed, budget), remembered to wire pairwise references
        models: dict[Arm, Stage] = {}
        strategies = random_strategies(config) + [(s, [None]) for s in config.strategies]
        for strategy, seeds in strategies:
            label = strategy.display
            budgets = [None] if strategy.name == "full" else config.budgets
            for seed in seeds:
                arm = Arm(pool.name, strategy.name, label, seed)
                options = dict(strategy.options)
                if strategy.name in BASE_MODEL_STRATEGIES and not options.get("tokenizer"):
                    options.setdefault("model", config.training.base_model)  # in the key: a new base model re-selects
                deps = [pool_stage]
                if strategy.name == "strictrandom" and whole_source_stage is not None:
                    deps.append(whole_source_stage)
                sel = Stage("selection", f"select {pool.name}/{label}" + (f"/seed{seed}" if seed is not None else ""),
                            fingerprint("selection", STAGE_CODE_VERSION, pool_stage.key, strategy.name, options,
                                        config.budgets, seed, config.judge.model_dump()),
                            SelectionParams(arm, options, tuple(config.budgets), config.judge),
                            deps=deps, estimate_device_hours=est.selection(strategy, pool))
                stages.append(sel)
                for budget in budgets:
                    rows = budget or est.pool_rows(pool)
                    model = dataclasses.replace(arm, budget=budget)
                    train = Stage("training", f"train {model.tag()}",
                                  fingerprint("training", STAGE_CODE_VERSION, sel.key, budget, training_cfg),
                                  TrainingParams(model, config.training),
                                  deps=[sel], estimate_device_hours=est.training(rows, pool))
                    stages.append(train)
                    models[model] = train
        stages.extend(_benchmark_stages(config, models, generation_cfg, est))
    return Plan(config, stages)


def _benchmark_stages(config: ExperimentConfig, models: dict[Arm, Stage], generation_cfg: dict,
                      est: Estimator) -> list[Stage]:
    """Generation and evaluation stages of every model on every benchmark of the config (from the registry:
    whether it generates, and whether it is judged pairwise against the random models)."""
    stages: list[Stage] = []
    for bench in config.benchmarks:
        spec = bench.spec
        bench_key = bench.fingerprint_view()
        generations: dict[Arm, Stage] = {}
        for arm, train in models.items():
            if not spec.generates:
                stages.append(Stage("evaluation", f"{bench.name} {arm.tag()}",
                                    fingerprint("evaluation", STAGE_CODE_VERSION, train.key, bench_key),
                                    EvaluationParams(arm, bench),
                                    deps=[train], estimate_device_hours=est.evaluation(bench)))
                continue
            gen = Stage("generation", f"generate {bench.name} {arm.tag()}",
                        fingerprint("generation", STAGE_CODE_VERSION, train.key, bench_key, generation_cfg),
                        GenerationParams(arm, bench, config.generation),
                        deps=[train], estimate_device_hours=est.generation(bench))
            stages.append(gen)
            generations[arm] = gen
        judge = bench.judge or config.judge
        judge_cfg = judge.model_dump()
        for arm, gen in generations.items():
            if not spec.pairwise:
                stages.append(Stage("evaluation", f"evaluate {bench.name} {arm.tag()}",
                                    fingerprint("evaluation", STAGE_CODE_VERSION, gen.key,
                                                *([judge_cfg] if spec.needs_judge else [])),  # a new judge re-judges
                                    EvaluationParams(arm, bench, config.generation,
                                                     judge=judge if spec.needs_judge else None),
                                    deps=[gen], estimate_device_hours=est.evaluation(bench)))
                continue
            for ref_budget in ([arm.budget] if arm.budget is not None else config.budgets):
                refs = [g for ref, g in generations.items()  # the random trials, by registry name (never by label)
                        if ref.strategy == "random" and ref.budget == ref_budget and ref != arm]
                if not refs:
                    continue
                stages.append(Stage("evaluation", f"pairwise {arm.tag()} vs random/{ref_budget}",
                                    fingerprint("evaluation", STAGE_CODE_VERSION, gen.key, [r.key for r in refs],
                                                judge_cfg),
                                    EvaluationParams(arm, bench, config.generation, judge=judge,
                                                     setting_budget=ref_budget),
                                    deps=[gen, *refs], estimate_device_hours=est.evaluation(bench)))
    return stages
