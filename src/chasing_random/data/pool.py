"""Build, merge, subsample and describe pools: one Parquet file of normalised records.

Counts always reconcile: rows read = kept + quarantined + exact duplicates dropped. In the default
``fail`` mode the first bad row stops the build with its file, line and field, and nothing is
written; in ``skip`` mode bad rows go to a quarantine JSONL beside the output with their reason.

Build, merge and info stream: rows pass through in batches, duplicates are found with a sorted
array of 16-byte id digests, and a pool is written one row group at a time, so a million-row pool
never sits in memory as a whole.
"""

from __future__ import annotations

import hashlib
import json
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.data.readers import RawRow, read_rows
from chasing_random.data.records import POOL_COLUMNS, Rejection, RowError
from chasing_random.data.sources import AdapterOptions, get_adapter
from chasing_random.errors import ChaseError
from chasing_random.store import (
    atomic_path,
    check_target,
    file_fingerprint,
    manifest_path,
    note_input,
    write_manifest,
)

POOL_SCHEMA = pa.schema([(name, pa.string()) for name in POOL_COLUMNS])
ON_ERROR = ("fail", "skip")
WRITE_BATCH = 2048
READ_BATCH = 8192
# A pool is written one row group at a time: at most this many rows or bytes are held at once.
# A pool of up to ROW_GROUP_ROWS rows is one row group, the layout ``pq.write_table`` gives it.
ROW_GROUP_ROWS = 1 << 17
ROW_GROUP_BYTES = 256 * 2**20


@dataclass
class BuildReport:
    """What a pool build read, kept and dropped, and where it wrote."""

    out: str
    read: int = 0
    kept: int = 0
    quarantined: int = 0
    duplicates: int = 0
    sampled_out: int = 0
    quarantine_file: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.read == self.kept + self.sampled_out + self.quarantined + self.duplicates

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reconciles": self.reconciles}


def quarantine_path(out: str | Path) -> Path:
    """The quarantine file that sits beside a pool file."""
    out = Path(out)
    return out.with_name(out.stem + ".quarantine.jsonl")


def hub_rows(hub_id: str, split: str = "train") -> Iterator[RawRow]:
    """Stream a hub dataset through ``datasets.load_dataset``; fail at once when the hub is unreachable."""
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    offline = constants.HF_HUB_OFFLINE
    if not offline:
        try:
            socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=3).close()
        except OSError:
            offline = True
    if offline:
        raise ChaseError(f"cannot reach the Hugging Face hub to load '{hub_id}'; "
                         "download it elsewhere and pass a local file instead (JSON, JSONL or Parquet)")
    from datasets import load_dataset

    try:
        dataset = load_dataset(hub_id, split=split, streaming=True)
    except Exception as exc:  # datasets raises many types; all mean "could not load"
        raise ChaseError(f"could not load hub dataset '{hub_id}' (split {split}): {exc}") from None
    for number, row in enumerate(dataset, start=1):
        yield RawRow(number, row)


def _raw_rows(path_or_hub: str, split: str) -> tuple[Iterable[RawRow | Rejection], dict]:
    path = Path(path_or_hub)
    if path.exists():
        rows = read_rows(path)
        note_input(path)
        try:
            digest = file_fingerprint(path)
        except OSError as exc:
            raise ChaseError(f"{path}: cannot be read: {exc.strerror}") from None
        return rows, {"path": str(path), "sha256_16": digest}
    if looks_like_hub_id(path_or_hub):
        return hub_rows(path_or_hub, split), {"hub_id": path_or_hub, "split": split}
    raise ChaseError(f"{path_or_hub}: no such file (and not a hub id of the form owner/name)")


def looks_like_hub_id(text: str) -> bool:
    """Whether a source that is not a local path has the form owner/name of a hub dataset id."""
    return text.count("/") == 1 and not Path(text).suffix and not text.startswith((".", "/"))


