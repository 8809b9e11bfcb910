"""The common record ``{id, input, target, source, meta}`` and the row-level rejection type."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

POOL_COLUMNS = ("id", "input", "target", "source", "meta")


def record_id(input_text: str, target_text: str) -> str:
    """Content hash of input and target: the same example has the same id in every run."""
    payload = json.dumps([input_text, target_text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


@dataclass
class Record:
    """One normalised example of a pool."""

    input: str
    target: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return record_id(self.input, self.target)

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "target": self.target,
            "source": self.source,
            "meta": json.dumps(self.meta, ensure_ascii=False, sort_keys=True, default=str),
        }


class RowError(ValueError):
    """A row that cannot become a record; names the field and the reason."""

    def __init__(self, field_name: str, reason: str):
        super().__init__(f"field '{field_name}': {reason}")
        self.field = field_name
        self.reason = reason


@dataclass
class Rejection:
    """A quarantined row: where it came from and why it was rejected."""

    file: str
    line: int
    field: str
    reason: str
    raw: str

    def describe(self) -> str:
        return f"{self.file}:{self.line}: field '{self.field}': {self.reason}"

    def as_row(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason,
                "raw": self.raw[:2000]}
