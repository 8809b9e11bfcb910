"""The results contract: the rows the runner writes into ``RUN_DIR/results/*.jsonl`` and the report reads.

``EvaluationRow`` (one model's metric on one benchmark), ``CostRow`` (what one stage spent) and
``SubsetRow`` (where a selected subset lives) are the only way to write or read those files, so the
writer and the reader cannot drift apart. ``Spend`` is the one cost type every spending stage
makes: device-hours on a device, plus API tokens per model split into input and output, because
providers price the two directions differently. docs/analysis.md documents the files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Iterable, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chasing_random.benchmarks import UNITS, metric_of
from chasing_random.errors import ChaseError
from chasing_random.prices import PricesConfig as Prices
from chasing_random.store import jsonl_lines, note_input, write_text_atomic

RANDOM = "random"
FULL = "full"
RESULT_FILES = {"evaluations": "evaluations.jsonl", "costs": "costs.jsonl", "subsets": "subsets.jsonl"}
REGENERATE = ("regenerate it with the current version: `chase run CONFIG` (finished stages are reused from the "
              "store; only results/ is written again)")
# Stages that spend: selection scoring, judge tables, training, generation, evaluation (pairwise and
# other judge-based evaluation). The report counts the first two as the cost of selecting.
CostStage = Literal["selection", "judge", "training", "generation", "evaluation"]
SELECTION_STAGES = ("selection", "judge")


class TokenCount(BaseModel):
    """API tokens of one model: ``input`` (prompt) and ``output`` (completion)."""

    model_config = ConfigDict(extra="forbid")

    input: int = Field(0, ge=0)
    output: int = Field(0, ge=0)

    @property
    def total(self) -> int:
        return self.input + self.output


def _check_api_tokens(value):
    """Reject the shapes older versions wrote, with the way to regenerate them."""
    if isinstance(value, dict):
        if set(value) & {"prompt", "completion"} and all(isinstance(v, int) for v in value.values()):
            raise ValueError("{prompt, completion} counts without the API model's name (written by an older "
                             f"version); {REGENERATE}")
        for model, count in value.items():
            if isinstance(count, (int, float)):
                raise ValueError(f"'{model}': a bare token count without the input/output split (written by an "
                                 f"older version); write {{\"input\": N, \"output\": M}} or {REGENERATE}")
    return value


class Spend(BaseModel):
    """What a stage spent: device-hours on a device, and API tokens per model and direction."""

    model_config = ConfigDict(extra="ignore")

    device: str = "cpu"
    device_hours: float = Field(0.0, ge=0)
    api_tokens: dict[str, TokenCount] = Field(default_factory=dict)

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _no_legacy_tokens(cls, value):
        return _check_api_tokens(value)

    def plus(self, other: "Spend") -> "Spend":
        """Both spends together (the device of the one that used device time, else this one's)."""
        tokens = {m: TokenCount(input=c.input, output=c.output) for m, c in self.api_tokens.items()}
        for model, count in other.api_tokens.items():
            mine = tokens.setdefault(model, TokenCount())
            tokens[model] = TokenCount(input=mine.input + count.input, output=mine.output + count.output)
        device = other.device if other.device_hours and not self.device_hours else self.device
        return Spend(device=device, device_hours=self.device_hours + other.device_hours, api_tokens=tokens)

    @property
    def total_tokens(self) -> int:
        return sum(count.total for count in self.api_tokens.values())

    def record(self) -> dict:
        """The JSON form stored in stage records and selection manifests."""
        return self.model_dump()


def api_spend(model: str, input_tokens: int, output_tokens: int, device: str = "cpu") -> Spend:
    """The spend of API calls to one model (no device time)."""
    return Spend(device=device, api_tokens={model: TokenCount(input=int(input_tokens), output=int(output_tokens))}
                 if input_tokens or output_tokens else {})


class EvaluationRow(BaseModel):
    """One evaluated model on one benchmark metric. ``unit`` and ``higher_is_better`` come from the
    benchmark registry (``chasing_random.benchmarks``): nothing guesses them from magnitudes."""

    model_config = ConfigDict(extra="ignore")

    pool: str
    budget: Optional[int] = Field(None, description="subset size; null for the whole pool (strategy 'full')")
    strategy: str
    seed: Optional[int] = None
    benchmark: str
    metric: str
    value: float = Field(allow_inf_nan=False, description="in ``unit``: fraction in [0, 1] or percent")
    unit: Optional[str] = Field(None, description="fraction, percent or score (chasing_random.benchmarks.UNITS)")
    higher_is_better: Optional[bool] = None
    per_prompt: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, description="prompt key -> score behind value, as a fraction for percent metrics")
    per_prompt_weight: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="prompt key -> units its score averages over (IFEval instructions); "
                                          "value = sum(w * score) / sum(w); empty = every prompt weighs one")
    reference_value: Optional[float] = Field(None, description="fixed reference, e.g. 50 for win rates "
                                                                "against the random mixture")
    judge_order: Optional[dict[str, Optional[float]]] = Field(None, description="pairwise judge's position bias on "
                                                             "prompts judged in both orders: prompts, flip_rate, "
                                                             "kappa, first_shown_wins")

    @model_validator(mode="after")
    def _unit_from_registry(self):
        """Rows written before units were data get their benchmark's declared unit and direction."""
        if self.unit is None or self.higher_is_better is None:
            metric = metric_of(self.benchmark, self.metric)
            if metric is None:
                raise ValueError(f"no unit for metric '{self.metric}' of benchmark '{self.benchmark}' (not in the "
                                 f"benchmark registry); add \"unit\" and \"higher_is_better\" or {REGENERATE}")
            self.unit = self.unit or metric.unit
            self.higher_is_better = metric.higher_is_better if self.higher_is_better is None else self.higher_is_better
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit '{self.unit}'; valid: {', '.join(UNITS)}")
        if self.per_prompt_weight and set(self.per_prompt_weight) != set(self.per_prompt):
            odd = sorted(set(self.per_prompt_weight) ^ set(self.per_prompt))[0]
            raise ValueError(f"per_prompt_weight and per_prompt must name the same prompts ('{odd}' is in only one)")
        return self


