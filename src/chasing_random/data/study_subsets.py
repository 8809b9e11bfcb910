"""The study's released subsets as inputs, and this project's subsets in the study's and other layouts.

The study released every strategy's subsets as ``{dataset}_{strategy}_{budget}[_{trial}].jsonl`` of
``{input, target}`` (and ``flan_full.jsonl`` in the nested ``{"task": {input, target}}`` form). An
imported file is matched to a pool row by content: first by the pool's content-hash id, then by
the text with all whitespace removed, which recognises the study's no-separator join of
instruction and context against a pool built with a blank line (and any other whitespace-only
difference). Rows that match nothing are reported with file and line, never guessed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chasing_random.data.readers import RawRow, read_rows
from chasing_random.data.records import RowError, record_id
from chasing_random.data.sources import AdapterOptions, flan
from chasing_random.errors import ChaseError
from chasing_random.store import note_input

STUDY_PATTERN = "{dataset}_{strategy}_{budget}[_{trial}].jsonl (or {dataset}_full.jsonl)"
_NAME = re.compile(r"^(?P<dataset>[A-Za-z0-9-]+)_(?P<strategy>[A-Za-z][A-Za-z0-9-]*)_(?P<budget>\d+)"
                   r"(?:_(?P<trial>\d+))?\.jsonl$")
_FULL = re.compile(r"^(?P<dataset>[A-Za-z0-9-]+)_full\.jsonl$")
EXPORT_FORMATS = ("study", "sharegpt", "alpaca")
IMPORTED_PREFIX = "study-"


@dataclass(frozen=True)
class StudyFile:
    """What a study file's name says: dataset, strategy, budget (None for ``full``) and trial."""

    path: Path
    dataset: str
    strategy: str
    budget: int | None
    trial: int | None