class PoolWriter:
    """Writes pool tables to a Parquet file, one row group at a time (see ``ROW_GROUP_ROWS``)."""

    def __init__(self, path: Path):
        self._writer = pq.ParquetWriter(path, POOL_SCHEMA)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Queue a table of pool rows; a full row group goes to the file."""
        if not table.num_rows:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self._pending_bytes += table.nbytes
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS or self._pending_bytes >= ROW_GROUP_BYTES:
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        """Write full row groups; everything queued when ``final`` or when the queue holds ROW_GROUP_BYTES."""
        rows = pa.concat_tables(self._pending).combine_chunks()
        everything = final or self._pending_bytes >= ROW_GROUP_BYTES
        while rows.num_rows >= ROW_GROUP_ROWS or (everything and rows.num_rows):
            size = min(rows.num_rows, ROW_GROUP_ROWS)
            self._writer.write_table(rows.slice(0, size), row_group_size=ROW_GROUP_ROWS)
            rows = rows.slice(size)
        self._pending = [rows] if rows.num_rows else []
        self._pending_rows = rows.num_rows
        self._pending_bytes = rows.nbytes if rows.num_rows else 0

    def close(self) -> None:
        """Write what is queued (an empty pool gets one empty row group, as ``pq.write_table`` writes it)."""
        if self._pending:
            self._flush(final=True)
        elif not self.rows:
            self._writer.write_table(POOL_SCHEMA.empty_table())
        self._writer.close()


class SeenIds:
    """The ids met so far, as a sorted array of 16-byte BLAKE2 digests: 16 MB per million rows."""

    def __init__(self):
        self._sorted = np.empty(0, dtype="S16")

    def first_seen(self, ids: list) -> np.ndarray:
        """True for each id not met before (neither in earlier calls nor earlier in ``ids``); remembers them."""
        keys = np.array([hashlib.blake2b(b"\0" if i is None else str(i).encode("utf-8"), digest_size=16).digest()
                         for i in ids], dtype="S16")
        new = np.zeros(len(keys), dtype=bool)
        new[np.unique(keys, return_index=True)[1]] = True
        at = np.searchsorted(self._sorted, keys)
        inside = at < len(self._sorted)
        new[inside] &= self._sorted[at[inside]] != keys[inside]
        added = np.sort(keys[new])
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, added), added)
        return new


def _write_unique(tables: Iterable[pa.Table], writer: PoolWriter, seen: SeenIds, report: BuildReport) -> None:
    """Write each table's rows whose id was not met before; count the others as duplicates."""
    for table in tables:
        keep = seen.first_seen(table.column("id").to_pylist())
        report.duplicates += int(len(keep) - keep.sum())
        writer.write(table.filter(pa.array(keep)) if not keep.all() else table)


def _batched(rows: Iterable[dict], size: int = WRITE_BATCH) -> Iterator[pa.Table]:
    """Rows as pool tables of ``size`` rows."""
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield pa.Table.from_pylist(batch, schema=POOL_SCHEMA)
            batch = []
    if batch:
        yield pa.Table.from_pylist(batch, schema=POOL_SCHEMA)


def subsample_indices(n: int, limit: int | None, seed: int | list[int], option: str = "--limit") -> np.ndarray:
    """Indices of a seeded sample of ``limit`` rows out of ``n``, in their original order (all when no limit).

    The project's one seeded row sample: pool ``--limit`` and ``--score-limit`` both draw with it.
    """
    if limit is None or limit >= n:
        return np.arange(n)
    if limit <= 0:
        raise ChaseError(f"{option} must be positive, got {limit}")
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _write_pool(tables: Iterable[pa.Table], out: Path, report: BuildReport, limit: int | None, seed: int,
                allow_empty: bool = False) -> None:
    """Write the unique rows of ``tables`` to ``out`` atomically; with a limit, a seeded sample of them.

    A sample needs the row count first: the rows go to a temporary file, then the sample streams out of it.
    Keeping no row is an error unless ``allow_empty`` (nothing is written then).
    """
    seen = SeenIds()
    with atomic_path(out) as final:
        if limit is None:
            writer = PoolWriter(final)
            _write_unique(tables, writer, seen, report)
            writer.close()
            report.kept = writer.rows
            _refuse_empty(report, allow_empty)
            return
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as folder:
            rows_path = Path(folder) / "rows.parquet"
            writer = PoolWriter(rows_path)
            _write_unique(tables, writer, seen, report)
            writer.close()
            keep = subsample_indices(writer.rows, limit, seed)
            report.sampled_out = writer.rows - len(keep)
            report.kept = len(keep)
            _refuse_empty(report, allow_empty)
            if not report.sampled_out:
                rows_path.replace(final)
                return
            sample = PoolWriter(final)
            offset = 0
            parquet = pq.ParquetFile(rows_path)
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group)
                lo, hi = np.searchsorted(keep, [offset, offset + table.num_rows])
                sample.write(table.take(pa.array(keep[lo:hi] - offset)))
                offset += table.num_rows
            sample.close()


