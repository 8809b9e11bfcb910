"""AlpacaEval's ``model_outputs.json`` layout, written resumably from generation shards.

While a run is unfinished its work lives beside the output in ``OUT.shards/``: ``run_key`` (the run
it belongs to) and, per shard layout, ``LAYOUT/NNNNN.parquet`` for every finished shard
(``benchmark_index``, ``output``, ``n_new_tokens``; the file is the shard's completion marker, as for
score tables) and ``LAYOUT/NNNNN.partial.jsonl``, the resume sidecar (``chasing_random.resume``) of a
shard that was running, with its finished batches. The final JSON list (``instruction``, ``output``,
``generator``, ``dataset`` and extra fields) is written atomically in benchmark order and the folder
removed. A rerun with the same run key keeps every finished shard and batch; a folder left by
another key (other model, template or decoding) is discarded with a note, and the run starts over.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from chasing_random.errors import ChaseError
from chasing_random.resume import ResumeLog
from chasing_random.store import ensure_folder, write_text_atomic
from chasing_random.ui import console

LAYOUT_FIELDS = ("instruction", "output", "generator", "dataset")
RUN_KEY_FILE = "run_key"


def shards_folder(out: str | Path) -> Path:
    """Where the shards of an unfinished run are kept."""
    out = Path(out)
    return out.with_name(out.name + ".shards")


class OutputShards:
    """The shard files and resume sidecars of one generation run and one shard layout (picklable:
    Ray workers write their shards' sidecars themselves)."""

    def __init__(self, out: str | Path, run_key: str, layout: str):
        self.root, self.run_key = shards_folder(out), run_key
        self.folder = self.root / layout
        header = self.root / RUN_KEY_FILE
        if self.root.exists():
            if not header.is_file():
                raise ChaseError(f"{self.root}: exists but was not left by a generation run (no {RUN_KEY_FILE} "
                                 "file); move it away, the run keeps its shards there")
            if header.read_text(encoding="utf-8") != run_key:
                console.print(f"{self.root}: left by a run with other inputs or settings; starting over")
                shutil.rmtree(self.root)
        if not self.root.exists():
            ensure_folder(self.root)
            write_text_atomic(header, run_key)

    def shard_path(self, index: int) -> Path:
        """Shard ``index``'s file (its completion marker)."""
        return self.folder / f"{index:05d}.parquet"

    def sidecar(self, index: int) -> ResumeLog:
        """The finished batches of shard ``index`` (records keyed by ``benchmark_index``)."""
        return ResumeLog(self.folder / f"{index:05d}.partial.jsonl", self.run_key, "benchmark_index")

    def answered(self, index: int) -> dict[int, dict]:
        """What shard ``index`` holds so far: every record if finished, else its sidecar's."""
        path = self.shard_path(index)
        if path.exists():
            return {row["benchmark_index"]: row for row in pq.read_table(path).to_pylist()}
        return self.sidecar(index).done

    def close(self) -> None:
        """The run finished (its output is written): drop the shards."""
        shutil.rmtree(self.root, ignore_errors=True)


def read_model_outputs(path: str | Path) -> list[dict]:
    """Read a ``model_outputs.json`` list and check the AlpacaEval fields are present."""
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
