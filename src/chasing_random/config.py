"""Experiment files: a pydantic schema for the grid, loaded from YAML with line-aware errors.

An unknown or invalid key is an error that names the key, its path and its line in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, NonNegativeInt, ValidationError, field_validator, model_validator

from chasing_random.benchmarks import BENCHMARKS, BenchmarkSpec
from chasing_random.errors import ChaseError
from chasing_random.prices import PricesConfig
from chasing_random.schema import BenchmarkEntry, JudgeConfig, Strict
from chasing_random.selection.base import validate_options
from chasing_random.store import note_input

DEFAULT_RANDOM_SEEDS = [0, 1, 2]


class MixtureConfig(Strict):
    """``source: flan-mixture`` only: how the per-task FLAN subsample is drawn (defaults: the study's)."""

    per_task: int = Field(default=1000, ge=0)
    weights: str | None = Field(default=None, description="JSON/YAML file of task -> cap or share of total")
    total: int | None = Field(default=None, gt=0)
    template_types: list[str] = Field(default_factory=lambda: ["zs_opt"])
    exclude_t0: bool = True
    rows: Literal["random", "first"] = "random"


class PoolConfig(Strict):
    """One pool: a source read from a file or hub id, or the built-in audit pool (``source: synth``)."""

    name: str
    source: str
    path: str | None = None
    limit: int | None = Field(default=None, gt=0)
    seed: int = Field(default=0, ge=0)
    join: Literal["blank-line", "paper"] = "blank-line"
    split: str = "train"
    on_error: Literal["fail", "skip"] = "skip"
    input_field: str = "input"
    target_field: str = "target"
    context_field: str | None = None
    corrupt: float = Field(default=0.3, ge=0.0, lt=1.0, description="synth only: corrupted fraction")
    n: int | None = Field(default=None, gt=0, description="synth only: rows to generate")
    whole_source: str | None = Field(default=None, description="strictrandom (b): pool drawn from instead")
    expected_rows: int | None = Field(default=None, gt=0, description="rows, for --dry-run estimates before the build")
    mixture: MixtureConfig | None = Field(default=None, description="flan-mixture only: caps, weights, templates")
    decontaminate: list[str] = Field(default_factory=list, description="benchmarks whose prompts are searched in "
                                     "the pool (13-gram overlap); every selection reports the rows it took")
    exclude_contaminated: bool = Field(default=False, description="with decontaminate: drop those rows from selection")

    @model_validator(mode="after")
    def _needs_input(self):
        if self.source == "synth":
            if self.n is None:
                raise ValueError("a synth pool needs n (rows to generate)")
        elif not self.path:
            raise ValueError(f"pool '{self.name}' needs path (a file or hub id)")
        return self


class StrategyConfig(Strict):
    """A strategy and its options (the fields of ``SelectOptions``)."""

    name: str
    label: str | None = Field(default=None, description="name in reports, when one strategy runs twice")
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _known_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        return validate_options(options)

    @property
    def display(self) -> str:
        return self.label or self.name


class SeedsConfig(Strict):
    random: list[NonNegativeInt] = Field(default_factory=lambda: list(DEFAULT_RANDOM_SEEDS), min_length=1)
    strictrandom: list[NonNegativeInt] = Field(default_factory=list)


class TrainingConfig(Strict):
    base_model: str
    preset: str = "cpu-lora"
    overrides: dict[str, Any] = Field(default_factory=dict)
    seed: int = Field(default=0, ge=0)
    model_params: float | None = Field(default=None, description="parameters of the base model, for estimates")


class GenerationConfig(Strict):
    max_new_tokens: int | None = None
    batch_size: int | None = None
    sampling: Literal["greedy", "paper"] = "greedy"
    backend: Literal["hf", "vllm"] = "hf"


class BenchmarkConfig(BenchmarkEntry):
    """A benchmark of the registry (``chasing_random.benchmarks``): its entry, checked against its spec."""

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in BENCHMARKS:
            raise ValueError(f"unknown benchmark '{name}'; valid: {', '.join(BENCHMARKS)}")
        return name

    @model_validator(mode="after")
    def _spec_checks(self):
        spec = BENCHMARKS[self.name]
        if spec.validate is not None:
            spec.validate(self)
        return self

    @property
    def spec(self) -> BenchmarkSpec:
        """This benchmark's registry entry."""
        return BENCHMARKS[self.name]


RESOURCE_KINDS = ("pool", "selection", "training", "generation", "evaluation", "scoring", "embedding", "judging")
# Kinds that hold a model on their device: on a GPU run each worker of these takes one GPU by default.
MODEL_KINDS = ("training", "generation", "evaluation", "scoring", "embedding", "judging")


class ResourceConfig(Strict):
    """What one worker of a stage kind (or of a table's shards) asks a Ray cluster for, and how many run."""

    num_cpus: float | None = Field(default=None, ge=0, description="CPUs per worker (default 1)")
    num_gpus: float | None = Field(default=None, ge=0, description="GPUs per worker (default 1 for model work on GPU)")
    concurrency: int | None = Field(default=None, gt=0, description="workers at once (default: as many as fit)")


class GenerationResourceConfig(ResourceConfig):
    """A generation shard worker's resources, and how many prompts a shard holds."""

    shard_rows: int | None = Field(default=None, gt=0, description="prompts per generation shard, rounded up to "
                                                                   "whole batches (default 256)")


class ResourcesConfig(Strict):
    """Resources per stage kind (``pool`` ... ``evaluation``) and per sharded table kind (``scoring`` =
    loss tables, ``embedding``, ``judging``), plus how often a failed shard or stage is retried.
    ``generation`` describes its shard workers (a generation stage's prompts run in shards)."""

    pool: ResourceConfig = Field(default_factory=ResourceConfig)
    selection: ResourceConfig = Field(default_factory=ResourceConfig)
    training: ResourceConfig = Field(default_factory=ResourceConfig)
    generation: GenerationResourceConfig = Field(default_factory=GenerationResourceConfig)
    evaluation: ResourceConfig = Field(default_factory=ResourceConfig)
    scoring: ResourceConfig = Field(default_factory=ResourceConfig)
    embedding: ResourceConfig = Field(default_factory=ResourceConfig)
    judging: ResourceConfig = Field(default_factory=ResourceConfig)
    retries: int = Field(default=2, ge=0, description="extra attempts of a failed shard or stage")

    def placement(self, device: str) -> dict[str, dict]:
        """Every kind's worker shape with defaults filled in: one model per GPU on a GPU run.

        ``selection`` asks for no GPU by default: its model work runs in its tables' shard workers.
        """
        gpu = device != "cpu"
        out = {}
        for kind in RESOURCE_KINDS:
            given: ResourceConfig = getattr(self, kind)
            default_gpus = 1.0 if gpu and kind in MODEL_KINDS else 0.0
            out[kind] = {"num_cpus": 1.0 if given.num_cpus is None else given.num_cpus,
                         "num_gpus": default_gpus if given.num_gpus is None else given.num_gpus,
                         "concurrency": given.concurrency}
        return out


class ExperimentConfig(Strict):
    """A whole grid: pools x budgets x strategies x seeds x benchmarks."""

    name: str
    run_dir: str | None = None
    store: str | None = None
    device: str = "cpu"
    pools: list[PoolConfig] = Field(min_length=1)
    budgets: list[int] = Field(min_length=1)
    strategies: list[StrategyConfig] = Field(default_factory=list)
    seeds: SeedsConfig = Field(default_factory=SeedsConfig)
    training: TrainingConfig
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    benchmarks: list[BenchmarkConfig] = Field(min_length=1)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    prices: PricesConfig = Field(default_factory=PricesConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)

    @field_validator("budgets")
    @classmethod
    def _positive(cls, budgets: list[int]) -> list[int]:
        if any(b <= 0 for b in budgets):
            raise ValueError("budgets must be positive")
        return sorted(set(budgets))

    @model_validator(mode="after")
    def _unique_names(self):
        names = [p.name for p in self.pools]
        if len(names) != len(set(names)):
            raise ValueError(f"pool names must be unique: {names}")
        labels = [s.display for s in self.strategies]
        if len(labels) != len(set(labels)):
            raise ValueError(f"strategy labels must be unique (set label:): {labels}")
        return self


def _line_index(node, path=(), index=None) -> dict[tuple, int]:
    """Map every key path of a YAML node tree to its 1-based line."""
    index = {} if index is None else index
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = path + (key_node.value,)
            index[key_path] = key_node.start_mark.line + 1
            _line_index(value_node, key_path, index)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            index[path + (position,)] = item.start_mark.line + 1
            _line_index(item, path + (position,), index)
    return index


def _duplicate_key(node, path=()) -> tuple[str, int, int] | None:
    """The first key that a YAML mapping holds twice, with both lines (YAML would keep the last silently)."""
    stack = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in current.value:
                key = str(key_node.value)
                if key in seen and key != "<<":
                    return ".".join(map(str, where + (key,))), seen[key], key_node.start_mark.line + 1
                seen[key] = key_node.start_mark.line + 1
                stack.append((value_node, where + (key,)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, where + (position,)) for position, item in enumerate(current.value))
    return None


def _locate(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if tuple(loc[:end]) in lines:
            return lines[tuple(loc[:end])]
    return None


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML file; errors name the key and its line."""
    path = Path(path)
    if not path.exists():
        raise ChaseError(f"{path}: experiment file not found")
    if path.is_dir():
        raise ChaseError(f"{path}: is a folder; give an experiment YAML file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ChaseError(f"{path}: not UTF-8 text (byte {exc.start}); an experiment file is YAML") from None
    except OSError as exc:
        raise ChaseError(f"{path}: cannot be read: {exc.strerror}") from None
    note_input(path)
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ChaseError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except RecursionError:
        raise ChaseError(f"{path}: YAML nested too deeply to be an experiment file") from None
    duplicate = _duplicate_key(node)
    if duplicate is not None:
        key, first, second = duplicate
        raise ChaseError(f"{path}:{second}: duplicate key '{key}' (first at line {first}); YAML would silently keep "
                         "only the last one, merge the two")
    if not isinstance(data, dict):
        raise ChaseError(f"{path}: an experiment file is a mapping of keys (name, pools, budgets, ...)")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        lines = _line_index(node)
        messages = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _locate(loc, lines)
            key = ".".join(str(part) for part in loc) or "<top>"
            what = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            messages.append(f"{path}:{line or '?'}: {key}: {what}")
        raise ChaseError("invalid experiment file:\n  " + "\n  ".join(messages)) from None
