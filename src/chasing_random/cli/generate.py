"""``chase generate``: a model answers a benchmark's prompts (AlpacaEval model_outputs.json layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from chasing_random.cli import app
from chasing_random.cli.common import echo_json
from chasing_random.generation.benchmarks import ALPACA_EVAL_SUBSETS, benchmark_names
from chasing_random.generation.decoding import CPU_MAX_NEW_TOKENS, GPU_MAX_NEW_TOKENS, SAMPLING_PRESETS
from chasing_random.generation.shards import DEFAULT_SHARD_PROMPTS
from chasing_random.store import read_manifest
from chasing_random.ui import console


def generate(
    model: str = typer.Option(..., "--model", help="Model folder (from chase train), alias or hub id."),
    benchmark: str = typer.Option(..., help=f"{', '.join(benchmark_names())} (NAME@hub for the hub copy; "
                                            "lima@PATH, infobench@PATH for a local copy), or file:PATH (JSONL/JSON with 'instruction')."),
    out: Path = typer.Option(..., "--out", help="Outputs JSON to write (AlpacaEval model_outputs layout)."),
    subset: Optional[str] = typer.Option(None, help=f"alpaca_eval: {'|'.join(ALPACA_EVAL_SUBSETS)}; "
                                                    "mt_bench: a category."),
    limit: Optional[int] = typer.Option(None, help="Answer a seeded sample of N prompts."),
    seed: int = typer.Option(0, min=0, help="Seed of the --limit sample and of sampling."),
    template: Optional[str] = typer.Option(None, help="Prompt template (default: the model's training template)."),
    max_new_tokens: Optional[int] = typer.Option(None, help=f"Default {CPU_MAX_NEW_TOKENS} on CPU, "
                                                            f"{GPU_MAX_NEW_TOKENS} on GPU."),
    temperature: Optional[float] = typer.Option(None, help="0 = greedy (default); > 0 samples."),
    top_p: Optional[float] = typer.Option(None, help="Nucleus sampling mass (with --temperature > 0)."),
    sampling: Optional[str] = typer.Option(None, help=f"Preset: {', '.join(SAMPLING_PRESETS)} "
                                                      "(paper = temperature 1.0, as the study)."),
    batch_size: Optional[int] = typer.Option(None, help="Prompts per batch (default 16 on CPU, 64 on GPU)."),
    backend: str = typer.Option("hf", help="hf (transformers generate, CPU or GPU) or vllm (GPU, optional extra)."),
    shard_prompts: int = typer.Option(DEFAULT_SHARD_PROMPTS, min=1,
                                      help="Prompts per shard (rounded up to whole batches); a shard is the unit "
                                           "of resume and of parallel work."),
    trust_remote_code: bool = typer.Option(False, help="Allow models with custom code (off by default)."),
) -> None:
    """Generate answers to a benchmark's prompts; an interrupted run resumes with its finished prompts.

    Example: chase generate --model models/r0 --benchmark ifeval --limit 20 --out gens/r0_ifeval.json
    """
    from chasing_random.generation.generate import generate_outputs

    records = generate_outputs(model, benchmark, out, subset=subset, limit=limit, seed=seed, template=template,
                               max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                               sampling=sampling, batch_size=batch_size, backend=backend,
                               trust_remote_code=trust_remote_code, shard_prompts=shard_prompts)
    manifest = read_manifest(out) or {}
    console.print(f"{len(records)} outputs written to {out}")
    echo_json({"out": str(out), "n_outputs": len(records), "generated_now": manifest.get("n_generated_now"),
               "template": manifest.get("config", {}).get("template"), "tokens_per_s": manifest.get("tokens_per_s"),
               "wall_time_s": manifest.get("wall_time_s")})


app.command("generate")(generate)
