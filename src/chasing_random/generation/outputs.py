"""AlpacaEval's ``model_outputs.json`` layout, written resumably.

Finished prompts are appended to a sidecar ``OUT.partial.jsonl`` (first line: the run key) as each
batch ends; the final JSON list (``instruction``, ``output``, ``generator``, ``dataset`` and extra
fields) is written atomically in benchmark order and the sidecar removed. A rerun with the same run
key keeps every finished prompt; a different key (other model, template or decoding) starts over.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from chasing_random.store import ensure_folder, jsonl_lines, write_json_atomic
from chasing_random.ui import note_finished

LAYOUT_FIELDS = ("instruction", "output", "generator", "dataset")


def sidecar_path(out: str | Path) -> Path:
    """Where finished prompts of an unfinished run are kept."""
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


class ResumableOutputs:
    """Finished records of one run, keyed by ``benchmark_index``, persisted line by line."""

    def __init__(self, out: str | Path, run_key: str):
        self.out = Path(out)
        self.sidecar = sidecar_path(out)
        self.run_key = run_key
        self.done: dict[int, dict] = {}
        self._load()

    def _load(self) -> None:
        if not self.sidecar.exists():
            return
        lines = [line for _, line in jsonl_lines(self.sidecar)]
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("run_key") != self.run_key:
            self.sidecar.unlink()
            return
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the interruption: redo that prompt
                continue
            self.done[record["benchmark_index"]] = record

    def append(self, records: list[dict]) -> None:
        """Persist finished records (flushed and synced, so a crash keeps them)."""
        ensure_folder(self.out.parent)
        new_file = not self.sidecar.exists()
        with open(self.sidecar, "a", encoding="utf-8") as handle:
            if new_file:
                handle.write(json.dumps({"run_key": self.run_key}) + "\n")
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.done[record["benchmark_index"]] = record
            handle.flush()
            os.fsync(handle.fileno())
        note_finished("generated output", len(records))

    def finalize(self, order: list[int]) -> list[dict]:
        """Write the JSON list in ``order`` atomically and drop the sidecar; return the records."""
        records = [self.done[index] for index in order]
        write_json_atomic(self.out, records)
        if self.sidecar.exists():
            self.sidecar.unlink()
        return records


def read_model_outputs(path: str | Path) -> list[dict]:
    """Read a ``model_outputs.json`` list and check the AlpacaEval fields are present."""
    from chasing_random.errors import ChaseError

    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ChaseError(f"{path}: not a readable model_outputs JSON ({exc})") from None
    if not isinstance(records, list):
        raise ChaseError(f"{path}: expected a JSON list of outputs")
    for number, record in enumerate(records, start=1):
        missing = [f for f in LAYOUT_FIELDS if not isinstance(record, dict) or f not in record]
        if missing:
            raise ChaseError(f"{path}, item {number}, field {missing[0]}: missing")
    return records