class CostRow(Spend):
    """The measured cost of one stage of one strategy (budget null = shared by every budget)."""

    pool: str
    strategy: str
    budget: Optional[int] = None
    seed: Optional[int] = None
    stage: CostStage
    wall_time_s: float = 0.0
    examples: Optional[int] = Field(None, description="optional: training examples (for extrapolating 'full')")


class SubsetRow(BaseModel):
    """Where a selected subset's ids and its pool live (for corruption rates)."""

    model_config = ConfigDict(extra="ignore")

    pool: str
    strategy: str
    budget: Optional[int] = None
    seed: Optional[int] = None
    ids_path: str
    pool_path: str
    targeted: bool = False  # the strategy looked at evaluation data (RDS+ with benchmark queries)
    contaminated: Optional[int] = None  # rows of the subset flagged by the pool's decontamination, if run


class BenchmarkMargin(BaseModel):
    """A configured benchmark's equivalence margin (value units; None = the metric's default)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    margin: Optional[float] = Field(None, gt=0)


class RunConfig(BaseModel):
    """The part of the experiment config the report needs."""

    model_config = ConfigDict(extra="ignore")

    prices: Prices = Field(default_factory=Prices)
    benchmarks: list[BenchmarkMargin] = Field(default_factory=list)

    def margins(self) -> dict[str, float]:
        """Benchmark name -> margin, for the benchmarks that set one."""
        return {b.name: b.margin for b in self.benchmarks if b.margin is not None}


Row = TypeVar("Row", bound=BaseModel)


def _located(path: Path, line: int, error: ValidationError) -> ChaseError:
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<row>"
    message = first["msg"].removeprefix("Value error, ")
    return ChaseError(f"{path}:{line}: field '{field}': {message}")


def _no_constant(token: str):
    raise ValueError(f"{token} is not a number a results file may hold")


def _finite(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        _no_constant(token)
    return value


def _json(path: Path, number: int, text: str):
    """One JSON value of a results file; NaN and infinities are refused (they would poison every mean)."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ChaseError(f"{path}:{number}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    except ValueError as exc:
        raise ChaseError(f"{path}:{number}: {exc}; write a finite number or leave the row out") from None
    except RecursionError:
        raise ChaseError(f"{path}:{number}: JSON nested too deeply to be a results row") from None


