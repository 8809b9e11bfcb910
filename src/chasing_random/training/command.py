"""The ``train`` command's function, outside the CLI package: ``chase train`` registers it, and
``accelerate launch -m chasing_random.training`` runs it without importing every other command."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from chasing_random.training.presets import PRESETS, parse_overrides
from chasing_random.ui import console, echo_json

SUMMARY_FIELDS = ("n_examples", "n_tokens", "n_truncated", "steps", "final_loss", "wall_time_s", "device_type",
                  "device_count", "train_flops", "device_hours", "gpu_hours", "template")


def train(
    subset: Path = typer.Option(..., help="Subset JSONL with id, input, target (e.g. from chase select)."),
    model: str = typer.Option(..., "--model", help="Base model: alias (smollm2-135m-instruct), folder or hub id."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (Hugging Face layout + manifest.json)."),
    preset: str = typer.Option("cpu-lora", help=f"Recipe: {', '.join(PRESETS)}."),
    seed: int = typer.Option(0, help="Seed of data order and LoRA initialisation."),
    epochs: Optional[float] = typer.Option(None, help="Override the preset's epochs."),
    max_steps: Optional[int] = typer.Option(None, help="Stop after N optimizer steps (overrides epochs)."),
    learning_rate: Optional[float] = typer.Option(None, help="Override the learning rate."),
    max_length: Optional[int] = typer.Option(None, help="Max tokens per row (longer rows are truncated)."),
    per_device_batch: Optional[int] = typer.Option(None, help="Rows per device per forward pass."),
    effective_batch: Optional[int] = typer.Option(None, help="Rows per optimizer step over all devices."),
    packing: Optional[bool] = typer.Option(None, "--packing/--no-packing", help="Pack rows into max-length sequences."),
    lora: Optional[bool] = typer.Option(None, "--lora/--full", help="LoRA adapters or full fine-tuning."),
    completion_only: Optional[bool] = typer.Option(None, "--completion-only/--all-tokens",
                                                   help="Loss on response tokens only, or on all tokens."),
    template: Optional[str] = typer.Option(None, help="Prompt template (paper, alpaca, chat, ...)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Any preset field: --set lora_r=16 (repeatable)."),
    trust_remote_code: bool = typer.Option(False, help="Allow models with custom code (off by default)."),
) -> None:
    """Fine-tune MODEL on SUBSET and write a loadable model folder with a cost manifest.

    Example: chase train --subset sel/alpaca_random_1000_0.jsonl --model smollm2-135m-instruct --preset cpu-lora --out models/r0
    """
    from chasing_random.training.sft import train_model

    overrides = parse_overrides(set_)
    flags = {"epochs": epochs, "max_steps": max_steps, "learning_rate": learning_rate, "max_length": max_length,
             "per_device_batch": per_device_batch, "effective_batch": effective_batch, "packing": packing,
             "lora": lora, "completion_only": completion_only, "template": template}
    overrides.update({k: v for k, v in flags.items() if v is not None})
    manifest = train_model(subset, model, out, preset=preset, overrides=overrides, seed=seed,
                           trust_remote_code=trust_remote_code)
    if manifest:
        console.print(f"model written to {out} (manifest: {out / 'manifest.json'})")
        echo_json({k: manifest.get(k) for k in SUMMARY_FIELDS})
