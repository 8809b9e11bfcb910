"""``chase pool``: build, merge and describe pools."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from chasing_random.cli import app
from chasing_random.cli.common import echo_json
from chasing_random.data.flan_mixture import (
    ROW_CHOICES,
    TEMPLATE_TYPES,
    MixtureOptions,
    load_weights,
    write_mixture_pool,
)
from chasing_random.data.pool import build_pool, merge_pools, pool_info
from chasing_random.data.sources import JOINS, SOURCES, AdapterOptions
from chasing_random.errors import ChaseError
from chasing_random.ui import console, progress_bar, styled

pool_app = typer.Typer(help="Build, merge and inspect instruction pools.", no_args_is_help=True)
app.add_typer(pool_app, name="pool")


def _print_report(report) -> None:
    console.print(f"pool {report.out}", soft_wrap=True)  # a line of its own: a narrow table title would wrap it
    table = Table(show_header=False)
    for name in ("read", "kept", "quarantined", "duplicates", "sampled_out"):
        table.add_row(name, str(getattr(report, name)))
    console.print(table)
    if report.quarantine_file:
        console.print(f"quarantined rows and reasons: {report.quarantine_file}")
        for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  {count:>6}  {reason}")
    console.print(f"read {report.read} = kept {report.kept} + sampled out {report.sampled_out} + quarantined "
                  f"{report.quarantined} + duplicates {report.duplicates}:",
                  styled("reconciles", "green") if report.reconciles else styled("does not reconcile", "red"))


def _print_mixture_report(out: Path, report) -> None:
    console.print(f"FLAN mixture {out}", soft_wrap=True)
    table = Table()
    table.add_column("task")
    table.add_column("template")
    table.add_column("kept", justify="right")
    table.add_column("cap", justify="right")
    for task, info in report.tasks.items():
        table.add_row(task, str(info["template"]), str(info["kept"]), str(info["cap"]))
    console.print(table)
    dropped = " + ".join(f"{reason} {n}" for reason, n in sorted(report.dropped.items())) or "dropped 0"
    console.print(f"read {report.read} = kept {report.kept} + over the cap {report.over_cap} + {dropped} + "
                  f"quarantined {report.quarantined} + duplicates {report.duplicates}:",
                  styled("reconciles", "green") if report.reconciles else styled("does not reconcile", "red"),
                  highlight=False)


@pool_app.command("build")
def build(
    source: str = typer.Argument(..., help=f"Source layout: {', '.join(SOURCES)}, or flan-mixture (a capped "
                                           "per-task sample of a FLAN collection, as the study made its pool)."),
    path_or_hub_id: str = typer.Argument(..., help="A local .json/.jsonl/.parquet file, or a hub dataset id."),
    out: Path = typer.Option(..., "--out", help="Pool Parquet file to write."),
    join: str = typer.Option("blank-line", help=f"How instruction and context join: {', '.join(JOINS)} "
                                                "(paper = no separator, as the study)."),
    input_field: str = typer.Option("input", help="Input field for jsonl/json/parquet sources."),
    target_field: str = typer.Option("target", help="Target field for jsonl/json/parquet sources."),
    context_field: Optional[str] = typer.Option(None, help="Optional context field joined to the input."),
    on_error: str = typer.Option("fail", help="fail: stop at the first bad row; skip: quarantine bad rows."),
    limit: Optional[int] = typer.Option(None, help="Keep a seeded sample of N rows."),
    seed: int = typer.Option(0, min=0, help="Seed of the --limit sample."),
    split: str = typer.Option("train", help="Split of a hub dataset."),
    per_task: int = typer.Option(1000, help="flan-mixture: at most N rows per task (the study: 1000)."),
    weights: Optional[Path] = typer.Option(None, help="flan-mixture: JSON/YAML of task -> cap (integer) or "
                                                      "share of --total (fraction); 0 drops a task."),
    total: Optional[int] = typer.Option(None, help="flan-mixture: mixture size that shares in --weights divide."),
    template_types: str = typer.Option("zs_opt", help=f"flan-mixture: template types kept, of "
                                                      f"{', '.join(TEMPLATE_TYPES)} (the study: zs_opt)."),
    exclude_t0: bool = typer.Option(True, "--exclude-t0/--include-t0",
                                    help="flan-mixture: skip tasks whose name contains 't0' (the study did)."),
    rows: str = typer.Option("random", help=f"flan-mixture: which rows of a task: {', '.join(ROW_CHOICES)} "
                                            "(a seeded sample, or the first N as the study's seqio take)."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Write the pool even when no row is kept."),
) -> None:
    """Normalise a source into a pool of {id, input, target, source, meta}.

    Example: chase pool build alpaca data/alpaca.json --out pools/alpaca.parquet --on-error skip

    Example: chase pool build flan-mixture Open-Orca/FLAN --per-task 1000 --seed 0 --out pools/flan.parquet
    """
    if join not in JOINS:
        raise ChaseError(f"unknown --join '{join}'; valid: {', '.join(JOINS)}")
    if source == "flan-mixture":
        options = MixtureOptions(per_task=per_task, weights=load_weights(weights) if weights else {}, total=total,
                                 seed=seed, template_types=tuple(t.strip() for t in template_types.split(",")
                                                                 if t.strip()),
                                 exclude_t0=exclude_t0, rows=rows)
        with progress_bar(f"reading {path_or_hub_id}", None) as advance:
            mixture = write_mixture_pool(path_or_hub_id, out, options, on_error=on_error, split=split,
                                         progress=lambda n: advance(1), allow_empty=allow_empty)
        _print_mixture_report(out, mixture)
        return
    options = AdapterOptions(join=join, input_field=input_field, target_field=target_field,
                             context_field=context_field)
    with progress_bar(f"reading {path_or_hub_id}", None) as advance:
        report = build_pool(source, path_or_hub_id, out, options=options, on_error=on_error, limit=limit,
                            seed=seed, split=split, progress=lambda n: advance(1),
                            allow_empty=allow_empty)
    _print_report(report)


@pool_app.command("merge")
def merge(
    pools: list[Path] = typer.Argument(..., help="Pool files to merge."),
    out: Path = typer.Option(..., "--out", help="Merged pool file."),
    limit: Optional[int] = typer.Option(None, help="Keep a seeded sample of N rows."),
    seed: int = typer.Option(0, min=0, help="Seed of the --limit sample."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Write the pool even when no row is kept."),
) -> None:
    """Merge pools (exact duplicates dropped) and optionally subsample.

    Example: chase pool merge alpaca.parquet dolly.parquet --out mixed.parquet --limit 5000 --seed 1
    """
    _print_report(merge_pools(list(pools), out, limit=limit, seed=seed, allow_empty=allow_empty))


@pool_app.command("info")
def info(pool: Path = typer.Argument(..., help="Pool Parquet file.")) -> None:
    """Print counts, duplicates and length statistics of a pool as JSON.

    Example: chase pool info pools/alpaca.parquet
    """
    echo_json(pool_info(pool))


@pool_app.command("decontaminate")
def decontaminate_command(
    pool: Path = typer.Argument(..., help="Pool Parquet file."),
    against: str = typer.Option(..., help="Comma-separated benchmarks: ifeval, alpaca_eval, mt_bench, ifbench, "
                                          "file:PATH."),
    out: Optional[Path] = typer.Option(None, help="Contaminated ids (JSONL); default POOL.contaminated.jsonl."),
    ngram: int = typer.Option(13, help="n of the word n-grams (13 as GPT-3 and open-instruct)."),
    threshold: float = typer.Option(0.5, help="Share of a benchmark item's n-grams a row must contain."),
    fields: str = typer.Option("input,target", help="Pool fields searched: input, target or both."),
    min_words: int = typer.Option(8, help="Items shorter than this are only matched as an exact input."),
) -> None:
    """Find pool rows that overlap benchmark prompts; write their ids with the matched benchmark item.

    Example: chase pool decontaminate pools/alpaca.parquet --against ifeval,alpaca_eval
    """
    from chasing_random.data.decontaminate import contaminated_path, decontaminate

    names = [name.strip() for name in against.split(",") if name.strip()]
    target = out or contaminated_path(pool)
    manifest = decontaminate(pool, names, target, n=ngram, threshold=threshold, min_words=min_words,
                             fields=tuple(f.strip() for f in fields.split(",") if f.strip()))
    echo_json({k: manifest[k] for k in ("out", "pool_rows", "contaminated", "by_benchmark", "benchmark_items",
                                        "items_too_short", "wall_time_s")})
