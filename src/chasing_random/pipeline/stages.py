"""What each kind of stage does: thin calls into the library, plus the stage's done record.

A stage writes its outputs into its own folder of the artifact store and, last, ``stage.json``
(outputs, cost, wall time); a stage whose ``stage.json`` exists is never run again.
"""

from __future__ import annotations

import time
from pathlib import Path

from chasing_random.config import ExperimentConfig, PoolConfig
from chasing_random.errors import ChaseError
from chasing_random.judges.factory import CACHE_FOLDER
from chasing_random.pipeline.plan import DONE_MARKER, Stage
from chasing_random.store import ArtifactStore, redact, write_json_atomic


def _dep(stage: Stage, kind: str, store: ArtifactStore, index: int = 0) -> dict:
    return [d for d in stage.deps if d.kind == kind][index].outputs(store)


def run_pool(stage: Stage, store: ArtifactStore, config: ExperimentConfig) -> dict:
    """Build the pool file (or generate the audit pool)."""
    from chasing_random.data.pool import build_pool
    from chasing_random.data.sources import AdapterOptions

    pool = stage.params.pool
    out = stage.folder(store) / f"{pool.name}.parquet"
    if pool.source == "synth":
        from chasing_random.data.synth import write_synth_pool

        summary = write_synth_pool(pool.n, pool.corrupt, pool.seed, out)
        return {"pool_path": str(out), "counts": summary, **_contamination(pool, out)}
    if pool.source == "flan-mixture":
        from chasing_random.config import MixtureConfig
        from chasing_random.data.flan_mixture import MixtureOptions, load_weights, write_mixture_pool

        mix = pool.mixture or MixtureConfig()
        options = MixtureOptions(per_task=mix.per_task, total=mix.total, seed=pool.seed,
                                 weights=load_weights(mix.weights) if mix.weights else {},
                                 template_types=tuple(mix.template_types), exclude_t0=mix.exclude_t0, rows=mix.rows)
        report = write_mixture_pool(pool.path, out, options, on_error=pool.on_error, split=pool.split)
        return {"pool_path": str(out), "counts": report.as_dict(), **_contamination(pool, out)}
    options = AdapterOptions(join=pool.join, input_field=pool.input_field, target_field=pool.target_field,
                             context_field=pool.context_field)
    report = build_pool(pool.source, pool.path, out, options=options, on_error=pool.on_error,
                        limit=pool.limit, seed=pool.seed, split=pool.split)
    return {"pool_path": str(out), "counts": report.as_dict(), **_contamination(pool, out)}


def _contamination(pool: PoolConfig, pool_path: Path) -> dict:
    """With ``decontaminate: [benchmarks]``: the contaminated-ids file beside the pool and whether to exclude them."""
    if not pool.decontaminate:
        return {}
    from chasing_random.data.decontaminate import contaminated_path, decontaminate

    path = contaminated_path(pool_path)
    manifest = decontaminate(pool_path, pool.decontaminate, path)
    return {"contaminated": str(path), "contaminated_rows": manifest["contaminated"],
            "exclude_contaminated": pool.exclude_contaminated}


def run_selection(stage: Stage, store: ArtifactStore, config: ExperimentConfig) -> dict:
    """Rank the pool with the strategy and write the subsets of every budget; the experiment's judge
    (spec and options) is the default judge of judge-based strategies."""
    from chasing_random.selection.base import SelectOptions, select

    p = stage.params
    pool_out = _dep(stage, "pool", store)
    pool_path = pool_out["pool_path"]
    options = dict(p.options)
    if pool_out.get("contaminated"):
        options.setdefault("contaminated", pool_out["contaminated"])
        options.setdefault("exclude_contaminated", pool_out["exclude_contaminated"])
    if p.arm.strategy == "strictrandom" and len([d for d in stage.deps if d.kind == "pool"]) > 1:
        options["source_pool"] = _dep(stage, "pool", store, 1)["pool_path"]
    unknown = set(options) - set(SelectOptions.__dataclass_fields__)
    if unknown:
        raise ChaseError(f"strategy '{p.arm.label}': unknown options {sorted(unknown)}; "
                         f"valid: {sorted(SelectOptions.__dataclass_fields__)}")
    select_options = SelectOptions(**{**options, "seed": p.arm.seed if p.arm.seed is not None else 0})
    manifest = select(pool_path, p.arm.strategy, list(p.budgets), stage.folder(store), select_options,
                      store=store, default_judge=p.judge.parsed())[0]
    folder = stage.folder(store)
    subsets = {budget: str(folder / info["path"]) for budget, info in manifest["subsets"].items()}
    return {"pool_path": pool_path, "subsets": subsets, "manifest": manifest, "cost": manifest.get("cost", {})}


