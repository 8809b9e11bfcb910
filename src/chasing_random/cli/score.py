"""``chase score``: compute score tables once (losses for IFD, embeddings); strategies reuse them.

Other command modules add their scorers to ``score_app`` (e.g. ``chase score judge``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from chasing_random.cli import app
from chasing_random.cli.common import echo_json
from chasing_random.store import ArtifactStore

score_app = typer.Typer(help="Compute per-example score tables (cached in the artifact store, resumable).",
                        no_args_is_help=True)
app.add_typer(score_app, name="score")


def _summary(run, **extra) -> dict:
    """What a score command prints: where the table is, its size, and what it cost now and in total."""
    return {"table": str(run.path), "rows": run.table.num_rows, "reused": run.reused,
            "computed_shards": len(run.computed_shards), "cost_this_run": run.cost,
            "cost_total": run.manifest.get("cost"), **extra}


@score_app.command("losses")
def losses(
    pool: Path = typer.Option(..., help="Pool Parquet file."),
    model: str = typer.Option(..., help="Causal LM: alias (smollm2-135m-instruct), folder or hub id."),
    template: Optional[str] = typer.Option(None, help="Prompt template: cherry, none, paper, alpaca or chat."),
    max_length: int = typer.Option(..., help="L: max tokens of the conditioned sequence."),
    reference: Optional[str] = typer.Option(None, help="Instead of --template, the authors' own texts, slicing "
                                                       "and exclusions: superfiltering, cherry-wiz, cherry-alpaca, "
                                                       "or cherry-wiz-as-shipped (Cherry's slicing defect)."),
    direct_prefix: Optional[str] = typer.Option(None, help="Text before the response in the direct pass instead of "
                                                           "the template's (e.g. '<|endoftext|>' for chat models)."),
    out: Optional[Path] = typer.Option(None, help="Also write the table here (Parquet); default: store only."),
    store: Optional[Path] = typer.Option(None, help="Artifact store (default $CHASE_HOME/store)."),
    batch_size: int = typer.Option(8, help="Sequences per forward pass."),
    dtype: str = typer.Option("float32", help="float32 (exact), bfloat16 (faster, approximate), or auto (bf16 where the hardware has native bf16)."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when present)."),
    trust_remote_code: bool = typer.Option(False, help="Allow models with custom code (off by default)."),
) -> None:
    """Response losses with and without the prompt: columns id, loss_cond, loss_direct, n_response_tokens, truncated.

    Example: chase score losses --pool alpaca.parquet --model smollm2-135m-instruct --template none --max-length 512 --out losses.parquet

    Example (the authors' numbers): chase score losses --pool alpaca.parquet --model smollm2-135m-instruct --reference superfiltering --max-length 512
    """
    from chasing_random.scoring.losses import loss_table

    run = loss_table(pool, model, template, max_length, store=ArtifactStore(store) if store else None,
                     batch_size=batch_size, dtype=dtype, out=out, device=device,
                     trust_remote_code=trust_remote_code, reference=reference, direct_prefix=direct_prefix)
    echo_json(_summary(run, out=str(out) if out else None))


@score_app.command("embed")
def embed(
    pool: Path = typer.Option(..., help="Pool Parquet file."),
    model: str = typer.Option("minilm", help="minilm, a sentence-transformers id/folder, or a causal LM."),
    pooling: str = typer.Option("mean", help="Causal LMs: mean over tokens, weighted-mean (position t weighs t, RDS+) or last-token."),
    field: str = typer.Option("input", help="Text to embed: input, target or both."),
    max_length: int = typer.Option(512, help="Causal LMs: max tokens per text."),
    store: Optional[Path] = typer.Option(None, help="Artifact store (default $CHASE_HOME/store)."),
    batch_size: int = typer.Option(32, help="Texts per forward pass."),
    dtype: str = typer.Option("float32", help="Causal LMs: float32, bfloat16 or auto (bf16 on native-bf16 hardware)."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when present)."),
    trust_remote_code: bool = typer.Option(False, help="Allow models with custom code (off by default)."),
) -> None:
    """Float32, L2-normalised embeddings stored with the row ids (Parquet: id, embedding).

    Example: chase score embed --pool alpaca.parquet --model minilm --field input
    """
    from chasing_random.scoring.embeddings import embedding_table

    result = embedding_table(pool, model, pooling=pooling, field=field, store=ArtifactStore(store) if store else None,
                             batch_size=batch_size, max_length=max_length, dtype=dtype, device=device,
                             trust_remote_code=trust_remote_code)
    echo_json(_summary(result.run, dimensions=int(result.vectors.shape[1])))
