"""Build, merge, subsample and describe pools: one Parquet file of normalised records.

Counts always reconcile: rows read = kept + quarantined + exact duplicates dropped. In the default
``fail`` mode the first bad row stops the build with its file, line and field, and nothing is
written; in ``skip`` mode bad rows go to a quarantine JSONL beside the output with their reason.
"""

from __future__ import annotations

import json
import socket
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
    scratch_path,
    write_manifest,
)

POOL_SCHEMA = pa.schema([(name, pa.string()) for name in POOL_COLUMNS])
ON_ERROR = ("fail", "skip")
WRITE_BATCH = 2048


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
    if path_or_hub.count("/") == 1 and not path.suffix and not path_or_hub.startswith((".", "/")):
        return hub_rows(path_or_hub, split), {"hub_id": path_or_hub, "split": split}
    raise ChaseError(f"{path_or_hub}: no such file (and not a hub id of the form owner/name)")


def _write_rows(rows: Iterable[dict], out: Path) -> None:
    with pq.ParquetWriter(out, POOL_SCHEMA) as writer:
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= WRITE_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=POOL_SCHEMA))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=POOL_SCHEMA))


def subsample_indices(n: int, limit: int | None, seed: int | list[int], option: str = "--limit") -> np.ndarray:
    """Indices of a seeded sample of ``limit`` rows out of ``n``, in their original order (all when no limit).

    The project's one seeded row sample: pool ``--limit`` and ``--score-limit`` both draw with it.
    """
    if limit is None or limit >= n:
        return np.arange(n)
    if limit <= 0:
        raise ChaseError(f"{option} must be positive, got {limit}")
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _finish(tmp_rows: Path, tmp_out: Path, report: BuildReport, limit: int | None, seed: int,
            allow_empty: bool) -> None:
    """Subsample the collected rows into ``tmp_out``; keeping no row is an error unless allowed."""
    table = pq.read_table(tmp_rows)
    keep = subsample_indices(table.num_rows, limit, seed)
    report.sampled_out = table.num_rows - len(keep)
    report.kept = len(keep)
    if not report.kept and not allow_empty:
        reasons = "; ".join(f"{n} x {r}" for r, n in sorted(report.reasons.items(), key=lambda kv: -kv[1])[:3])
        raise ChaseError(f"{report.out}: no row kept (read {report.read}, quarantined {report.quarantined}, "
                         f"duplicates {report.duplicates}{'; most common: ' + reasons if reasons else ''}); nothing "
                         "written; fix the input or pass --allow-empty to write an empty pool")
    pq.write_table(table.take(pa.array(keep)) if report.sampled_out else table, tmp_out)


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
    seen: set[str] = set()

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
                    row = record.as_row()
                    if row["id"] in seen:
                        report.duplicates += 1
                        continue
                    seen.add(row["id"])
                    yield row
                    continue
            if on_error == "fail":
                raise ChaseError(f"{item.describe()} (use --on-error skip to quarantine bad rows)")
            rejections.append(item)
            reason = f"{item.field}: {item.reason.split(' (')[0].split(' at byte')[0]}"
            report.reasons[reason] = report.reasons.get(reason, 0) + 1

    with atomic_path(out) as tmp_out, scratch_path(out) as tmp_rows:
        _write_rows(kept_rows(), tmp_rows)
        report.quarantined = len(rejections)
        _finish(tmp_rows, tmp_out, report, limit, seed, allow_empty)
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
    path = Path(path)
    if not path.exists():
        raise ChaseError(f"{path}: pool file not found (make one with `chase pool build`)")
    if path.is_dir():
        raise ChaseError(f"{path}: is a folder; give a pool Parquet file")
    note_input(path)
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise ChaseError(f"{path}: not a readable Parquet pool ({exc})") from None
    missing = [c for c in POOL_COLUMNS if c not in table.column_names]
    if missing:
        raise ChaseError(f"{path}: not a pool file, missing columns {missing}")
    return table.select(list(POOL_COLUMNS)).to_pandas()


def pool_name(path: str | Path) -> str:
    """The short name used in selection file names: the pool file's stem."""
    return Path(path).stem


def merge_pools(paths: list[str | Path], out: str | Path, *, limit: int | None = None, seed: int = 0,
                allow_empty: bool = False) -> BuildReport:
    """Concatenate pools, drop exact duplicates across them, optionally subsample with a seed."""
    started = time.time()
    out = Path(out)
    for path in paths:
        note_input(path)
    _check_outputs(out)
    report = BuildReport(out=str(out))
    seen: set[str] = set()

    def rows() -> Iterator[dict]:
        for path in paths:
            for row in read_pool(path).to_dict("records"):
                report.read += 1
                if row["id"] in seen:
                    report.duplicates += 1
                    continue
                seen.add(row["id"])
                yield row

    with atomic_path(out) as tmp_out, scratch_path(out) as tmp_rows:
        _write_rows(rows(), tmp_rows)
        _finish(tmp_rows, tmp_out, report, limit, seed, allow_empty)
    write_manifest(out, kind="pool", inputs={"merged": [str(p) for p in paths]},
                   config={"limit": limit, "seed": seed}, started=started, extra={"counts": report.as_dict()})
    return report


def _length_stats(lengths: np.ndarray) -> dict[str, float]:
    if len(lengths) == 0:
        return {}
    return {"min": int(lengths.min()), "median": float(np.median(lengths)), "mean": round(float(lengths.mean()), 1),
            "p95": float(np.percentile(lengths, 95)), "max": int(lengths.max())}


def pool_info(path: str | Path) -> dict[str, Any]:
    """Counts, duplicates, sources, categories and character-length statistics of a pool."""
    frame = read_pool(path)
    categories: dict[str, int] = {}
    for meta in frame["meta"]:
        category = json.loads(meta).get("category")
        if category is not None:
            categories[str(category)] = categories.get(str(category), 0) + 1
    return {
        "path": str(path),
        "rows": int(len(frame)),
        "duplicate_ids": int(frame["id"].duplicated().sum()),
        "duplicate_inputs": int(frame["input"].duplicated().sum()),
        "sources": {str(k): int(v) for k, v in frame["source"].value_counts().items()},
        "categories": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
        "input_chars": _length_stats(frame["input"].str.len().to_numpy()),
        "target_chars": _length_stats(frame["target"].str.len().to_numpy()),
    }