def run_training(stage: Stage, store: ArtifactStore, config: ExperimentConfig) -> dict:
    """Fine-tune the base model on one subset."""
    from chasing_random.training.sft import train_model

    p = stage.params
    selection = _dep(stage, "selection", store)
    subsets = selection["subsets"]
    subset = next(iter(subsets.values())) if p.arm.budget is None else subsets[str(p.arm.budget)]
    out = stage.folder(store) / "model"
    training = p.training
    manifest = train_model(subset, training.base_model, out, preset=training.preset,
                           overrides=training.overrides, seed=training.seed)
    return {"model_dir": str(out), "subset": subset, "pool_path": selection["pool_path"], "manifest": manifest}


def run_generation(stage: Stage, store: ArtifactStore, config: ExperimentConfig) -> dict:
    """The model's outputs on the benchmark's prompts (the same prompts for every model), in shards of
    ``resources.generation.shard_rows`` prompts."""
    from chasing_random.generation.generate import generate_outputs
    from chasing_random.generation.shards import DEFAULT_SHARD_PROMPTS

    bench, gen = stage.params.benchmark, stage.params.generation
    model_dir = _dep(stage, "training", store)["model_dir"]
    folder = stage.folder(store)
    source = bench.spec.prompts(bench, folder)
    out = folder / "outputs.json"
    generate_outputs(model_dir, source.name, out, subset=bench.subset, limit=source.limit, seed=bench.seed,
                     max_new_tokens=bench.max_new_tokens or bench.spec.max_new_tokens or gen.max_new_tokens,
                     sampling=None if gen.sampling == "greedy" else gen.sampling,
                     batch_size=gen.batch_size, backend=gen.backend,
                     shard_prompts=config.resources.generation.shard_rows or DEFAULT_SHARD_PROMPTS)
    return {"outputs": str(out), "model_dir": model_dir}


def run_evaluation(stage: Stage, store: ArtifactStore, config: ExperimentConfig) -> dict:
    """The benchmark's metric for one model, with its per-prompt scores (the registry's ``evaluate``)."""
    from chasing_random.benchmarks import EvalContext

    p = stage.params
    bench = p.benchmark
    spec = bench.spec
    folder = stage.folder(store)
    folder.mkdir(parents=True, exist_ok=True)
    judge = None
    if spec.needs_judge:
        judge = p.judge.parsed().with_cache(store.root / CACHE_FOLDER)
    if spec.generates:
        generations = [d.outputs(store)["outputs"] for d in stage.deps if d.kind == "generation"]
        ctx = EvalContext(bench, folder, outputs=Path(generations[0]), references=generations[1:], judge=judge)
    else:
        ctx = EvalContext(bench, folder, model_dir=_dep(stage, "training", store)["model_dir"], judge=judge)
    return spec.evaluate(ctx).outputs()


RUNNERS = {"pool": run_pool, "selection": run_selection, "training": run_training,
           "generation": run_generation, "evaluation": run_evaluation}


def run_stage(stage: Stage, store: ArtifactStore, config: ExperimentConfig) -> dict:
    """Run one stage and write its done record last; an interrupted stage leaves no record."""
    started = time.time()
    stage.folder(store).mkdir(parents=True, exist_ok=True)
    outputs = RUNNERS[stage.kind](stage, store, config)
    record = {"kind": stage.kind, "name": stage.name, "key": stage.key, "params": stage.params.to_json(),
              "outputs": outputs, "wall_time_s": round(time.time() - started, 3), "device": config.device}
    write_json_atomic(stage.folder(store) / DONE_MARKER, redact(record))
    return record
