"""The selection framework: a strategy returns a ``Ranking``; budgets are prefixes of it.

Strategies never load models, build judges or train: they ask the context's ``tables``
(``scoring.tables.ScoreTables``) for cached score tables.
``write_selection`` turns a ranking into the subset files, the full ranking file and a manifest.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, get_type_hints

import numpy as np
import pandas as pd
import pyarrow as pa

from chasing_random.data.pool import open_pool, pool_batches, pool_name
from chasing_random.errors import ChaseError
from chasing_random.judges.factory import CACHE_FOLDER, JudgeSpec, parse_judge_options
from chasing_random.scoring.tables import ScoreTables
from chasing_random.store import (
    ArtifactStore,
    atomic_path,
    ensure_folder,
    write_manifest,
)

DEFAULT_MODEL = "smollm2-135m-instruct"  # the packaged model: default scorer, embedder and tokenizer
JSONL_BLOCK = 4096  # lines formatted at once when writing a ranking or subset file
SUBSET_CHUNK = 200_000  # subset rows held at once: a larger subset is gathered in several reads of the pool


def option(default: Any, help: str, *, flag: str | None = None, cli_type: Any = None):
    """A strategy option declared once: its default, its ``--help`` text and (when the field's type is not
    a CLI type) the type and flag ``chase select`` uses. The CLI options and the config validation are
    made from these declarations."""
    return field(default=default, metadata={"help": help, "flag": flag, "cli_type": cli_type})


@dataclass
class SelectOptions:
    """Every option a strategy may read; each strategy documents the ones it uses."""

    seed: int = option(0, "Seed (trial for random; tie-break and sampling elsewhere).")
    batch_size: int = option(8, "Rows per model batch.")
    trust_remote_code: bool = option(False, "Allow models with custom code (off by default).")
    dtype: str = option("float32", "Model dtype for scoring: float32, bfloat16 or auto (bf16 on native-bf16 "
                                   "hardware).")
    # model-free strategies
    length_unit: str = option("chars", "longest: chars (the study) or tokens.")
    tokenizer: str | None = option(None, "longest: tokenizer for --length-unit tokens.")
    source_pool: str | None = option(None, "strictrandom: draw from this whole-source pool.")
    # loss-based strategies (superfilter, cherry)
    model: str | None = option(None, "superfilter/cherry: scoring or base model.")
    template: str | None = option(None, "superfilter/cherry: prompt template.")
    max_length: int | None = option(None, "superfilter/cherry: max tokens per sequence.")
    reference: str | None = option(None, "superfilter: superfiltering; cherry: cherry-wiz, cherry-alpaca or "
                                         "cherry-wiz-as-shipped (the authors' own IFD texts).")
    direct_prefix: str | None = option(None, "superfilter/cherry: direct-pass prefix text instead of the "
                                             "template's (e.g. '<|endoftext|>').")
    ifd_max: float = option(1.0, "superfilter/cherry: drop rows whose IFD exceeds this.")
    diversity: bool = option(False, "superfilter: diversity step over embeddings.")
    embedder: str = option("minilm", "Embedding model for diversity steps.")
    pooling: str = option("mean", "Embedding pooling for causal LMs: mean or last-token.")
    clusters: int = option(100, "cherry: KMeans clusters of the pre-experience sample.")
    per_cluster: int = option(10, "cherry: samples per cluster.")
    skip_pre_experience: bool = option(False, "cherry: score with the base model.")
    preset: str = option("cpu-lora", "cherry: training preset of the pre-experience fine-tune.")
    # judge-based strategies (alpagasus, deita)
    judge: str | None = option(None, "alpagasus/deita: judge or scorer spec (local:NAME or openai:MODEL; default: "
                                     "the experiment's judge in chase run).")
    prompt: str = option("study", "alpagasus: study or original prompt.")
    parse: str = option("first-number", "alpagasus: first-number or paper (the study's bug).")
    rating_mode: str | None = option(None, "alpagasus: forward (local default) or generate.")
    threshold: float | None = option(None, "alpagasus: keep score >= threshold (study 4).")
    score_limit: int | None = option(None, "alpagasus/deita/superfilter: score a seeded sample of N rows; the rest "
                                           "are excluded as not scored.")
    max_failure_rate: float = option(0.05, "Judge failures above this rate are an error.")
    score: str = option("quality", "deita: evol, quality (the study) or complexity.")
    complexity_scorer: str | None = option(None, "deita: complexity scorer model.")
    quality_scorer: str | None = option(None, "deita: quality scorer model.")
    diversity_threshold: float = option(0.9, "deita: cosine threshold of the diversity filter.")
    judge_options: list[str] | dict[str, Any] | None = option(
        None, "Judge backend option KEY=VALUE, repeatable (e.g. base_url=http://127.0.0.1:8000/v1); a mapping in "
              "an experiment file.", flag="--judge-option", cli_type=Optional[list[str]])
    retry_failed: bool = option(True, "alpagasus/deita: ask the judge again for rows that failed in a stored score "
                                      "table (the default; answered rows come from the response cache).")
    allow_empty: bool = option(False, "Write empty subsets instead of failing when nothing is selected.")
    # the study's released subsets (study:NAME)
    study_strategy: str | None = option(None, "study: the study's strategy name (study:NAME sets it).")
    subsets_dir: str | None = option(None, "study:NAME: folder of the study's released subsets.")
    dataset: str | None = option(None, "study:NAME: dataset prefix of the study's file names (default: the "
                                       "pool's name).")
    trial: int | None = option(None, "study:NAME: the study's trial suffix (random/strictrandom).")
    # later replications' strategies (tokenlength, rds, kcenter, zip, askllm, scores)
    length_field: str = option("response", "tokenlength: response or both (prompt + response).")
    embed_field: str = option("input", "rds/kcenter: text embedded per row: input, target or both.")
    queries: str | None = option(None, "rds: targeted queries (ifeval, alpaca_eval, file:PATH); none = untargeted "
                                       "(a held-out pool sample).")
    query_limit: int | None = option(None, "rds: seeded sample of N queries.")
    zip_k1: int = option(10000, "zip: K1 candidates re-scored per round (global stage).")
    zip_k2: int = option(200, "zip: K2 kept for the fine stage (local coarse stage).")
    zip_k3: int = option(100, "zip: K3 added per round (local fine stage).")
    from_file: str | None = option(None, "scores: JSONL/JSON/Parquet keyed by id or instruction.", flag="--from")
    column: str | None = option(None, "scores: the score column of --from.")
    ascending: bool = option(False, "scores: lowest first.")
    # decontamination: a `chase pool decontaminate` file; flag its rows, or exclude them too
    contaminated: str | None = option(None, "A `chase pool decontaminate` file: count its rows per subset.")
    exclude_contaminated: bool = option(False, "With --contaminated: exclude those rows.")
    extra: dict[str, Any] = field(default_factory=dict)


def option_fields() -> list[tuple[str, Any, Any, dict]]:
    """``(name, type, default, metadata)`` of every declared option (``extra`` is not one)."""
    hints = get_type_hints(SelectOptions)
    return [(f.name, hints[f.name], f.default, dict(f.metadata)) for f in dataclasses.fields(SelectOptions)
            if "help" in f.metadata]


def validate_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check strategy options from an experiment file against the declarations: names and types."""
    import pydantic

    valid = {name for name, *_ in option_fields()} | {"extra"}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(f"unknown strategy options {unknown}; valid: {', '.join(sorted(valid))}")
    try:
        pydantic.TypeAdapter(SelectOptions).validate_python(options, strict=False)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"strategy option '{'.'.join(map(str, first['loc']))}': {first['msg']}") from None
    return options


