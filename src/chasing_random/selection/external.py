"""External scores: rank the pool by any per-row score a user brings (a file keyed by id or instruction).

This makes the tool the random-referenced judge of anyone's scorer: the join's coverage is reported,
pool rows without a score are excluded with a reason, and a file key that matches several pool rows
(the same instruction twice) scores them all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from chasing_random.errors import ChaseError
from chasing_random.selection.base import Ranking, SelectionContext, rank_by_score, register

KEY_COLUMNS = ("id", "instruction", "input")


def read_scores(path: Path, column: str) -> tuple[pd.DataFrame, str]:
    """The score file (JSONL, JSON or Parquet) and its key column: ``id``, else ``instruction``/``input``."""
    if not path.exists():
        raise ChaseError(f"{path}: score file not found")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=path.suffix != ".json", dtype=False)
    except ValueError as exc:
        raise ChaseError(f"{path}: not a readable JSONL/JSON/Parquet score file ({exc})") from None
    key = next((k for k in KEY_COLUMNS if k in frame.columns), None)
    if key is None:
        raise ChaseError(f"{path}: no key column; give one of {', '.join(KEY_COLUMNS)} next to '{column}'")
    if column not in frame.columns:
        raise ChaseError(f"{path}: no column '{column}'; columns: {', '.join(map(str, frame.columns))}")
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column].notna() & values.isna()
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise ChaseError(f"{path}, line {line}, field {column}: not a number ({frame[column].iloc[line - 1]!r})")
    frame = pd.DataFrame({"key": frame[key].astype(str), "score": values.astype(float)})
    duplicated = frame["key"].duplicated(keep=False)
    if duplicated.any():
        first = int(np.flatnonzero(duplicated.to_numpy())[1]) + 1
        raise ChaseError(f"{path}, line {first}, field {key}: key {frame['key'].iloc[first - 1][:60]!r} repeats")
    return frame, key


@register("scores")
def external_scores(ctx: SelectionContext) -> Ranking:
    """Rank by a score column of a user's file (--from FILE --column NAME), highest first unless --ascending."""
    o = ctx.options
    if not o.from_file or not o.column:
        raise ChaseError("the scores strategy needs --from FILE and --column NAME")
    frame, key = read_scores(Path(o.from_file), o.column)
    pool_key = ctx.pool["id"] if key == "id" else ctx.pool["input"]
    scores = pool_key.map(dict(zip(frame["key"], frame["score"])))
    ids = np.array(ctx.pool["id"])
    unmatched = ~pool_key.isin(set(frame["key"])).to_numpy()
    missing = ~unmatched & scores.isna().to_numpy()
    keep = ~unmatched & ~missing
    values = scores.to_numpy(dtype=float)[keep]
    ranked = rank_by_score(list(ids[keep]), -values if o.ascending else values, o.seed)
    excluded = {reason: [str(i) for i in ids[mask]] for reason, mask in
                ((f"no row in {Path(o.from_file).name} (joined on {key})", unmatched),
                 (f"empty {o.column}", missing)) if mask.any()}
    matched_keys = len(set(pool_key[~unmatched]))
    info = {"from": str(o.from_file), "column": o.column, "ascending": o.ascending, "joined_on": key,
            "coverage": float(keep.mean()) if len(keep) else 0.0, "pool_rows_scored": int(keep.sum()),
            "file_rows": len(frame), "file_rows_unused": len(frame) - matched_keys}
    by_id = dict(zip(ids[keep], values))
    warnings = [] if info["coverage"] >= 0.5 else [f"only {info['coverage']:.0%} of the pool has a score in {o.from_file}"]
    return Ranking(ranked, excluded=excluded, scores={i: float(by_id[i]) for i in ranked}, info=info,
                   warnings=warnings)
