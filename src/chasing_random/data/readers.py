"""Stream raw rows out of JSONL, JSON and Parquet files, each with its line (or row) number.

Readers never stop on a bad line: they yield a ``Rejection`` for it and go on, and the caller
decides whether that is fatal. Invalid UTF-8 and malformed JSON are located to their line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from chasing_random.data.records import Rejection
from chasing_random.errors import ChaseError


@dataclass
class RawRow:
    """A parsed row of a source file and the 1-based line (or Parquet row) it came from."""

    line: int
    row: Any


def _decode_line(raw: bytes, path: str, line: int) -> str | Rejection:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(path, line, "<bytes>", f"invalid UTF-8 at byte {exc.start}",
                         raw.decode("utf-8", errors="replace"))


def read_jsonl(path: str | Path) -> Iterator[RawRow | Rejection]:
    """One JSON object per line; blank lines are skipped."""
    name = str(path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = _decode_line(raw.rstrip(b"\r\n"), name, number)
            if isinstance(text, Rejection):
                yield text
                continue
            if not text.strip():
                continue
            try:
                yield RawRow(number, json.loads(text))
            except json.JSONDecodeError as exc:
                yield Rejection(name, number, "<json>", f"malformed JSON: {exc.msg} (column {exc.colno})", text)


def read_json(path: str | Path) -> Iterator[RawRow | Rejection]:
    """A JSON list of objects (line = where each object starts), or JSONL saved as .json."""
    name = str(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ChaseError(f"{name}:{line}: invalid UTF-8 at byte {exc.start}; the whole JSON file cannot be read "
                         "(JSONL files can skip single bad lines)") from None
    stripped = text.lstrip()
    if not stripped.startswith("["):
        yield from read_jsonl(path)
        return
    decoder = json.JSONDecoder()
    pos = len(text) - len(stripped) + 1
    line = text.count("\n", 0, pos) + 1
    last = pos
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise ChaseError(f"{name}:{line}: malformed JSON: the list is never closed with ']'")
        if text[pos] == "]":
            return
        line += text.count("\n", last, pos)
        last = pos
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ChaseError(f"{name}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno}); "
                             "a JSON list cannot skip a broken element, use JSONL to skip bad lines") from None
        yield RawRow(line, obj)
        pos = end


def read_parquet(path: str | Path, batch_size: int = 4096) -> Iterator[RawRow | Rejection]:
    """Rows of a Parquet file, streamed by record batch; 'line' is the 1-based row number."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise ChaseError(f"{path}: not a readable Parquet file ({exc})") from None
    number = 0
    for batch in parquet.iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            number += 1
            yield RawRow(number, row)


def read_rows(path: str | Path) -> Iterator[RawRow | Rejection]:
    """Pick the reader by file extension (.jsonl, .json, .parquet)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".json":
        return read_json(path)
    if suffix in (".parquet", ".pq"):
        return read_parquet(path)
    raise ChaseError(f"{path}: unknown file type '{suffix}'; expected .jsonl, .json or .parquet")


def read_rows_or_raise(path: str | Path, what: str | None = None) -> Iterator[RawRow]:
    """``read_rows`` for files that must be whole (benchmarks, subsets, outputs, annotations): the first
    rejected line raises ``[not WHAT: ]FILE:LINE: field 'F': reason``."""
    for item in read_rows(path):
        if isinstance(item, Rejection):
            raise ChaseError((f"not {what}: " if what else "") + item.describe())
        yield item
