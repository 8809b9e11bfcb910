"""The FLAN mixture builder: a capped, seeded per-task subsample of a FLAN v2 collection.

The study made its FLAN pool with ``seqio_creator.py``: for every FLAN task (tasks whose name
contains ``t0`` skipped), one prompt template drawn at random, zero-shot with options, at most
``max_samples`` (1,000) examples per task. This module does the same from an exported collection
(rows carrying a task name, inputs, targets and template type/index, e.g. the hub's
``Open-Orca/FLAN`` layout) in one streaming pass whose memory is bounded by tasks x cap:

- the template of a task is the one whose seeded hash is smallest among the task's templates,
  which is a uniform seeded draw that can be decided while streaming (a later template can only
  replace the current one before any of its own rows were seen);
- the rows of a task are the ``cap`` rows with the smallest seeded hash (a uniform sample without
  replacement that does not depend on the order of the source), or the first ``cap`` rows in
  source order with ``rows="first"`` (what seqio's ``take`` did in the study).

Counts reconcile: read = kept + over the cap + dropped by rule + quarantined + duplicates.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from chasing_random.data.readers import RawRow, read_rows
from chasing_random.data.records import Record, Rejection, RowError
from chasing_random.errors import ChaseError
from chasing_random.store import note_input

TASK_FIELDS = ("_task_name", "task_name", "task")
TEMPLATE_TYPE_FIELDS = ("_template_type", "template_type")
TEMPLATE_INDEX_FIELDS = ("_template_idx", "template_idx", "template_id", "template")
INPUT_FIELDS = ("inputs", "input")
TARGET_FIELDS = ("targets", "target")
TEMPLATE_TYPES = ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt")
STUDY_TEMPLATE_TYPES = ("zs_opt",)
ROW_CHOICES = ("random", "first")
SOURCE_FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".pq")


@dataclass(frozen=True)
class MixtureOptions:
    """How the mixture is drawn; the defaults are the study's (``seqio_creator.py``)."""

    per_task: int = 1000
    weights: dict[str, float] = field(default_factory=dict)
    total: int | None = None
    seed: int = 0
    template_types: tuple[str, ...] = STUDY_TEMPLATE_TYPES
    exclude_t0: bool = True
    rows: str = "random"


@dataclass
class MixtureReport:
    """What the mixture read, kept and dropped, per reason and per task."""

    read: int = 0
    kept: int = 0
    over_cap: int = 0
    quarantined: int = 0
    duplicates: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.read == (self.kept + self.over_cap + self.quarantined + self.duplicates
                             + sum(self.dropped.values()))

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "kept": self.kept, "over_cap": self.over_cap, "quarantined": self.quarantined,
                "duplicates": self.duplicates, "dropped": dict(sorted(self.dropped.items())),
                "reconciles": self.reconciles, "tasks": self.tasks}


def _hash(*parts: Any) -> int:
    """A seeded 64-bit key: the same inputs give the same key on every machine and run."""
    payload = json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big")


