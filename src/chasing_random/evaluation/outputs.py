"""Read and validate model outputs files in AlpacaEval's layout: a list of
``{instruction, output, generator, dataset}``; errors name the file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chasing_random.data.readers import read_rows_or_raise
from chasing_random.errors import ChaseError


@dataclass(frozen=True)
class ModelOutput:
    """One model answer to one prompt, and where it sits in its file."""

    instruction: str
    output: str
    generator: str
    dataset: str | None
    line: int


def read_outputs(path: str | Path) -> list[ModelOutput]:
    """All records of an outputs file (.json list or .jsonl), validated; the first bad record is an error.

    ``instruction`` and ``output`` must be strings; ``generator`` must be a string when present
    (when absent, the file's stem names the generator, as AlpacaEval names it after the model);
    instructions must be unique because outputs are matched to prompts by their text.
    """
    path = Path(path)
    if not path.exists():
        raise ChaseError(f"{path}: outputs file not found")
    records: list[ModelOutput] = []
    first_line: dict[str, int] = {}
    for item in read_rows_or_raise(path, "an outputs file in AlpacaEval layout"):
        row, line = item.row, item.line
        where = f"{path}:{line}"
        if not isinstance(row, dict):
            raise ChaseError(f"{where}: expected an object {{instruction, output, generator, dataset}}, "
                             f"got {type(row).__name__}")
        for field in ("instruction", "output"):
            if field not in row:
                raise ChaseError(f"{where}: field '{field}' is missing (AlpacaEval layout needs instruction, output)")
            if not isinstance(row[field], str):
                raise ChaseError(f"{where}: field '{field}' must be a string, got {type(row[field]).__name__}")
        generator = row.get("generator", path.stem)
        if not isinstance(generator, str) or not generator:
            raise ChaseError(f"{where}: field 'generator' must be a non-empty string, got {generator!r}")
        dataset = row.get("dataset")
        if dataset is not None and not isinstance(dataset, str):
            raise ChaseError(f"{where}: field 'dataset' must be a string, got {type(dataset).__name__}")
        instruction = row["instruction"]
        if instruction in first_line:
            raise ChaseError(f"{where}: field 'instruction': duplicate of the prompt at line "
                             f"{first_line[instruction]} (outputs are matched to prompts by text)")
        first_line[instruction] = line
        records.append(ModelOutput(instruction, row["output"], generator, dataset, line))
    if not records:
        raise ChaseError(f"{path}: the outputs file holds no records")
    return records


def describe_prompt_difference(missing: list[str], extra: list[str], *, shown: int = 5) -> str:
    """A readable summary of prompts missing from / extra in a file, quoting the first few."""

    def quote(texts: list[str]) -> str:
        head = "; ".join(repr(t[:80] + ("..." if len(t) > 80 else "")) for t in texts[:shown])
        return head + (f"; and {len(texts) - shown} more" if len(texts) > shown else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {quote(missing)}")
    if extra:
        parts.append(f"{len(extra)} extra: {quote(extra)}")
    return " | ".join(parts)