def _refuse_empty(report: BuildReport, allow_empty: bool) -> None:
    """A pool that keeps no row is an error (naming the commonest reasons) unless the user allows it."""
    if report.kept or allow_empty:
        return
    reasons = "; ".join(f"{n} x {r}" for r, n in sorted(report.reasons.items(), key=lambda kv: -kv[1])[:3])
    raise ChaseError(f"{report.out}: no row kept (read {report.read}, quarantined {report.quarantined}, "
                     f"duplicates {report.duplicates}{'; most common: ' + reasons if reasons else ''}); nothing "
                     "written; fix the input or pass --allow-empty to write an empty pool")


def _check_outputs(out: Path) -> None:
    """Refuse before any work when the pool, its quarantine or its manifest could not be written."""
    for target in (out, quarantine_path(out), manifest_path(out)):
        check_target(target)


def build_pool(source: str, path_or_hub: str, out: str | Path, *, options: AdapterOptions | None = None,
               on_error: str = "fail", limit: int | None = None, seed: int = 0,
               split: str = "train", progress=None, allow_empty: bool = False) -> BuildReport:
    """Read a source into a pool file; see the module docstring for the error policy."""
    if on_error not in ON_ERROR:
        raise ChaseError(f"unknown --on-error '{on_error}'; valid: {', '.join(ON_ERROR)}")
    adapter = get_adapter(source)
    options = options or AdapterOptions()
    out = Path(out)
    started = time.time()
    raw_rows, input_info = _raw_rows(path_or_hub, split)
    _check_outputs(out)
    report = BuildReport(out=str(out))
    rejections: list[Rejection] = []

    def kept_rows() -> Iterator[dict]:
        for item in raw_rows:
            report.read += 1
            if progress is not None:
                progress(report.read)
            if isinstance(item, RawRow):
                try:
                    record = adapter(item.row, item.line - 1 if input_info.get("hub_id") else item.line, options)
                except RowError as exc:
                    item = Rejection(str(path_or_hub), item.line, exc.field, exc.reason,
                                     json.dumps(item.row, ensure_ascii=False, default=str))
                else:
                    yield record.as_row()
                    continue
            if on_error == "fail":
                raise ChaseError(f"{item.describe()} (use --on-error skip to quarantine bad rows)")
            rejections.append(item)
            report.quarantined += 1
            reason = f"{item.field}: {item.reason.split(' (')[0].split(' at byte')[0]}"
            report.reasons[reason] = report.reasons.get(reason, 0) + 1

    _write_pool(_batched(kept_rows()), out, report, limit, seed, allow_empty)
    qpath = quarantine_path(out)
    qpath.unlink(missing_ok=True)  # a quarantine file from an earlier build would no longer be true
    if rejections:
        with atomic_path(qpath) as tmp:  # ASCII-escaped: a raw row may hold text no UTF-8 file can store
            tmp.write_text("".join(json.dumps(r.as_row()) + "\n" for r in rejections), encoding="utf-8")
        report.quarantine_file = str(qpath)
    write_manifest(out, kind="pool", inputs={"source": source, **input_info},
                   config={"join": options.join, "input_field": options.input_field,
                           "target_field": options.target_field, "context_field": options.context_field,
                           "on_error": on_error, "limit": limit, "seed": seed},
                   started=started, extra={"counts": report.as_dict()})
    return report


def read_pool(path: str | Path):
    """A pool file as a pandas DataFrame with the pool columns (``meta`` stays a JSON string)."""
    parquet = open_pool(path)
    try:
        table = parquet.read(columns=list(POOL_COLUMNS))
    except Exception as exc:  # pyarrow raises several types for damaged pages
        raise ChaseError(f"{path}: not a readable Parquet pool ({exc})") from None
    return table.select(list(POOL_COLUMNS)).to_pandas()


def pool_name(path: str | Path) -> str:
    """The short name used in selection file names: the pool file's stem."""
    return Path(path).stem