class SelectionContext:
    """What a strategy sees: the pool's score tables (``tables``, which also read the pool), the budgets
    asked for, options, the store and the run's default judge (the experiment's ``judge``; None from
    ``chase select``).

    ``pool`` (a DataFrame) is read on first use, once for every table and seed; strategies that need
    only some columns read them with ``column`` (or ``tables.column_chunks``), so a million-row pool is
    never held whole.
    """

    def __init__(self, pool_path: Path, pool: pd.DataFrame | None, budgets: list[int], options: SelectOptions,
                 store: ArtifactStore, default_judge: JudgeSpec | None = None, tables: ScoreTables | None = None):
        self.pool_path = Path(pool_path)
        self.tables = tables or ScoreTables(self.pool_path, store, pool)
        self.budgets = budgets
        self.options = options
        self.store = store
        self.default_judge = default_judge

    @property
    def pool(self) -> pd.DataFrame:
        return self.tables.pool

    @property
    def num_rows(self) -> int:
        return self.tables.num_rows

    def column(self, name: str) -> list:
        """One pool column as a list, without reading the others."""
        return self.tables.column(name)

    def judge(self, spec: str | None, fallback: str | None = None) -> JudgeSpec | None:
        """The judge a strategy uses: ``spec`` (a bare name means local) with ``judge_options``, else the
        run's default judge with them on top, else ``fallback``; replies cached in the store."""
        o = self.options
        if spec:
            chosen = JudgeSpec.parse(spec, o.judge_options)
        elif self.default_judge is not None:
            chosen = self.default_judge.with_options(**parse_judge_options(o.judge_options))
        elif fallback:
            chosen = JudgeSpec.parse(fallback, o.judge_options)
        else:
            return None
        return (chosen.with_cache(self.store.root / CACHE_FOLDER)
                .local_defaults(batch_size=o.batch_size, dtype=o.dtype, trust_remote_code=o.trust_remote_code))


