"""The files the runner writes into RUN_DIR and the report reads: pydantic rows and located loaders.

``results/evaluations.jsonl``, ``results/costs.jsonl``, ``results/subsets.jsonl`` (one JSON object
per line) and ``config.json`` (only its ``prices`` are read). docs/analysis.md documents the contract.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chasing_random.config import PricesConfig as Prices
from chasing_random.errors import ChaseError
from chasing_random.store import jsonl_lines, note_input

RANDOM = "random"
FULL = "full"


class EvaluationRow(BaseModel):
    """One evaluated model on one benchmark metric."""

    model_config = ConfigDict(extra="ignore")

    pool: str
    budget: Optional[int] = Field(None, description="subset size; null for the whole pool (strategy 'full')")
    strategy: str
    seed: Optional[int] = None
    benchmark: str
    metric: str
    value: float = Field(allow_inf_nan=False, description="IFEval accuracy and exact match in [0, 1]; win rates in percent")
    per_prompt: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(default_factory=dict,
                                         description="prompt key -> score behind value (may be empty)")
    reference_value: Optional[float] = Field(None, description="fixed reference, e.g. 50 for win rates "
                                                                "against the random mixture")


class CostRow(BaseModel):
    """The measured cost of one stage (selection scoring, or training) of one strategy."""

    model_config = ConfigDict(extra="ignore")

    pool: str
    strategy: str
    budget: Optional[int] = None
    seed: Optional[int] = None
    stage: Literal["selection", "training"]
    device: str = "cpu"
    device_hours: float = 0.0
    api_tokens: dict[str, int] = Field(default_factory=dict)
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


class RunConfig(BaseModel):
    """The part of the experiment config the report needs."""

    model_config = ConfigDict(extra="ignore")

    prices: Prices = Field(default_factory=Prices)


Row = TypeVar("Row", bound=BaseModel)


def _located(path: Path, line: int, error: ValidationError) -> ChaseError:
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<row>"
    return ChaseError(f"{path}:{line}: field '{field}': {first['msg']}")


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
        evaluations = read_rows(results / "evaluations.jsonl", EvaluationRow, unique=evaluation_key)
        if not evaluations:
            raise ChaseError(f"{results / 'evaluations.jsonl'}: no evaluations yet")
        return cls(run_dir=run_dir, evaluations=evaluations,
                   costs=read_rows(results / "costs.jsonl", CostRow, required=False),
                   subsets=read_rows(results / "subsets.jsonl", SubsetRow, required=False),
                   config=read_config(run_dir))

    def resolve(self, path: str) -> Path:
        """A path from a results file: absolute, or relative to the run folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.run_dir / candidate