def open_pool(path: str | Path) -> pq.ParquetFile:
    """A pool file opened for streaming reads, after checking that it exists and has the pool columns."""
    path = Path(path)
    if not path.exists():
        raise ChaseError(f"{path}: pool file not found (make one with `chase pool build`)")
    if path.is_dir():
        raise ChaseError(f"{path}: is a folder; give a pool Parquet file")
    note_input(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise ChaseError(f"{path}: not a readable Parquet pool ({exc})") from None
    missing = [c for c in POOL_COLUMNS if c not in parquet.schema_arrow.names]
    if missing:
        raise ChaseError(f"{path}: not a pool file, missing columns {missing}")
    return parquet


def pool_batches(path: str | Path, columns=POOL_COLUMNS, batch_size: int = READ_BATCH) -> Iterator[pa.Table]:
    """A pool's rows as tables of ``batch_size`` rows with the given columns, read one at a time."""
    parquet = open_pool(path)
    for batch in parquet.iter_batches(batch_size=batch_size, columns=list(columns)):
        yield pa.Table.from_batches([batch])


def pool_column(path: str | Path, name: str) -> list:
    """One column of a pool as a Python list (reads only that column)."""
    return open_pool(path).read(columns=[name]).column(name).to_pylist()


def merge_pools(paths: list[str | Path], out: str | Path, *, limit: int | None = None, seed: int = 0,
                allow_empty: bool = False) -> BuildReport:
    """Concatenate pools, drop exact duplicates across them, optionally subsample with a seed."""
    started = time.time()
    out = Path(out)
    for path in paths:
        note_input(path)
    _check_outputs(out)
    report = BuildReport(out=str(out))
    for path in paths:
        open_pool(path)

    def tables() -> Iterator[pa.Table]:
        for path in paths:
            for table in pool_batches(path):
                report.read += table.num_rows
                yield table.cast(POOL_SCHEMA)

    _write_pool(tables(), out, report, limit, seed, allow_empty)
    write_manifest(out, kind="pool", inputs={"merged": [str(p) for p in paths]},
                   config={"limit": limit, "seed": seed}, started=started, extra={"counts": report.as_dict()})
    return report


def _length_stats(lengths: np.ndarray) -> dict[str, float]:
    if len(lengths) == 0:
        return {}
    return {"min": int(lengths.min()), "median": float(np.median(lengths)), "mean": round(float(lengths.mean()), 1),
            "p95": float(np.percentile(lengths, 95)), "max": int(lengths.max())}


def pool_info(path: str | Path) -> dict[str, Any]:
    """Counts, duplicates, sources, categories and character-length statistics of a pool, read in batches."""
    import pyarrow.compute as pc

    rows = duplicate_ids = duplicate_inputs = 0
    ids, inputs = SeenIds(), SeenIds()
    categories: dict[str, int] = {}
    tasks: dict[str, int] = {}
    lengths: dict[str, list[np.ndarray]] = {"input": [], "target": []}
    for table in pool_batches(path, ("id", "input", "target", "meta")):
        rows += table.num_rows
        duplicate_ids += int((~ids.first_seen(table.column("id").to_pylist())).sum())
        duplicate_inputs += int((~inputs.first_seen(table.column("input").to_pylist())).sum())
        for meta in table.column("meta").to_pylist():
            meta = json.loads(meta)
            for key, counts in (("category", categories), ("task", tasks)):
                if meta.get(key) is not None:
                    counts[str(meta[key])] = counts.get(str(meta[key]), 0) + 1
        for name, parts in lengths.items():
            parts.append(pc.utf8_length(table.column(name)).to_numpy().astype(np.int64))
    # the source column is short and repetitive: pandas counts it (and orders ties) exactly as before
    sources = open_pool(path).read(columns=["source"]).column("source").to_pandas().value_counts()
    return {
        "path": str(path),
        "rows": rows,
        "duplicate_ids": duplicate_ids,
        "duplicate_inputs": duplicate_inputs,
        "sources": {str(k): int(v) for k, v in sources.items()},
        "categories": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
        "input_chars": _length_stats(np.concatenate(lengths["input"] or [np.zeros(0, np.int64)])),
        "target_chars": _length_stats(np.concatenate(lengths["target"] or [np.zeros(0, np.int64)])),
        **({"tasks": dict(sorted(tasks.items()))} if tasks else {}),
    }
