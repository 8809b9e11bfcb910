"""``chase select``: rank a pool with a strategy and write subsets; ``chase select overlap``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from chasing_random.cli import app
from chasing_random.cli.common import echo_json, int_list
from chasing_random.errors import ChaseError
from chasing_random.selection.base import SelectOptions, select
from chasing_random.selection.overlap import pairwise_overlap
from chasing_random.store import ArtifactStore
from chasing_random.ui import console

select_app = typer.Typer(help="Rank a pool with a strategy; budgets are prefixes of the ranking.",
                         invoke_without_command=True)
app.add_typer(select_app, name="select")


@select_app.callback()
def select_command(
    ctx: typer.Context,
    pool: Optional[Path] = typer.Option(None, help="Pool Parquet file."),
    strategy: Optional[str] = typer.Option(None, help="Strategy name (random, strictrandom, longest, full, "
                                                      "superfilter, cherry, alpagasus, deita, tokenlength, "
                                                      "rds, kcenter, zip, askllm, scores)."),
    budgets: Optional[str] = typer.Option(None, help="Comma-separated budgets, e.g. 1000,5000,10000."),
    out: Path = typer.Option(Path("selections"), help="Folder for subsets, ranking and manifest."),
    seed: int = typer.Option(0, help="Seed (trial for random; tie-break and sampling elsewhere)."),
    seeds: Optional[str] = typer.Option(None, help="Several seeds in one call, e.g. 0,1,2 (random trials)."),
    store: Optional[Path] = typer.Option(None, help="Artifact store for score tables (default $CHASE_HOME/store)."),
    batch_size: int = typer.Option(8, help="Rows per model batch."),
    trust_remote_code: bool = typer.Option(False, help="Allow models with custom code (off by default)."),
    dtype: str = typer.Option("float32", help="Model dtype for scoring: float32 or bfloat16."),
    length_unit: str = typer.Option("chars", help="longest: chars (the study) or tokens."),
    tokenizer: Optional[str] = typer.Option(None, help="longest: tokenizer for --length-unit tokens."),
    source_pool: Optional[str] = typer.Option(None, help="strictrandom: draw from this whole-source pool."),
    model: Optional[str] = typer.Option(None, help="superfilter/cherry: scoring or base model."),
    template: Optional[str] = typer.Option(None, help="superfilter/cherry: prompt template."),
    max_length: Optional[int] = typer.Option(None, help="superfilter/cherry: max tokens per sequence."),
    ifd_max: float = typer.Option(1.0, help="superfilter/cherry: drop rows whose IFD exceeds this."),
    diversity: bool = typer.Option(False, help="superfilter: diversity step over embeddings."),
    embedder: str = typer.Option("minilm", help="Embedding model for diversity steps."),
    pooling: str = typer.Option("mean", help="Embedding pooling for causal LMs: mean, weighted-mean or last-token."),
    clusters: int = typer.Option(100, help="cherry: KMeans clusters of the pre-experience sample."),
    per_cluster: int = typer.Option(10, help="cherry: samples per cluster."),
    skip_pre_experience: bool = typer.Option(False, help="cherry: score with the base model."),
    preset: str = typer.Option("cpu-lora", help="cherry: training preset of the pre-experience fine-tune."),
    judge: Optional[str] = typer.Option(None, help="alpagasus/deita: judge or scorer spec."),
    prompt: str = typer.Option("study", help="alpagasus: study or original prompt."),
    parse: str = typer.Option("first-number", help="alpagasus: first-number or paper (the study's bug)."),
    rating_mode: Optional[str] = typer.Option(None, help="alpagasus: forward (local default) or generate."),
    threshold: Optional[float] = typer.Option(None, help="alpagasus: keep score >= threshold (study 4)."),
    score_limit: Optional[int] = typer.Option(None, help="alpagasus/deita/superfilter: score a seeded sample "
                                                        "of N rows; the rest are excluded as not scored."),
    max_failure_rate: float = typer.Option(0.05, help="Judge failures above this rate are an error."),
    score: str = typer.Option("quality", help="deita: evol, quality (the study) or complexity."),
    complexity_scorer: Optional[str] = typer.Option(None, help="deita: complexity scorer model."),
    quality_scorer: Optional[str] = typer.Option(None, help="deita: quality scorer model."),
    diversity_threshold: float = typer.Option(0.9, help="deita: cosine threshold of the diversity filter."),
    judge_options: Optional[list[str]] = typer.Option(None, "--judge-option", help="Judge backend option KEY=VALUE, repeatable (e.g. base_url=http://127.0.0.1:8000/v1)."),
    length_field: str = typer.Option("response", help="tokenlength: response or both (prompt + response)."),
    embed_field: str = typer.Option("input", help="rds/kcenter: text embedded per row: input, target or both."),
    queries: Optional[str] = typer.Option(None, help="rds: targeted queries (ifeval, alpaca_eval, file:PATH); "
                                                     "none = untargeted (a held-out pool sample)."),
    query_limit: Optional[int] = typer.Option(None, help="rds: seeded sample of N queries."),
    zip_k1: int = typer.Option(10000, help="zip: K1 candidates re-scored per round (global stage)."),
    zip_k2: int = typer.Option(200, help="zip: K2 kept for the fine stage (local coarse stage)."),
    zip_k3: int = typer.Option(100, help="zip: K3 added per round (local fine stage)."),
    from_file: Optional[str] = typer.Option(None, "--from", help="scores: JSONL/JSON/Parquet keyed by id or "
                                                                 "instruction."),
    column: Optional[str] = typer.Option(None, help="scores: the score column of --from."),
    ascending: bool = typer.Option(False, help="scores: lowest first."),
    contaminated: Optional[str] = typer.Option(None, help="A `chase pool decontaminate` file: count its rows "
                                                          "per subset."),
    exclude_contaminated: bool = typer.Option(False, help="With --contaminated: exclude those rows."),
) -> None:
    """Rank a pool with a strategy and write DIR/{pool}_{strategy}_{budget}[_{seed}].jsonl.

    Example: chase select --pool alpaca.parquet --strategy random --seeds 0,1,2 --budgets 1000,5000 --out sel/

    Example: chase select --pool alpaca.parquet --strategy scores --from quality.jsonl --column score --budgets 1000
    """
    if ctx.invoked_subcommand is not None:
        return
    if pool is None or strategy is None:
        raise ChaseError("chase select needs --pool and --strategy (see chase select --help)")
    options = SelectOptions(**{k: v for k, v in ctx.params.items()
                               if k in SelectOptions.__dataclass_fields__ and k != "extra"})
    manifests = select(pool, strategy, int_list(budgets, "--budgets"), out, options,
                       seeds=int_list(seeds, "--seeds") or None,
                       store=ArtifactStore(store) if store else None)
    for manifest in manifests:
        kind = "targeted: looks at evaluation data" if manifest["targeted"] else "untargeted"
        table = Table(title=f"{strategy} (seed {manifest['config']['seed']}, {kind})")
        flagged = manifest.get("contamination") is not None
        for name in ("budget", "rows", "file") + (("contaminated",) if flagged else ()):
            table.add_column(name)
        for budget, subset in manifest["subsets"].items():
            table.add_row(budget, str(subset["rows"]), subset["path"],
                          *((str(subset["contaminated"]),) if flagged else ()))
        console.print(table)
        console.print(f"ranked {manifest['ranked']} of {manifest['pool_rows']}; excluded: {manifest['excluded'] or 0}")
        for budget, reached in manifest["underflow"].items():
            console.print(f"[yellow]underflow:[/] budget {budget} filled with only {reached} rows")
        for warning in manifest["warnings"]:
            console.print(f"[yellow]warning:[/] {warning}")


@select_app.command("overlap")
def overlap(paths: list[Path] = typer.Argument(..., help="Selection folders or subset files.")) -> None:
    """Pairwise overlap (shared ids, Jaccard) of subsets, e.g. of random trials.

    Example: chase select overlap sel/
    """
    echo_json(pairwise_overlap(list(paths)))