def _first(row: dict, names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in row and row[name] is not None:
            return name, row[name]
    return None, None


def load_weights(path: str | Path) -> dict[str, float]:
    """Per-task weights from a JSON or YAML mapping ``task -> cap`` (an integer >= 1) or ``share``
    (a fraction in [0, 1) of ``--total``); 0 drops a task."""
    path = Path(path)
    if not path.is_file():
        raise ChaseError(f"{path}: weights file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ChaseError(f"{path}: not valid JSON or YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ChaseError(f"{path}: expected a mapping of task name to cap or share")
    weights = {}
    for task, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            raise ChaseError(f"{path}: task '{task}': expected a cap (integer >= 1) or a share in [0, 1), "
                             f"got {value!r}")
        if value >= 1 and float(value) != int(value):
            raise ChaseError(f"{path}: task '{task}': a cap must be a whole number, got {value!r}")
        weights[str(task)] = float(value)
    return weights


def task_cap(task: str, options: MixtureOptions) -> int:
    """The most rows a task may give: its weight (a cap or a share of the total), else ``per_task``."""
    if task not in options.weights:
        return options.per_task
    weight = options.weights[task]
    if weight == 0 or weight >= 1:
        return int(weight)
    if options.total is None:
        raise ChaseError(f"task '{task}' has a share ({weight}) in the weights file: give --total N")
    return int(round(weight * options.total))


def source_files(path: Path) -> list[Path]:
    """A file, or every JSON/JSONL/Parquet file under a folder in sorted order."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_FILE_SUFFIXES)
    if not files:
        raise ChaseError(f"{path}: no .jsonl, .json or .parquet files in this folder")
    return files


@dataclass
class _TaskState:
    template: Any = None
    template_key: int = -1
    heap: list = field(default_factory=list)  # max-heap by key (negated) of the cap best rows
    seen: int = 0  # rows of the chosen template


class MixtureSampler:
    """Streams rows, keeps per task the rows the options choose; memory is tasks x cap."""

    def __init__(self, options: MixtureOptions, report: MixtureReport):
        self.options = options
        self.report = report
        self.tasks: dict[str, _TaskState] = {}
        self.caps: dict[str, int] = {}
        self.order = 0

    def add(self, task: str, template: Any, template_type: str | None, record: Record) -> None:
        """Offer one parsed row of a task; it is kept, or counted under the reason it was not."""
        opts = self.options
        if opts.exclude_t0 and "t0" in task:
            self.report.drop("t0 task")
            return
        if opts.template_types and template_type is not None and template_type not in opts.template_types:
            self.report.drop("template type")
            return
        cap = self.caps.get(task)
        if cap is None:
            cap = self.caps[task] = task_cap(task, opts)
        if cap == 0:
            self.report.drop("weight 0")
            return
        state = self.tasks.setdefault(task, _TaskState())
        template_key = _hash(opts.seed, "template", task, template)
        if state.template_key < 0 or template_key < state.template_key:
            if state.template_key >= 0:  # the template drawn so far loses: all its rows are another template's
                self.report.over_cap -= state.seen - len(state.heap)
                self.report.dropped["other template"] = self.report.dropped.get("other template", 0) + state.seen
            state.template, state.template_key, state.heap, state.seen = template, template_key, [], 0
        elif template_key != state.template_key:
            self.report.drop("other template")
            return
        state.seen += 1
        self.order += 1
        key = self.order if opts.rows == "first" else _hash(opts.seed, "row", task, record.id)
        item = (-key, self.order, record)
        if len(state.heap) < cap:
            heapq.heappush(state.heap, item)
        else:
            self.report.over_cap += 1
            if -state.heap[0][0] > key:
                heapq.heapreplace(state.heap, item)

    def records(self) -> Iterator[Record]:
        """The chosen rows: tasks in name order, each task's rows in source order."""
        for task in sorted(self.tasks):
            state = self.tasks[task]
            rows = sorted(state.heap, key=lambda item: item[1])
            self.report.tasks[task] = {"kept": len(rows), "cap": self.caps[task], "template": state.template,
                                       "rows_of_template": state.seen}
            for _, _, record in rows:
                yield record


def parse_flan_row(row: Any) -> tuple[str, Any, str | None, Record]:
    """One collection row as (task, template, template type, record); a missing field raises ``RowError``."""
    if not isinstance(row, dict):
        raise RowError("<row>", f"expected a JSON object, got {type(row).__name__}")
    task_field, task = _first(row, TASK_FIELDS)
    if task_field is None:
        raise RowError(TASK_FIELDS[0], f"missing: a FLAN collection row needs a task name ({', '.join(TASK_FIELDS)})")
    type_field, template_type = _first(row, TEMPLATE_TYPE_FIELDS)
    index_field, template = _first(row, TEMPLATE_INDEX_FIELDS)
    input_field, inputs = _first(row, INPUT_FIELDS)
    target_field, targets = _first(row, TARGET_FIELDS)
    for name, value, options in ((input_field, inputs, INPUT_FIELDS), (target_field, targets, TARGET_FIELDS)):
        if name is None:
            raise RowError(options[0], "missing")
        if not isinstance(value, str):
            raise RowError(name, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            raise RowError(name, "empty")
    used = {task_field, type_field, index_field, input_field, target_field}
    meta = {"task": str(task), "template": template, "template_type": template_type,
            **{k: v for k, v in row.items() if k not in used}}
    return str(task), template, (None if template_type is None else str(template_type)), Record(
        inputs, targets, "flan", meta)


def collection_rows(source: str, split: str) -> tuple[Iterable[tuple[str, RawRow | Rejection]], dict]:
    """Rows of a local collection (file or folder) or a hub collection, with where each came from."""
    path = Path(source)
    if path.exists():
        files = source_files(path)
        for file in files:
            note_input(file)

        def local() -> Iterator[tuple[str, RawRow | Rejection]]:
            for file in files:
                for item in read_rows(file):
                    yield str(file), item

        return local(), {"path": str(path), "files": len(files)}
    from chasing_random.data.pool import hub_rows, looks_like_hub_id

    if looks_like_hub_id(source):
        return ((source, item) for item in hub_rows(source, split)), {"hub_id": source, "split": split}
    raise ChaseError(f"{source}: no such file or folder (and not a hub id of the form owner/name)")


def build_flan_mixture(source: str, options: MixtureOptions, *, on_error: str = "fail", split: str = "train",
                       progress=None) -> tuple[Iterator[Record], MixtureReport, list[Rejection], dict]:
    """Stream the collection through the sampler; returns the chosen records (consume them once,
    after which the report is complete), the report, the rejections and where the rows came from."""
    if options.per_task < 0:
        raise ChaseError(f"--per-task must be >= 0, got {options.per_task}")
    if options.rows not in ROW_CHOICES:
        raise ChaseError(f"unknown --rows '{options.rows}'; valid: {', '.join(ROW_CHOICES)}")
    unknown = sorted(set(options.template_types) - set(TEMPLATE_TYPES))
    if unknown:
        raise ChaseError(f"unknown template types {unknown}; valid: {', '.join(TEMPLATE_TYPES)}")
    report = MixtureReport()
    rejections: list[Rejection] = []
    rows, info = collection_rows(source, split)
    sampler = MixtureSampler(options, report)

    def records() -> Iterator[Record]:
        started = time.time()
        for name, item in rows:
            report.read += 1
            if progress is not None:
                progress(report.read)
            if isinstance(item, RawRow):
                try:
                    task, template, template_type, record = parse_flan_row(item.row)
                except RowError as exc:
                    if report.read == 1 and exc.field == TASK_FIELDS[0]:
                        raise ChaseError(f"{name}:{item.line}: field '{exc.field}': {exc.reason}; "
                                         "this source is not a FLAN collection with task names") from None
                    item = Rejection(name, item.line, exc.field, exc.reason,
                                     json.dumps(item.row, ensure_ascii=False, default=str))
                else:
                    sampler.add(task, template, template_type, record)
                    continue
            if on_error == "fail":
                raise ChaseError(f"{item.describe()} (use --on-error skip to quarantine bad rows)")
            rejections.append(item)
            report.quarantined += 1
        seen: set[str] = set()
        for record in sampler.records():
            if record.id in seen:
                report.duplicates += 1
                report.tasks[record.meta["task"]]["kept"] -= 1
                continue
            seen.add(record.id)
            report.kept += 1
            yield record
        info["seconds"] = round(time.time() - started, 3)

    return records(), report, rejections, info


def write_mixture_pool(source: str, out: str | Path, options: MixtureOptions, *, on_error: str = "fail",
                       split: str = "train", progress=None, allow_empty: bool = False) -> MixtureReport:
    """Build the mixture into a pool file (quarantine and manifest beside it, as ``chase pool build``);
    a mixture that keeps no row is an error unless ``allow_empty``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from chasing_random.data.pool import POOL_SCHEMA, WRITE_BATCH, _check_outputs, quarantine_path
    from chasing_random.store import atomic_path, write_manifest

    started = time.time()
    out = Path(out)
    records, report, rejections, info = build_flan_mixture(source, options, on_error=on_error, split=split,
                                                           progress=progress)
    _check_outputs(out)
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, POOL_SCHEMA) as writer:
        batch: list[dict] = []
        for record in records:
            batch.append(record.as_row())
            if len(batch) >= WRITE_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=POOL_SCHEMA))
                batch = []
        if not report.kept and not allow_empty:
            raise ChaseError(f"{out}: the mixture keeps no row (read {report.read}, dropped "
                             f"{dict(sorted(report.dropped.items()))}, quarantined {report.quarantined}); nothing "
                             "written; check --template-types and --weights, or pass --allow-empty")
        if batch or report.kept == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=POOL_SCHEMA))
    qpath = quarantine_path(out)
    qpath.unlink(missing_ok=True)  # a quarantine file from an earlier build would no longer be true
    if rejections:
        with atomic_path(qpath) as tmp:
            tmp.write_text("".join(json.dumps(r.as_row(), ensure_ascii=False) + "\n" for r in rejections),
                           encoding="utf-8")
    config = {"per_task": options.per_task, "weights": options.weights, "total": options.total,
              "seed": options.seed, "template_types": list(options.template_types),
              "exclude_t0": options.exclude_t0, "rows": options.rows, "on_error": on_error}
    write_manifest(out, kind="pool", inputs={"source": "flan-mixture", **info}, config=config, started=started,
                   extra={"counts": report.as_dict()})
    return report
