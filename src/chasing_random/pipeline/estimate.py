"""``--dry-run`` cost estimates of each stage: FLOPs = 2 (inference) or 6 (training) x parameters x
tokens, over the device's sustained FLOP/s. Prompt counts and evaluation sizes come from the
benchmark registry; judge sizes from the judge spec (an API judge is paid in tokens, not device time).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chasing_random.config import BenchmarkConfig, ExperimentConfig, PoolConfig, StrategyConfig
from chasing_random.judges.factory import JudgeSpec


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
        if name in ("alpagasus", "deita"):
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
