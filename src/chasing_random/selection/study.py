"""The study's released subsets as a strategy (``study:cherry`` in an experiment) and as an import.

``study:NAME`` reads ``{dataset}_{NAME}_{budget}[_{trial}].jsonl`` from ``subsets_dir`` for every
budget of the run, matches each row to the pool by content (``data.study_subsets``) and returns
the matched pool ids in file order. The study's budgets are separate files, not prefixes of one
ranking, so each budget keeps its own list, as strictrandom does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from chasing_random.data.pool import pool_name, read_pool
from chasing_random.data.study_subsets import (
    MatchedFile,
    PoolIndex,
    find_study_file,
    imported_label,
    match_study_file,
    study_files,
)
from chasing_random.errors import ChaseError
from chasing_random.selection.base import Ranking, SelectionContext, register, subset_filename, write_jsonl
from chasing_random.store import atomic_path, write_manifest

STUDY_PREFIX = "study:"


def _warnings(matched: MatchedFile) -> list[str]:
    if not matched.unmatched:
        return []
    first = matched.unmatched[0]
    return [f"{matched.file.path.name}: {len(matched.unmatched)} of {matched.rows} rows match no pool row "
            f"(first at line {first['line']}: {first['reason']})"]


@register("study")
def study(ctx: SelectionContext) -> Ranking:
    """The study's released subset of each budget, matched to the pool by content (``study:NAME``)."""
    opts = ctx.options
    if not opts.study_strategy:
        raise ChaseError("name the study's strategy: `study:cherry` in an experiment, or --study-strategy")
    if not opts.subsets_dir:
        raise ChaseError(f"strategy 'study:{opts.study_strategy}' needs subsets_dir (the folder of the study's "
                         "subset files)")
    dataset = opts.dataset or pool_name(ctx.pool_path)
    index = PoolIndex(ctx.pool)
    per_budget, info, warnings = {}, {}, []
    for budget in ctx.budgets:
        matched = match_study_file(find_study_file(opts.subsets_dir, dataset, opts.study_strategy, budget,
                                                   opts.trial), index)
        if not matched.ids:
            raise ChaseError(f"{matched.file.path}: none of its {matched.rows} rows matches a row of the pool "
                             f"{ctx.pool_path}; is it the pool the study selected from?")
        per_budget[budget] = matched.ids
        info[str(budget)] = matched.summary()
        warnings.extend(_warnings(matched))
    largest = per_budget[max(ctx.budgets)]
    return Ranking(largest, per_budget=per_budget, info={"study_files": info}, warnings=warnings,
                   name=imported_label(opts.study_strategy, opts.trial))


def import_study_subsets(folder: str | Path, pools: dict[str, str | Path], out_dir: str | Path) -> dict:
    """Match every study file of the named datasets to its pool and write them as this project's
    subsets (``{pool}_study-{strategy}_{budget}[_{trial}].jsonl``), with ``unmatched.jsonl`` and a
    manifest; returns the manifest."""
    started = time.time()
    out_dir = Path(out_dir)
    files = study_files(folder)
    skipped = sorted({f.dataset for f in files} - set(pools))
    files = [f for f in files if f.dataset in pools]
    if not files:
        raise ChaseError(f"{folder}: no study files for the datasets given with --pool ({', '.join(pools)}); "
                         f"the folder has {', '.join(skipped)}")
    indexes, by_ids, summaries, unmatched, written = {}, {}, [], [], []
    for study_file in files:
        if study_file.dataset not in indexes:
            frame = read_pool(pools[study_file.dataset])
            indexes[study_file.dataset] = PoolIndex(frame)
            by_ids[study_file.dataset] = frame.set_index("id", drop=False)
        matched = match_study_file(study_file, indexes[study_file.dataset])
        summaries.append(matched.summary())
        unmatched.extend(matched.unmatched)
        rows = by_ids[study_file.dataset].loc[matched.ids, ["id", "input", "target"]].to_dict("records") if matched.ids else []
        budget = study_file.budget if study_file.budget is not None else len(rows)
        name = subset_filename(pool_name(pools[study_file.dataset]), imported_label(study_file.strategy),
                               budget, study_file.trial)
        write_jsonl(out_dir / name, rows)
        written.append(name)
    with atomic_path(out_dir / "unmatched.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in unmatched), encoding="utf-8")
    rows_total = sum(s["rows"] for s in summaries)
    matched_total = sum(s["matched"] for s in summaries)
    return write_manifest(out_dir / "import", kind="study-import",
                          inputs={"folder": str(folder), "pools": {k: str(v) for k, v in pools.items()}},
                          config={}, started=started,
                          extra={"files": summaries, "written": written, "skipped_datasets": skipped,
                                 "rows": rows_total, "matched": matched_total,
                                 "matched_share": round(matched_total / rows_total, 4) if rows_total else 0.0,
                                 "unmatched_file": "unmatched.jsonl"})
