"""``chase score judge`` (AlpaGasus ratings) and ``chase score deita`` (DEITA scores): judge score tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from chasing_random.cli.common import echo_json
from chasing_random.cli.score import score_app
from chasing_random.store import ArtifactStore, atomic_path
from chasing_random.ui import console

# Options both judge-table commands take, declared once.
StoreOption = Annotated[Optional[Path], typer.Option(help="Artifact store (default $CHASE_HOME/store).")]
BatchOption = Annotated[int, typer.Option(help="Local judges: rows (conversations) per forward pass.")]
DtypeOption = Annotated[str, typer.Option(help="Local judges: float32, bfloat16 or auto (bf16 on native-bf16 hardware).")]
TrustOption = Annotated[bool, typer.Option(help="Allow models with custom code (off by default).")]
JudgeOptions = Annotated[Optional[list[str]], typer.Option(help="Backend option KEY=VALUE, repeatable.")]
FailureRateOption = Annotated[float, typer.Option(help="A failure rate above this is an error.")]
RetryOption = Annotated[bool, typer.Option("--retry-failed/--no-retry-failed",
                                           help="Call the judge again for rows that failed in a stored table (the "
                                                "default; answered rows come from the response cache).")]


def _judge(spec: str, store: ArtifactStore, batch_size: int, dtype: str, trust_remote_code: bool, options):
    """The judge of a scoring command: a bare name means local; replies cached in the store."""
    from chasing_random.judges.factory import CACHE_FOLDER, JudgeSpec

    return (JudgeSpec.parse(spec, options).with_cache(store.root / CACHE_FOLDER)
            .local_defaults(batch_size=batch_size, dtype=dtype, trust_remote_code=trust_remote_code).build())


def _report(table, max_failure_rate: float, what: str, out: Optional[Path]) -> None:
    """Write the table if asked, print the failure count and rate, and the summary JSON."""
    from chasing_random.scoring.ratings import failure_summary

    if out is not None:
        with atomic_path(out) as tmp:
            table.frame.to_parquet(tmp, index=False)
    scored = table.frame[table.frame["failure"].isna()]["score"]
    summary = {"table": str(table.run.path), "rows": len(table.frame), "failed": len(table.failures),
               "failure_rate": round(table.failure_rate(), 6), "reused": table.run.reused,
               "score_mean": float(scored.mean()) if len(scored) else None,
               "cost": {**table.cost().record(), "api_price_usd": table.api_price_usd()},
               "out": str(out) if out else None}
    console.print(failure_summary(table, max_failure_rate, what))
    echo_json(summary)


@score_app.command("judge")
def judge_command(
    pool: Path = typer.Option(..., help="Pool Parquet file."),
    judge: str = typer.Option(..., help="local:NAME (alias, folder, hub id) or openai:MODEL."),
    prompt: str = typer.Option("study", help="study (the Chasing Random text) or original (AlpaGasus)."),
    parse: str = typer.Option("first-number", help="generate mode: first-number or paper (the study's bug)."),
    rating_mode: Optional[str] = typer.Option(None, help="forward (local default) or generate (endpoint default)."),
    score_limit: Optional[int] = typer.Option(None, help="Score a seeded sample of N rows."),
    seed: int = typer.Option(0, min=0, help="Seed of the --score-limit sample."),
    out: Optional[Path] = typer.Option(None, help="Also write the table here (Parquet)."),
    store: StoreOption = None,
    batch_size: BatchOption = 8,
    dtype: DtypeOption = "float32",
    trust_remote_code: TrustOption = False,
    judge_option: JudgeOptions = None,
    max_failure_rate: FailureRateOption = 0.05,
    retry_failed: RetryOption = True,
) -> None:
    """AlpaGasus 0-5 ratings: columns id, score, argmax, failure, raw, tokens, price, seconds, cached.

    Example: chase score judge --pool alpaca.parquet --judge openai:gpt-4o --judge-option price_per_million_input=2.5 --rating-mode generate --parse first-number
    """
    from chasing_random.data.pool import read_pool
    from chasing_random.scoring.ratings import alpagasus_ratings, sample_ids

    artifacts = ArtifactStore(store) if store else ArtifactStore.default()
    model = _judge(judge, artifacts, batch_size, dtype, trust_remote_code, judge_option)
    mode = rating_mode or ("generate" if model.is_api else "forward")
    ids = sample_ids(list(read_pool(pool)["id"]), score_limit, seed)
    table = alpagasus_ratings(pool, model, prompt=prompt, parse=parse, mode=mode, ids=ids, store=artifacts,
                              retry_failed=retry_failed)
    _report(table, max_failure_rate, "alpagasus judge", out)


@score_app.command("deita")
def deita_command(
    pool: Path = typer.Option(..., help="Pool Parquet file."),
    score: str = typer.Option("quality", help="quality (instruction + response) or complexity (instruction)."),
    scorer: Optional[str] = typer.Option(None, help="Scorer: local:NAME or openai:MODEL (default DEITA's own)."),
    out: Optional[Path] = typer.Option(None, help="Also write the table here (Parquet)."),
    store: StoreOption = None,
    batch_size: BatchOption = 8,
    dtype: DtypeOption = "float32",
    trust_remote_code: TrustOption = False,
    judge_option: JudgeOptions = None,
    max_failure_rate: FailureRateOption = 0.05,
    retry_failed: RetryOption = True,
) -> None:
    """DEITA expected scores over "1".."6" from one forward pass per row: columns id, score, argmax, failure, ...

    Example: chase score deita --pool alpaca.parquet --score quality --scorer local:smollm2-135m-instruct
    """
    from chasing_random.scoring.ratings import deita_scores
    from chasing_random.selection.deita import DEFAULT_SCORERS

    artifacts = ArtifactStore(store) if store else ArtifactStore.default()
    model = _judge(scorer or DEFAULT_SCORERS.get(score, "?"), artifacts, batch_size, dtype, trust_remote_code,
                   judge_option)
    table = deita_scores(pool, model, score, store=artifacts, retry_failed=retry_failed)
    _report(table, max_failure_rate, f"deita {score} scorer", out)