@dataclass
class Ranking:
    """A strategy's answer: ids best first, ids excluded by reason, and what it measured.

    ``per_budget`` is set only by strategies whose budgets are not nested (strictrandom), and
    ``lookup`` (that pool's file) only when ids come from another pool (strictrandom drawing from the whole source).
    ``cost`` holds ``device_hours``, ``device`` and ``api_tokens``: what the scores this ranking used cost
    to make, the same whether they were computed by this call or reused from the store.
    ``name`` labels the files when a variant must not overwrite the plain strategy's (superfilter-diversity).
    """

    ids: list[str]
    excluded: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)
    per_budget: dict[int, list[str]] | None = None
    lookup: Path | None = None
    name: str | None = None


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its ranking function, whether its seed names a trial, and whether it
    looks at evaluation data (``targeted``: a bool, or a function of the options for strategies
    such as RDS+ whose mode decides it)."""

    name: str
    rank: Callable[[SelectionContext], Ranking]
    seeded_trials: bool
    description: str
    targeted: bool | Callable[[SelectOptions], bool] = False

    def is_targeted(self, options: SelectOptions) -> bool:
        """Whether this run of the strategy reads evaluation data (a targeted win answers another question)."""
        return bool(self.targeted(options) if callable(self.targeted) else self.targeted)


STRATEGIES: dict[str, StrategySpec] = {}


def register(name: str, *, seeded_trials: bool = False, targeted: bool | Callable[[SelectOptions], bool] = False):
    """Decorator that adds a ranking function to the registry under ``name``."""

    def wrap(fn: Callable[[SelectionContext], Ranking]):
        STRATEGIES[name] = StrategySpec(name, fn, seeded_trials, (fn.__doc__ or "").strip().splitlines()[0],
                                        targeted)
        return fn

    return wrap


def split_strategy_name(name: str) -> tuple[str, dict[str, Any]]:
    """``study:cherry`` is the ``study`` strategy with ``study_strategy=cherry``; other names stand alone."""
    base, _, argument = name.partition(":")
    if base == "study" and argument:
        return base, {"study_strategy": argument}
    return name, {}


def get_strategy(name: str) -> StrategySpec:
    """The strategy with this name (``study:NAME`` included), or an error listing the valid names."""
    import chasing_random.selection  # noqa: F401  (fills the registry)

    name = split_strategy_name(name)[0]
    if name not in STRATEGIES:
        raise ChaseError(f"unknown strategy '{name}'; valid strategies: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


def rank_order(scores: np.ndarray, seed: int) -> np.ndarray:
    """Positions by score descending; equal scores keep a seeded shuffle order."""
    order = np.random.default_rng(seed).permutation(len(scores))
    return order[np.argsort(-scores[order], kind="stable")]


def rank_by_score(ids: list[str], scores: np.ndarray, seed: int) -> list[str]:
    """Ids by score descending; equal scores keep a seeded shuffle order."""
    return [ids[i] for i in rank_order(scores, seed)]


def not_scored(score_limit: int) -> str:
    """The exclusion reason of pool rows outside a strategy's ``--score-limit`` sample."""
    return f"not scored (--score-limit {score_limit})"


