"""Stream raw rows out of JSONL, JSON and Parquet files, each with its line (or row) number.

Readers never stop on a bad line: they yield a ``Rejection`` for it and go on, and the caller
decides whether that is fatal. Invalid UTF-8 and malformed JSON are located to their line; rows that
break the limits below (line length, field size, nesting depth) or hold lone surrogates are rejected
with that reason, and every reader consumes its whole input (trailing content is a rejection).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from chasing_random.data.records import Rejection
from chasing_random.errors import ChaseError
from chasing_random.store import note_input


@dataclass
class RawRow:
    """A parsed row of a source file and the 1-based line (or Parquet row) it came from."""

    line: int
    row: Any


MAX_LINE_BYTES = 16 << 20
"""A JSONL line (one row) longer than this is quarantined unread: 16 MiB."""
MAX_FIELD_CHARS = 1 << 20
"""A string value longer than this (1 Mi characters) is quarantined."""
MAX_DEPTH = 32
"""Rows nested deeper than this many levels of objects and lists are quarantined."""
BOM = "\ufeff"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode_line(raw: bytes, path: str, line: int) -> str | Rejection:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(path, line, "<bytes>", f"invalid UTF-8 at byte {exc.start}",
                         raw.decode("utf-8", errors="replace"))


def row_problem(obj: Any) -> tuple[str, str] | None:
    """(field, reason) when a parsed row breaks a documented limit (depth, field size) or holds a
    lone surrogate that no UTF-8 file can store; None when it is fine. Iterative, so any depth is safe."""
    stack: list[tuple[Any, int, str]] = [(obj, 1, "<row>")]
    while stack:
        value, depth, name = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_FIELD_CHARS:
                return name, f"value of {len(value)} characters is over the limit of {MAX_FIELD_CHARS}"
            if LONE_SURROGATE.search(value):
                return name, "lone surrogate (invalid Unicode, e.g. \\ud800) in the value"
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return name, f"nested deeper than the limit of {MAX_DEPTH} levels"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and LONE_SURROGATE.search(key):
                    return name, "lone surrogate (invalid Unicode) in a key"
                stack.append((item, depth + 1, str(key) if name == "<row>" else name))
    return None


def _parsed(name: str, number: int, obj: Any, raw: str) -> RawRow | Rejection:
    problem = row_problem(obj)
    if problem is None:
        return RawRow(number, obj)
    return Rejection(name, number, problem[0], problem[1], raw)


def _json_value(text: str) -> Any:
    """``json.loads`` that treats nesting too deep for the parser as a malformed row, not a crash."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than the parser allows (limit {MAX_DEPTH} levels)",
                                   text, 0) from None


def _lines(handle) -> Iterator[bytes | None]:
    """The lines of a binary file, each at most MAX_LINE_BYTES; None stands for a longer line (skipped)."""
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        yield raw


def read_jsonl(path: str | Path) -> Iterator[RawRow | Rejection]:
    """One JSON object per line; blank lines are skipped, a UTF-8 byte-order mark is accepted."""
    name = str(path)
    with _open(path) as handle:
        for number, raw in enumerate(_lines(handle), start=1):
            if raw is None:
                yield Rejection(name, number, "<line>", f"line longer than the limit of {MAX_LINE_BYTES} bytes", "")
                continue
            text = _decode_line(raw.rstrip(b"\r\n"), name, number)
            if isinstance(text, Rejection):
                yield text
                continue
            if number == 1:
                text = text.removeprefix(BOM)
            if not text.strip():
                continue
            try:
                obj = _json_value(text)
            except json.JSONDecodeError as exc:
                yield Rejection(name, number, "<json>", f"malformed JSON: {exc.msg} (column {exc.colno})", text)
                continue
            yield _parsed(name, number, obj, text)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _where(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def read_json(path: str | Path) -> Iterator[RawRow | Rejection]:
    """A JSON list of objects (line = where each object starts), or JSONL saved as .json.

    The whole file must be the list: a missing comma is an error, and anything after the closing
    bracket (a second list, garbage) is a located rejection, so nothing is silently dropped."""
    name = str(path)
    with _open(path) as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ChaseError(f"{name}:{line}: invalid UTF-8 at byte {exc.start}; the whole JSON file cannot be read "
                         "(JSONL files can skip single bad lines)") from None
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        yield from read_jsonl(path)
        return
    decoder = json.JSONDecoder()
    pos = _skip_space(text, pos + 1)
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            if pos >= len(text):
                raise ChaseError(f"{name}:{_where(text, pos)[0]}: malformed JSON: the list is never closed with ']'")
            line = _where(text, pos)[0]
            try:
                obj, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise ChaseError(f"{name}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno}); "
                                 "a JSON list cannot skip a broken element, use JSONL to skip bad lines") from None
            except RecursionError:
                raise ChaseError(f"{name}:{line}: malformed JSON: an element is nested too deeply for the parser "
                                 f"(rows may nest at most {MAX_DEPTH} levels)") from None
            yield _parsed(name, line, obj, text[pos:min(end, pos + 2000)])
            pos = _skip_space(text, end)
            if text.startswith(",", pos):
                pos = _skip_space(text, pos + 1)
                if text.startswith("]", pos):
                    line, column = _where(text, pos)
                    raise ChaseError(f"{name}:{line}: malformed JSON: trailing comma before ']' (column {column})")
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            if pos >= len(text):
                continue
            line, column = _where(text, pos)
            raise ChaseError(f"{name}:{line}: malformed JSON: expected ',' or ']' after an element "
                             f"(column {column}); is a comma missing?")
    pos = _skip_space(text, pos)
    if pos < len(text):
        line, column = _where(text, pos)
        yield Rejection(name, line, "<json>", f"trailing content after the JSON list (column {column}); "
                        "a file holds one list", text[pos:pos + 2000])


def read_parquet(path: str | Path, batch_size: int = 4096) -> Iterator[RawRow | Rejection]:
    """Rows of a Parquet file, streamed by record batch; 'line' is the 1-based row number."""
    import pyarrow.parquet as pq

    _open(path).close()
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise ChaseError(f"{path}: not a readable Parquet file ({exc})") from None
    number = 0
    batches = parquet.iter_batches(batch_size=batch_size)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:  # a truncated or corrupt row group
            raise ChaseError(f"{path}: row {number + 1} onwards cannot be read, the Parquet file is damaged "
                             f"({str(exc)[:200]})") from None
        for row in batch.to_pylist():
            number += 1
            problem = row_problem(row)
            yield RawRow(number, row) if problem is None else Rejection(
                str(path), number, problem[0], problem[1], json.dumps(row, default=str)[:2000])


def _open(path: str | Path):
    """Open an input file for reading, or fail with one line: a folder, missing, or unreadable."""
    path = Path(path)
    if path.is_dir():
        raise ChaseError(f"{path}: is a folder; give a .json, .jsonl or .parquet file")
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise ChaseError(f"{path}: no such file") from None
    except PermissionError:
        raise ChaseError(f"{path}: cannot be read: permission denied") from None
    except OSError as exc:
        raise ChaseError(f"{path}: cannot be read: {exc.strerror}") from None
    note_input(path)
    return handle


def read_rows(path: str | Path) -> Iterator[RawRow | Rejection]:
    """Pick the reader by file extension (.jsonl, .json, .parquet)."""
    suffix = Path(path).suffix.lower()
    if Path(path).is_dir():
        raise ChaseError(f"{path}: is a folder; give a .json, .jsonl or .parquet file")
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
