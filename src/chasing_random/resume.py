"""One resume sidecar for runs that finish item by item (generation, pairwise judging).

Finished items are appended to ``SIDECAR`` (first line: ``{"run_key": ...}``), flushed and synced as
each batch ends. A rerun with the same key keeps every finished item; a sidecar left by a run with
another key (other model, inputs or settings) is discarded with a note, and the run starts over. A
line cut by an interruption is skipped, so that item is done again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from chasing_random.store import jsonl_lines
from chasing_random.ui import console


class ResumeLog:
    """Finished items of one run, keyed by ``record[index_field]``, persisted line by line."""

    def __init__(self, sidecar: str | Path, run_key: str, index_field: str):
        self.sidecar = Path(sidecar)
        self.run_key = run_key
        self.index_field = index_field
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
            console.print(f"{self.sidecar}: left by a run with other inputs or settings; starting over")
            self.sidecar.unlink()
            return
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the interruption: redo that item
                continue
            self.done[record[self.index_field]] = record

    def append(self, records: list[dict]) -> None:
        """Persist finished records (flushed and synced, so a crash keeps them)."""
        self.sidecar.parent.mkdir(parents=True, exist_ok=True)
        new_file = not self.sidecar.exists()
        with open(self.sidecar, "a", encoding="utf-8") as handle:
            if new_file:
                handle.write(json.dumps({"run_key": self.run_key}) + "\n")
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.done[record[self.index_field]] = record
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        """The run finished (its output is written): drop the sidecar."""
        if self.sidecar.exists():
            self.sidecar.unlink()