def parse_study_name(path: str | Path) -> StudyFile:
    """Parse a study file name; a name that does not parse is an error naming the expected pattern."""
    path = Path(path)
    match = _NAME.match(path.name)
    if match:
        trial = match["trial"]
        return StudyFile(path, match["dataset"], match["strategy"], int(match["budget"]),
                         None if trial is None else int(trial))
    match = _FULL.match(path.name)
    if match:
        return StudyFile(path, match["dataset"], "full", None, None)
    raise ChaseError(f"{path}: file name does not follow the study's pattern {STUDY_PATTERN}")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def loose_key(input_text: str, target_text: str) -> str:
    """A key that ignores whitespace: the study's no-separator join matches a blank-line join."""
    payload = json.dumps([_squash(input_text), _squash(target_text)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


class PoolIndex:
    """A pool's rows by exact id and by whitespace-free content, built once per pool."""

    def __init__(self, pool):
        self.pool = pool
        self.ids = set(pool["id"])
        self.loose: dict[str, str] = {}
        for row_id, input_text, target_text in zip(pool["id"], pool["input"], pool["target"]):
            self.loose.setdefault(loose_key(input_text, target_text), row_id)

    def match(self, input_text: str, target_text: str) -> tuple[str | None, str]:
        """(pool id, how it matched: ``id`` or ``whitespace``) or (None, ``none``)."""
        exact = record_id(input_text, target_text)
        if exact in self.ids:
            return exact, "id"
        loose = self.loose.get(loose_key(input_text, target_text))
        return (loose, "whitespace") if loose else (None, "none")


@dataclass
class MatchedFile:
    """One study file matched to a pool: the pool ids in file order, and what did not match."""

    file: StudyFile
    ids: list[str] = field(default_factory=list)
    rows: int = 0
    by: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)

    @property
    def matched_share(self) -> float:
        return len(self.ids) / self.rows if self.rows else 0.0

    def summary(self) -> dict[str, Any]:
        return {"file": str(self.file.path), "dataset": self.file.dataset, "strategy": self.file.strategy,
                "budget": self.file.budget, "trial": self.file.trial, "rows": self.rows, "matched": len(self.ids),
                "matched_share": round(self.matched_share, 4), "matched_by": dict(sorted(self.by.items())),
                "duplicates": self.duplicates, "unmatched": len(self.unmatched)}


def match_study_file(study: StudyFile, index: PoolIndex) -> MatchedFile:
    """Read one study file and match each row to the pool; rows stay in file order (the study's
    training read them in that order); a repeated row keeps its first place."""
    result = MatchedFile(study)
    note_input(study.path)
    seen: set[str] = set()
    options = AdapterOptions()
    for item in read_rows(study.path):
        result.rows += 1
        if not isinstance(item, RawRow):
            result.unmatched.append({"file": item.file, "line": item.line, "reason": f"{item.field}: {item.reason}"})
            continue
        try:
            record = flan(item.row, item.line, options)  # flat {input, target} or nested {task: {...}}
        except RowError as exc:
            result.unmatched.append({"file": str(study.path), "line": item.line,
                                     "reason": f"field '{exc.field}': {exc.reason}"})
            continue
        row_id, how = index.match(record.input, record.target)
        if row_id is None:
            result.unmatched.append({"file": str(study.path), "line": item.line,
                                     "reason": "matches no pool row", "input": record.input[:200]})
            continue
        if row_id in seen:
            result.duplicates += 1
            continue
        seen.add(row_id)
        result.ids.append(row_id)
        result.by[how] = result.by.get(how, 0) + 1
    return result


def study_files(folder: str | Path, dataset: str | None = None) -> list[StudyFile]:
    """Every ``*.jsonl`` under a folder parsed as a study file (optionally of one dataset)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChaseError(f"{folder}: not a folder of study subset files")
    files = [parse_study_name(p) for p in sorted(folder.glob("*.jsonl"))]
    if dataset is not None:
        files = [f for f in files if f.dataset == dataset]
    if not files:
        raise ChaseError(f"{folder}: no study subset files" + (f" for dataset '{dataset}'" if dataset else "")
                         + f" (expected names like {STUDY_PATTERN})")
    return files


def find_study_file(folder: str | Path, dataset: str, strategy: str, budget: int, trial: int | None) -> StudyFile:
    """The study file of one (dataset, strategy, budget, trial), or an error naming the file expected."""
    name = f"{dataset}_{strategy}_{budget}" + (f"_{trial}" if trial is not None else "") + ".jsonl"
    path = Path(folder) / name
    if not path.is_file():
        raise ChaseError(f"{path}: no such study subset file (expected {STUDY_PATTERN})")
    return parse_study_name(path)


def imported_label(strategy: str, trial: int | None = None) -> str:
    """The strategy label an imported subset gets in this project's file names (``study-cherry``)."""
    return IMPORTED_PREFIX + strategy + (f"-trial{trial}" if trial is not None else "")


def export_rows(rows: list[dict], layout: str) -> str:
    """Subset rows (``id``, ``input``, ``target``) as file text in the study's or another layout."""
    if layout == "study":
        return "".join(json.dumps({"input": r["input"], "target": r["target"]}, ensure_ascii=False) + "\n"
                       for r in rows)
    if layout == "sharegpt":
        items = [{"id": r["id"], "conversations": [{"from": "human", "value": r["input"]},
                                                    {"from": "gpt", "value": r["target"]}]} for r in rows]
    elif layout == "alpaca":
        items = [{"instruction": r["input"], "input": "", "output": r["target"]} for r in rows]
    else:
        raise ChaseError(f"unknown --format '{layout}'; valid: {', '.join(EXPORT_FORMATS)}")
    return json.dumps(items, ensure_ascii=False, indent=1) + "\n"


def export_name(subset: Path, layout: str, dataset: str | None = None) -> str:
    """The exported file's name: the study's ``{dataset}_{strategy}_{budget}[_{trial}]`` stem, ``.jsonl``
    for the study's layout and ``.json`` (a JSON list) for ShareGPT and Alpaca."""
    stem = subset.stem
    if dataset is not None:
        stem = dataset + stem[stem.index("_"):] if "_" in stem else dataset
    return stem + (".jsonl" if layout == "study" else ".json")
