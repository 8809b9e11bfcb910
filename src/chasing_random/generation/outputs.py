"""AlpacaEval's ``model_outputs.json`` layout, written resumably.

Finished prompts are appended to the resume sidecar ``OUT.partial.jsonl`` (``chasing_random.resume``)
as each batch ends; the final JSON list (``instruction``, ``output``, ``generator``, ``dataset`` and
extra fields) is written atomically in benchmark order and the sidecar removed. A rerun with the same
run key keeps every finished prompt; a different key (other model, template or decoding) starts over.
"""

from __future__ import annotations

import json
from pathlib import Path

from chasing_random.resume import ResumeLog
from chasing_random.store import write_json_atomic

LAYOUT_FIELDS = ("instruction", "output", "generator", "dataset")


def sidecar_path(out: str | Path) -> Path:
    """Where finished prompts of an unfinished run are kept."""
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


class ResumableOutputs(ResumeLog):
    """Finished records of one generation run, keyed by ``benchmark_index`` (see ``chasing_random.resume``)."""

    def __init__(self, out: str | Path, run_key: str):
        self.out = Path(out)
        super().__init__(sidecar_path(out), run_key, "benchmark_index")

    def finalize(self, order: list[int]) -> list[dict]:
        """Write the JSON list in ``order`` atomically and drop the sidecar; return the records."""
        records = [self.done[index] for index in order]
        write_json_atomic(self.out, records)
        self.close()
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