def subset_filename(pool: str, strategy: str, budget: int, seed: int | None) -> str:
    """``{pool}_{strategy}_{budget}[_{seed}].jsonl``: the name every later stage expects."""
    return f"{pool}_{strategy}_{budget}" + (f"_{seed}" if seed is not None else "") + ".jsonl"


def run_stem(pool: str, strategy: str, seed: int | None) -> str:
    """Stem of a selection run's ranking and manifest files."""
    return f"{pool}_{strategy}" + (f"_{seed}" if seed is not None else "")


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Write rows as sorted-key JSON lines atomically, a block of lines at a time."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        block: list[dict] = []
        for row in rows:
            block.append(row)
            if len(block) >= JSONL_BLOCK:
                handle.write(_jsonl(block))
                block = []
        handle.write(_jsonl(block))


def _rows_at(pool_path: Path, positions: np.ndarray) -> Iterator[dict]:
    """The ``id, input, target`` rows at ``positions`` of a pool, in that order.

    Reads the pool once per ``SUBSET_CHUNK`` positions (stopping past the last one), holding only that many rows.
    """
    for start in range(0, len(positions), SUBSET_CHUNK):
        wanted = positions[start:start + SUBSET_CHUNK]
        order = np.argsort(wanted, kind="stable")
        ascending = wanted[order]
        found: list[dict | None] = [None] * len(wanted)
        offset = 0
        for table in pool_batches(pool_path, ("id", "input", "target")):
            lo, hi = np.searchsorted(ascending, [offset, offset + table.num_rows])
            if hi > lo:
                picked = table.take(pa.array(ascending[lo:hi] - offset)).to_pylist()
                for slot, row in zip(order[lo:hi], picked):
                    found[slot] = row
            offset += table.num_rows
            if offset > ascending[-1]:
                break
        yield from found


def apply_contamination(ranking: Ranking, ctx: SelectionContext) -> dict | None:
    """With ``--contaminated FILE``: the flagged ids of this pool, and with ``--exclude-contaminated``
    those ids taken out of the ranking (budgets fill from the next rows) as excluded ``contaminated``."""
    if not ctx.options.contaminated:
        return None
    from chasing_random.data.decontaminate import read_contaminated

    flagged = set(read_contaminated(ctx.options.contaminated)) & set(ctx.column("id"))
    if ctx.options.exclude_contaminated and flagged:
        removed = [i for i in ranking.ids if i in flagged]
        ranking.ids = [i for i in ranking.ids if i not in flagged]
        if ranking.per_budget is not None:
            ranking.per_budget = {b: [i for i in ids if i not in flagged] for b, ids in ranking.per_budget.items()}
        if removed:
            ranking.excluded["contaminated"] = removed
    return {"file": str(ctx.options.contaminated), "excluded": ctx.options.exclude_contaminated,
            "flagged_in_pool": len(flagged), "ids": flagged}


