"""``--dry-run`` cost estimates of each stage: a fixed per-stage overhead plus FLOPs = 2 (inference)
or 2-6 (training) x parameters x tokens, over the device's sustained FLOP/s. Prompt counts and evaluation sizes come from the
benchmark registry; judge sizes from the judge spec (an API judge is paid in tokens, not device time).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chasing_random.config import BenchmarkConfig, ExperimentConfig, PoolConfig, StrategyConfig
from chasing_random.judges.factory import JudgeSpec


class Estimator:
    """Rough device-hour estimates for ``--dry-run``: a fixed per-stage overhead (imports aside: model
    loading, trainer setup, saving) plus FLOPs = 2 (inference) or 2-6 (training, by how much of the
    network backward reaches) x params x tokens. ``tests/test_hardening_faults.py`` checks it within 3x
    of the measured stage wall times of a tiny grid."""

    TOKENS_PER_ROW = 300
    SYNTH_TOKENS_PER_ROW = 40  # the audit pool's rows: 37.5 SmolLM2 tokens on average (2000 rows, seed 0)
    JUDGE_OVERHEAD_TOKENS = 150
    OVERHEAD_S = {"pool": 0.5, "selection": 0.3, "model_selection": 5.0, "training": 7.0, "generation": 2.0,
                  "evaluation": 0.1, "judge_evaluation": 2.0}

    def __init__(self, config: ExperimentConfig):
        self.config = config
        self.flops = config.prices.device_flops.get(config.device, config.prices.device_flops.get("cpu", 5e10))
        self.base_params = config.training.model_params or model_params(config.training.base_model)

    def hours(self, flops: float, overhead: str | None = None) -> float:
        return (flops / self.flops + (self.OVERHEAD_S[overhead] if overhead else 0.0)) / 3600

    def pool_rows(self, pool: PoolConfig) -> int:
        return pool.n or pool.limit or pool.expected_rows or 10_000

    def tokens_per_row(self, pool: PoolConfig) -> int:
        return self.SYNTH_TOKENS_PER_ROW if pool.source == "synth" else self.TOKENS_PER_ROW

    def pool(self, pool: PoolConfig) -> float:
        return self.hours(0.0, "pool")

    def selection(self, strategy: StrategyConfig, pool: PoolConfig) -> float:
        rows = self.pool_rows(pool)
        tokens = self.tokens_per_row(pool)
        name = strategy.name
        limit = strategy.options.get("score_limit") or rows
        if name in ("superfilter", "cherry"):
            scorer = strategy.options.get("model") or self.config.training.base_model
            hours = self.hours(2 * model_params(scorer) * min(rows, limit) * tokens * 1.5, "model_selection")
            if name == "cherry" and not strategy.options.get("skip_pre_experience"):
                sample = strategy.options.get("clusters", 100) * strategy.options.get("per_cluster", 10)
                hours += self.hours(2 * self.base_params * rows * tokens / 3)  # embeddings+perplexity
                hours += self.training(sample, pool)
            return hours
        if name == "rds":  # one forward of the base model over the pool (and the queries)
            scorer = strategy.options.get("model") or self.config.training.base_model
            return self.hours(2 * model_params(scorer) * rows * tokens, "model_selection")
        if name in ("alpagasus", "deita", "askllm"):
            judge = JudgeSpec.parse(strategy.options.get("judge") or self.config.judge.spec)
            rows = min(rows, limit)
            passes = 2 if name == "deita" and strategy.options.get("score", "quality") == "evol" else 1
            if judge.is_api:
                return self.hours(0.0, "selection")  # paid in API tokens, see the prices section
            return passes * self.hours(2 * model_params(judge.model) * rows *
                                       (tokens + self.JUDGE_OVERHEAD_TOKENS), "model_selection")
        return self.hours(0.0, "selection")

    def training(self, rows: int, pool: PoolConfig) -> float:
        """Tokens trained (capped by max_length and max_steps) x params x 6 for full fine-tuning, or 2 + 2 x
        the share of layers LoRA adapts (backward stops at the lowest adapted layer; no weight gradients)."""
        from chasing_random.training.presets import get_preset

        recipe = get_preset(self.config.training.preset, self.config.training.overrides)
        tokens = min(self.tokens_per_row(pool), recipe.max_length)
        examples = rows * recipe.epochs
        if recipe.max_steps and recipe.max_steps > 0:
            examples = min(examples, recipe.max_steps * recipe.effective_batch)
        factor = 6.0
        if recipe.lora:
            layers = model_layers(self.config.training.base_model)
            share = min(1.0, recipe.lora_layers / layers) if recipe.lora_layers and layers else 1.0
            factor = 2.0 + 2.0 * share
        return self.hours(factor * self.base_params * examples * tokens, "training")

    def generation(self, bench: BenchmarkConfig) -> float:
        new_tokens = bench.max_new_tokens or bench.spec.max_new_tokens or self.config.generation.max_new_tokens or 256
        return self.hours(2 * self.base_params * bench.spec.prompt_count(bench) * (100 + new_tokens), "generation")

    def evaluation(self, bench: BenchmarkConfig) -> float:
        spec, prompts = bench.spec, bench.spec.prompt_count(bench)
        if spec.needs_judge:
            judge = (bench.judge or self.config.judge).parsed()
            if judge.is_api:
                return self.hours(0.0, "evaluation")  # paid in API tokens
            return self.hours(2 * model_params(judge.model) * prompts * spec.eval_tokens_per_prompt
                              * (2 if bench.judged_in_both_orders(judge) else 1), "judge_evaluation")
        if not spec.generates:  # the benchmark runs the trained model itself
            return self.hours(2 * self.base_params * prompts * spec.eval_tokens_per_prompt, "generation")
        return self.hours(0.0, "evaluation")


def model_layers(name: str) -> int | None:
    """Transformer layers of a model from its config (offline when local), or None when unknown."""
    if name == "smollm2-135m-instruct":
        return 30
    config_file = Path(name).expanduser() / "config.json"
    if config_file.exists():
        return json.loads(config_file.read_text()).get("num_hidden_layers")
    return None


def model_params(name: str) -> float:
    """Parameter count of a model from its config (offline when it is local), else a guess from its name."""
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
