"""Grid expansion: an experiment config becomes a list of stages in dependency order.

Each stage's key is a fingerprint of its config and of its dependencies' keys (Merkle style),
so changing one budget or one option re-runs only the stages downstream of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chasing_random.config import BenchmarkConfig, ExperimentConfig, PoolConfig, StrategyConfig
from chasing_random.judges.factory import JudgeSpec
from chasing_random.store import ArtifactStore, file_fingerprint, fingerprint

STAGE_CODE_VERSION = "1"
BASE_MODEL_STRATEGIES = ("rds", "tokenlength")  # strategies that read the base model being fine-tuned
DONE_MARKER = "stage.json"


@dataclass
class Stage:
    """One unit of work of a run: its identity, what it needs, and where its outputs go."""

    kind: str
    name: str
    key: str
    deps: list["Stage"] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    estimate_device_hours: float = 0.0

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
    source = {"config": pool.model_dump()}
    if pool.path and Path(pool.path).exists():
        source["sha256_16"] = file_fingerprint(pool.path)
    return fingerprint(source)


class Estimator:
    """Rough device-hour estimates for ``--dry-run`` from FLOPs = 2 (inference) or 6 (training) x params x tokens."""

    TOKENS_PER_ROW = 300
    JUDGE_OVERHEAD_TOKENS = 150

    def __init__(self, config: ExperimentConfig):
        self.config = config
        self.flops = config.prices.device_flops.get(config.device, config.prices.device_flops.get("cpu", 5e10))
        self.base_params = config.training.model_params or model_params(config.training.base_model)

    def hours(self, flops: float) -> float:
        return flops / self.flops / 3600

    def pool_rows(self, pool: PoolConfig) -> int:
        return pool.n or pool.limit or pool.expected_rows or 10_000

    def selection(self, strategy: StrategyConfig, pool: PoolConfig) -> float:
        rows = self.pool_rows(pool)
        name = strategy.name
        if name in ("superfilter", "cherry"):
            scorer = strategy.options.get("model") or self.config.training.base_model
            hours = self.hours(2 * model_params(scorer) * rows * self.TOKENS_PER_ROW * 1.5)
            if name == "cherry" and not strategy.options.get("skip_pre_experience"):
                sample = strategy.options.get("clusters", 100) * strategy.options.get("per_cluster", 10)
                hours += self.hours(2 * self.base_params * rows * self.TOKENS_PER_ROW / 3)  # embeddings+perplexity
                hours += self.training(sample)
            return hours
        if name == "rds":  # one forward of the base model over the pool (and the queries)
            scorer = strategy.options.get("model") or self.config.training.base_model
            return self.hours(2 * model_params(scorer) * rows * self.TOKENS_PER_ROW)
        if name in ("alpagasus", "deita", "askllm"):
            judge = JudgeSpec.parse(strategy.options.get("judge") or self.config.judge.spec)
            rows = min(rows, strategy.options.get("score_limit") or rows)
            passes = 2 if name == "deita" and strategy.options.get("score", "quality") == "evol" else 1
            if judge.is_api:
                return 0.0  # paid in API tokens, see the prices section
            return passes * self.hours(2 * model_params(judge.model) * rows *
                                       (self.TOKENS_PER_ROW + self.JUDGE_OVERHEAD_TOKENS))
        return 0.0

    def training(self, rows: int) -> float:
        from chasing_random.training.presets import get_preset

        epochs = get_preset(self.config.training.preset, self.config.training.overrides).epochs
        return self.hours(6 * self.base_params * rows * self.TOKENS_PER_ROW * epochs)

    def generation(self, bench: BenchmarkConfig) -> float:
        new_tokens = bench.max_new_tokens or bench.spec.max_new_tokens or self.config.generation.max_new_tokens or 256
        return self.hours(2 * self.base_params * bench.spec.prompt_count(bench) * (100 + new_tokens))

    def evaluation(self, bench: BenchmarkConfig) -> float:
        spec, prompts = bench.spec, bench.spec.prompt_count(bench)
        if spec.needs_judge:
            judge = (bench.judge or self.config.judge).parsed()
            if judge.is_api:
                return 0.0  # paid in API tokens
            return self.hours(2 * model_params(judge.model) * prompts * spec.eval_tokens_per_prompt
                              * (2 if bench.both_orders else 1))
        if not spec.generates:  # the benchmark runs the trained model itself
            return self.hours(2 * self.base_params * prompts * spec.eval_tokens_per_prompt)
        return 0.0


def model_params(name: str) -> float:
    """Parameter count of a model from its config (offline when it is local), else a guess from its name."""
    import re

    if name in ("smollm2-135m-instruct",):
        return 134.5e6
    path = Path(name).expanduser()
    config_file = path / "config.json"
    if config_file.exists():
        cfg = json.loads(config_file.read_text())
        d, layers = cfg.get("hidden_size", 0), cfg.get("num_hidden_layers", 0)
        inner, vocab = cfg.get("intermediate_size", 4 * d), cfg.get("vocab_size", 0)
        return float(layers * (4 * d * d + 3 * d * inner) + vocab * d)
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bm])\b", name.lower().replace("-", " ").replace("_", " "))
    if match:
        return float(match.group(1)) * (1e9 if match.group(2) == "b" else 1e6)
    return 7e9


def random_strategies(config: ExperimentConfig) -> list[tuple[StrategyConfig, list[int]]]:
    """The strategies with their trial seeds: random and strictrandom seeds, then the configured ones."""
    plan = [(StrategyConfig(name="random"), config.seeds.random)]
    if config.seeds.strictrandom:
        plan.append((StrategyConfig(name="strictrandom"), config.seeds.strictrandom))
    return plan


def expand(config: ExperimentConfig) -> Plan:
    """The whole grid as stages: pool -> selection -> training -> generation -> evaluation."""
    est = Estimator(config)
    stages: list[Stage] = []
    training_cfg = config.training.model_dump()
    generation_cfg = config.generation.model_dump()
    for pool in config.pools:
        pool_stage = Stage("pool", f"pool {pool.name}", fingerprint("pool", STAGE_CODE_VERSION, _pool_fingerprint(pool)),
                           params={"pool": pool.model_dump()})
        stages.append(pool_stage)
        whole_source_stage = None
        if pool.whole_source:
            whole = pool.model_copy(update={"name": f"{pool.name}-source", "path": pool.whole_source,
                                            "limit": None, "whole_source": None})
            whole_source_stage = Stage("pool", f"pool {whole.name}",
                                       fingerprint("pool", STAGE_CODE_VERSION, _pool_fingerprint(whole)),
                                       params={"pool": whole.model_dump()})
            stages.append(whole_source_stage)
        # model stages per (strategy, seed, budget), remembered to wire pairwise references
        models: dict[tuple[str, int | None, int | None], Stage] = {}
        strategies = random_strategies(config) + [(s, [None]) for s in config.strategies]
        for strategy, seeds in strategies:
            label = strategy.display
            budgets = [None] if strategy.name == "full" else config.budgets
            for seed in seeds:
                options = dict(strategy.options)
                if strategy.name in BASE_MODEL_STRATEGIES and not options.get("tokenizer"):
                    options.setdefault("model", config.training.base_model)  # in the key: a new base model re-selects
                deps = [pool_stage]
                if strategy.name == "strictrandom" and whole_source_stage is not None:
                    deps.append(whole_source_stage)
                sel = Stage("selection", f"select {pool.name}/{label}" + (f"/seed{seed}" if seed is not None else ""),
                            fingerprint("selection", STAGE_CODE_VERSION, pool_stage.key, strategy.name, options,
                                        config.budgets, seed, config.judge.model_dump()),
                            deps=deps,
                            params={"pool": pool.name, "strategy": strategy.name, "label": label, "seed": seed,
                                    "options": options, "budgets": config.budgets,
                                    "judge": config.judge.model_dump()},
                            estimate_device_hours=est.selection(strategy, pool))
                stages.append(sel)
                for budget in budgets:
                    rows = budget or est.pool_rows(pool)
                    train = Stage("training", f"train {pool.name}/{label}/{budget or 'full'}"
                                  + (f"/seed{seed}" if seed is not None else ""),
                                  fingerprint("training", STAGE_CODE_VERSION, sel.key, budget, training_cfg),
                                  deps=[sel], params={"pool": pool.name, "strategy": label, "budget": budget,
                                                      "seed": seed, "training": training_cfg},
                                  estimate_device_hours=est.training(rows))
                    stages.append(train)
                    models[(label, seed, budget)] = train
        stages.extend(_benchmark_stages(config, pool.name, models, generation_cfg, est))
    return Plan(config, stages)


def _benchmark_stages(config: ExperimentConfig, pool: str, models: dict, generation_cfg: dict,
                      est: Estimator) -> list[Stage]:
    """Generation and evaluation stages of every model on every benchmark of the config (from the registry:
    whether it generates, and whether it is judged pairwise against the random models)."""
    stages: list[Stage] = []
    for bench in config.benchmarks:
        spec = bench.spec
        bench_key = bench.fingerprint_view()
        common_bench = bench.model_dump()
        generations: dict[tuple, Stage] = {}
        for (label, seed, budget), train in models.items():
            common = {"pool": pool, "strategy": label, "budget": budget, "seed": seed, "benchmark": common_bench}
            tag = f"{pool}/{label}/{budget or 'full'}" + (f"/seed{seed}" if seed is not None else "")
            if not spec.generates:
                stages.append(Stage("evaluation", f"{bench.name} {tag}",
                                    fingerprint("evaluation", STAGE_CODE_VERSION, train.key, bench_key),
                                    deps=[train], params=common, estimate_device_hours=est.evaluation(bench)))
                continue
            gen = Stage("generation", f"generate {bench.name} {tag}",
                        fingerprint("generation", STAGE_CODE_VERSION, train.key, bench_key, generation_cfg),
                        deps=[train], params={**common, "generation": generation_cfg},
                        estimate_device_hours=est.generation(bench))
            stages.append(gen)
            generations[(label, seed, budget)] = gen
        judge_cfg = (bench.judge or config.judge).model_dump()
        for (label, seed, budget), gen in generations.items():
            common = {**gen.params}
            tag = gen.name.split(" ", 2)[2]
            if not spec.pairwise:
                stages.append(Stage("evaluation", f"evaluate {bench.name} {tag}",
                                    fingerprint("evaluation", STAGE_CODE_VERSION, gen.key),
                                    deps=[gen], params={**common, "judge": judge_cfg} if spec.needs_judge else common,
                                    estimate_device_hours=est.evaluation(bench)))
                continue
            for ref_budget in ([budget] if budget is not None else config.budgets):
                refs = [g for (lab, s, b), g in generations.items()
                        if lab == "random" and b == ref_budget and not (label == "random" and s == seed)]
                if not refs:
                    continue
                stages.append(Stage("evaluation", f"pairwise {tag} vs random/{ref_budget}",
                                    fingerprint("evaluation", STAGE_CODE_VERSION, gen.key, [r.key for r in refs],
                                                judge_cfg),
                                    deps=[gen, *refs], params={**common, "setting_budget": ref_budget,
                                                               "judge": judge_cfg},
                                    estimate_device_hours=est.evaluation(bench)))
    return stages