def write_selection(ranking: Ranking, ctx: SelectionContext, strategy: str, out_dir: Path,
                    seed: int | None, started: float, targeted: bool = False,
                    contamination: dict | None = None) -> dict:
    """Write subsets (prefixes of the ranking), the ranking file and the manifest; return the manifest."""
    ensure_folder(out_dir, "selection folder (--out)")
    name = pool_name(ctx.pool_path)
    source = ranking.lookup if ranking.lookup is not None else ctx.pool_path
    position: dict[str, int] = {}
    ids_in_order = (i for table in pool_batches(source, ["id"]) for i in table.column("id").to_pylist())
    for row, i in enumerate(ids_in_order):
        position.setdefault(i, row)
    if len(set(ranking.ids)) != len(ranking.ids):
        raise ChaseError(f"strategy '{strategy}' returned duplicate ids (a bug)")
    unknown = [i for i in ranking.ids if i not in position]
    if unknown:
        raise ChaseError(f"strategy '{strategy}' returned {len(unknown)} ids not in the pool (a bug)")
    label = ranking.name or strategy
    chosen = any(ranking.per_budget.values()) if ranking.per_budget is not None else bool(ranking.ids)
    if not chosen and not ctx.options.allow_empty:
        excluded = ", ".join(f"{len(ids)} {reason}" for reason, ids in sorted(ranking.excluded.items())) or "none"
        raise ChaseError(f"{ctx.pool_path}: strategy '{label}' selected no row of {ctx.num_rows} (excluded: "
                         f"{excluded}); nothing written; loosen its options or pass --allow-empty")
    stem = run_stem(name, label, seed)
    write_jsonl(out_dir / f"{stem}.ranking.jsonl",
                 ({"rank": r, "id": i, **({"score": ranking.scores[i]} if ranking.scores else {})}
                  for r, i in enumerate(ranking.ids)))
    subsets, underflow = {}, {}
    for budget in ctx.budgets:
        ids = ranking.per_budget[budget] if ranking.per_budget is not None else ranking.ids[:budget]
        if len(ids) < budget:
            underflow[str(budget)] = len(ids)
        path = out_dir / subset_filename(name, label, budget, seed)
        write_jsonl(path, _rows_at(source, np.array([position[i] for i in ids], dtype=np.int64)))
        subsets[str(budget)] = {"path": path.name, "rows": len(ids)}
        if contamination is not None:
            subsets[str(budget)]["contaminated"] = sum(i in contamination["ids"] for i in ids)
    excluded_counts = {reason: len(ids) for reason, ids in sorted(ranking.excluded.items())}
    excluded_rows = [{"id": i, "reason": reason} for reason, ids in sorted(ranking.excluded.items()) for i in ids]
    with atomic_path(out_dir / f"{stem}.excluded.jsonl") as tmp:
        tmp.write_text(_jsonl(excluded_rows), encoding="utf-8")
    manifest_file = out_dir / f"{stem}.manifest.json"
    manifest = write_manifest(
        manifest_file.with_name(stem), kind="selection",
        inputs={"pool": str(ctx.pool_path), "pool_sha256_16": ctx.tables.fingerprint},
        config={"strategy": strategy, "label": label, "seed": seed, "budgets": ctx.budgets, "options": vars(ctx.options)},
        started=started,
        extra={"pool_rows": ctx.num_rows, "ranked": len(ranking.ids), "excluded": excluded_counts,
               "reconciles": (None if ranking.per_budget is not None
                              else len(ranking.ids) + sum(excluded_counts.values()) == ctx.num_rows),
               "underflow": underflow, "subsets": subsets, "ranking_file": f"{stem}.ranking.jsonl",
               "excluded_file": f"{stem}.excluded.jsonl",
               "info": ranking.info, "warnings": ranking.warnings, "cost": ranking.cost, "targeted": targeted,
               "contamination": None if contamination is None else
               {k: v for k, v in contamination.items() if k != "ids"}})
    return manifest


def select(pool_path: str | Path, strategy: str, budgets: list[int], out_dir: str | Path,
           options: SelectOptions | None = None, seeds: list[int] | None = None,
           store: ArtifactStore | None = None, default_judge: JudgeSpec | None = None) -> list[dict]:
    """Rank a pool with a strategy and write its subsets, once per seed; returns the manifests.
    ``default_judge`` is the judge of judge-based strategies that name none (the experiment's)."""
    spec = get_strategy(strategy)
    strategy, implied = split_strategy_name(strategy)
    options = SelectOptions(**{**vars(options or SelectOptions()), **implied})
    if any(b <= 0 for b in budgets):
        raise ChaseError(f"budgets must be positive integers, got {budgets}")
    pool_path = Path(pool_path)
    pool_rows = open_pool(pool_path).metadata.num_rows
    if strategy == "full":
        budgets = [pool_rows]
    if not budgets:
        raise ChaseError("give at least one budget (--budgets 1000,5000)")
    manifests = []
    tables = ScoreTables(pool_path, store or ArtifactStore.default())  # read and hashed once for every seed
    if any(seed < 0 for seed in (seeds or [options.seed])):
        raise ChaseError(f"--seed/--seeds: seeds are non-negative integers, got {seeds or options.seed}")
    for seed in (seeds or [options.seed]):
        started = time.time()
        opts = SelectOptions(**{**vars(options), "seed": seed})
        ctx = SelectionContext(pool_path, None, sorted(set(budgets)), opts, tables.store, default_judge, tables)
        ranking = spec.rank(ctx)
        contamination = apply_contamination(ranking, ctx)
        manifests.append(write_selection(ranking, ctx, strategy, Path(out_dir),
                                         seed if spec.seeded_trials else None, started,
                                         targeted=spec.is_targeted(opts), contamination=contamination))
    return manifests