def evaluation_key(row: "EvaluationRow") -> tuple:
    """What identifies an evaluation: its setting (pool, budget, benchmark, metric), strategy and seed."""
    return (row.pool, row.budget, row.benchmark, row.metric, row.strategy, row.seed)


def read_rows(path: Path, model: type[Row], *, required: bool = True, unique=None) -> list[Row]:
    """Validate every line of a JSONL file; the first bad line raises with its file, line and field.

    ``unique(row)`` names what must not repeat: a second row with the same key is an error naming both lines."""
    if path.is_dir():
        raise ChaseError(f"{path}: is a folder; expected a JSONL results file")
    if not path.exists():
        if required:
            raise ChaseError(f"{path}: not found (the runner writes it; is this a run folder?)")
        return []
    try:
        lines = jsonl_lines(path)
    except UnicodeDecodeError as exc:
        raise ChaseError(f"{path}: not UTF-8 text (byte {exc.start}); is this a results file?") from None
    except OSError as exc:
        raise ChaseError(f"{path}: cannot be read: {exc.strerror}") from None
    note_input(path)
    rows, seen = [], {}
    for number, text in lines:
        obj = _json(path, number, text.removeprefix("\ufeff") if number == 1 else text)
        try:
            row = model.model_validate(obj)
        except ValidationError as exc:
            raise _located(path, number, exc) from None
        if unique is not None:
            key = unique(row)
            if key in seen:
                raise ChaseError(f"{path}:{number}: duplicates line {seen[key]}: both are the result of "
                                 f"({', '.join(map(str, key))}) = (pool, budget, benchmark, metric, strategy, seed); "
                                 "keep one of the two rows")
            seen[key] = number
        rows.append(row)
    return rows


def write_rows(path: Path, rows: Iterable[BaseModel]) -> int:
    """Write rows as sorted-key JSON lines, atomically; returns how many."""
    lines = [json.dumps(row.model_dump(mode="json"), sort_keys=True, ensure_ascii=False) + "\n" for row in rows]
    write_text_atomic(path, "".join(lines))
    return len(lines)


def write_results(run_dir: Path, evaluations: list[EvaluationRow], costs: list[CostRow],
                  subsets: list[SubsetRow]) -> dict[str, int]:
    """``RUN_DIR/results/{evaluations,costs,subsets}.jsonl``; returns the row count of each."""
    folder = Path(run_dir) / "results"
    return {name: write_rows(folder / RESULT_FILES[name], rows)
            for name, rows in (("evaluations", evaluations), ("costs", costs), ("subsets", subsets))}


def read_config(run_dir: Path) -> RunConfig:
    """``config.json`` of a run (default prices when absent)."""
    path = run_dir / "config.json"
    if not path.exists():
        return RunConfig()
    try:
        obj = json.loads(path.read_text(encoding="utf-8-sig"), parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ChaseError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, OSError, RecursionError) as exc:
        raise ChaseError(f"{path}: not a readable run config ({exc})") from None
    try:
        return RunConfig.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ChaseError(f"{path}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from None


class RunResults(BaseModel):
    """Everything the report reads from one run folder."""

    run_dir: Path
    evaluations: list[EvaluationRow]
    costs: list[CostRow]
    subsets: list[SubsetRow]
    config: RunConfig

    @classmethod
    def load(cls, run_dir: str | Path) -> "RunResults":
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ChaseError(f"{run_dir}: no such run folder")
        results = run_dir / "results"
        evaluations = read_rows(results / RESULT_FILES["evaluations"], EvaluationRow, unique=evaluation_key)
        if not evaluations:
            raise ChaseError(f"{results / RESULT_FILES['evaluations']}: no evaluations yet")
        return cls(run_dir=run_dir, evaluations=evaluations,
                   costs=read_rows(results / RESULT_FILES["costs"], CostRow, required=False),
                   subsets=read_rows(results / RESULT_FILES["subsets"], SubsetRow, required=False),
                   config=read_config(run_dir))

    def resolve(self, path: str) -> Path:
        """A path from a results file: absolute, or relative to the run folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.run_dir / candidate
