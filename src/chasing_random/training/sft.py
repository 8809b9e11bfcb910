"""The project's one supervised fine-tuning function: TRL ``SFTTrainer`` (+ PEFT LoRA, accelerate devices).

``train_model`` turns a subset into a standard Hugging Face model folder (LoRA merged into the base,
the adapter kept in ``adapter/``) with a manifest of what was trained and what it cost. A finished
folder is returned as is; an interrupted run resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from chasing_random.data.readers import read_rows_or_raise
from chasing_random.data.templates import get_template
from chasing_random.errors import ChaseError
from chasing_random.store import fingerprint, read_manifest, write_json_atomic, write_manifest
from chasing_random.training.presets import Preset, get_preset
from chasing_random.ui import console

CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
TRAIN_KEY_FILE = "train_key.json"


def read_subset(subset: str | Path | list[dict]) -> list[dict]:
    """Rows ``{id, input, target}`` of a subset file (JSONL/JSON/Parquet) or list; errors name file, line, field."""
    if isinstance(subset, (list, tuple)):
        rows, origin = [(number, row) for number, row in enumerate(subset, start=1)], "subset list"
    else:
        path = Path(subset)
        if not path.is_file():
            raise ChaseError(f"subset file '{path}' does not exist")
        rows, origin = [(item.line, item.row) for item in read_rows_or_raise(path)], str(path)
    if not rows:
        raise ChaseError(f"{origin}: the subset is empty (no rows to train on)")
    records = []
    for line, row in rows:
        if not isinstance(row, dict):
            raise ChaseError(f"{origin}, line {line}: expected an object with 'input' and 'target'")
        for name in ("input", "target"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise ChaseError(f"{origin}, line {line}, field {name}: missing or empty")
        records.append({"id": str(row.get("id", "")), "input": row["input"], "target": row["target"]})
    return records


def subset_fingerprint(records: list[dict]) -> str:
    """Content hash of a subset's (input, target) pairs in order: the same rows give the same key."""
    return fingerprint([[r["input"], r["target"]] for r in records])


def tokenize_rows(records: list[dict], tokenizer, template_name: str, max_length: int,
                  completion_mask: bool) -> tuple[dict[str, list], dict[str, int]]:
    """Token ids of prompt+completion+EOS per row, truncated to ``max_length``; and the counts to report."""
    template = get_template(template_name)
    prompts = [template.prompt(r["input"], tokenizer) for r in records]
    eos = tokenizer.eos_token or ""
    texts = []
    for prompt, record in zip(prompts, records):
        completion = template.completion(record["target"], tokenizer)
        texts.append(prompt + completion + ("" if not eos or completion.endswith(eos) else eos))
    full = tokenizer(texts)["input_ids"]
    prompt_ids = tokenizer(prompts)["input_ids"]
    columns: dict[str, list] = {"input_ids": []}
    if completion_mask:
        columns["completion_mask"] = []
    truncated = fully_truncated = 0
    for ids, head in zip(full, prompt_ids):
        prefix = next((i for i, (a, b) in enumerate(zip(ids, head)) if a != b), min(len(ids), len(head)))
        if len(ids) > max_length:
            truncated += 1
            fully_truncated += prefix >= max_length
        ids = ids[:max_length]
        columns["input_ids"].append(ids)
        if completion_mask:
            columns["completion_mask"].append([0] * min(prefix, len(ids)) + [1] * max(0, len(ids) - prefix))
    lengths = [len(ids) for ids in columns["input_ids"]]
    return columns, {"n_truncated": truncated, "n_prompt_fills_max_length": fully_truncated,
                     "tokens_per_epoch": sum(lengths), "max_row_tokens": max(len(ids) for ids in full)}


def device_layout() -> tuple[str, int]:
    """Device type (cuda, mps, cpu, ...) and number of processes of this run (from accelerate)."""
    from accelerate import PartialState

    state = PartialState()
    return state.device.type, state.num_processes


def batch_plan(preset: Preset, devices: int) -> dict[str, int]:
    """Per-device batch x accumulation x devices closest to the preset's effective batch."""
    accumulation = max(1, round(preset.effective_batch / (preset.per_device_batch * devices)))
    return {"per_device_batch": preset.per_device_batch, "gradient_accumulation": accumulation,
            "devices": devices, "effective_batch": preset.per_device_batch * accumulation * devices}


def precision_flags(preset: Preset, device_type: str) -> dict[str, bool]:
    """``bf16``/``fp16`` Trainer flags; ``auto`` = bf16 on GPUs that support it, fp32 elsewhere."""
    import torch

    precision = preset.precision
    if precision == "auto":
        precision = "bf16" if device_type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def _lora_config(preset: Preset, n_layers: int):
    """PEFT's LoRA config of a preset, on every layer or on the last ``preset.lora_layers``."""
    from peft import LoraConfig

    targets: Any = list(preset.lora_target_modules)
    if targets == ["all-linear"]:
        targets = "all-linear"
    layers = None
    if preset.lora_layers:
        if targets == "all-linear":
            raise ChaseError("lora_layers needs explicit lora_target_modules (e.g. q_proj,v_proj,up_proj): "
                             "PEFT cannot combine 'all-linear' with a layer range")
        layers = list(range(max(0, n_layers - preset.lora_layers), n_layers))
    return LoraConfig(r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=preset.lora_dropout,
                      target_modules=targets, layers_to_transform=layers, task_type="CAUSAL_LM")


def _console_log_callback():
    """A Trainer callback that prints step, loss and learning rate to the stderr console."""
    from transformers import TrainerCallback

    class ConsoleLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                console.print(f"step {state.global_step}/{state.max_steps}  loss {float(logs['loss']):.4f}  "
                              f"lr {float(logs.get('learning_rate', 0)):.2e}", highlight=False)

    return ConsoleLog()


def _last_loss(log_history: list[dict]) -> float | None:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return float(losses[-1]) if losses else None


def _resume_point(checkpoints: Path, key: str) -> str | None:
    """The last checkpoint of an interrupted run with the same key; the main process removes stale ones."""
    from accelerate import PartialState
    from transformers.trainer_utils import get_last_checkpoint

    state = PartialState()
    key_file = checkpoints / TRAIN_KEY_FILE
    if state.is_main_process:
        if checkpoints.is_dir() and not (key_file.exists() and json.loads(key_file.read_text(encoding="utf-8")) == key):
            shutil.rmtree(checkpoints)
        if not checkpoints.is_dir():
            checkpoints.mkdir(parents=True)
            write_json_atomic(key_file, key)
    state.wait_for_everyone()
    return get_last_checkpoint(str(checkpoints))


def train_model(subset, base_model: str, out_dir, *, preset: str = "cpu-lora", overrides: dict | None = None,
                seed: int = 0, trust_remote_code: bool = False) -> dict:
    """Fine-tune ``base_model`` on ``subset`` with a preset; write a loadable model folder and its manifest."""
    started = time.time()
    recipe = get_preset(preset, overrides)
    records = read_subset(subset)
    out_dir = Path(out_dir)
    key = fingerprint("sft", subset_fingerprint(records), base_model, recipe.identity(), seed)
    existing = read_manifest(out_dir) if out_dir.is_dir() else None
    if existing is not None and existing.get("kind") == "model":
        if existing.get("train_key") == key:
            return existing
        raise ChaseError(f"'{out_dir}' already holds a model trained with another subset, base model, preset or "
                         "seed; choose another --out or delete the folder")

    import torch
    from transformers import PrinterCallback, ProgressCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from chasing_random.models.loading import load_causal_lm
    from datasets import Dataset

    device_type, devices = device_layout()
    model, tokenizer = load_causal_lm(base_model, trust_remote_code=trust_remote_code)
    n_params = sum(p.numel() for p in model.parameters())
    columns, counts = tokenize_rows(records, tokenizer, recipe.template, recipe.max_length, recipe.completion_only)
    if counts["n_truncated"]:
        console.print(f"[yellow]{counts['n_truncated']} of {len(records)} rows exceed max_length "
                      f"{recipe.max_length} tokens (longest {counts['max_row_tokens']}); truncated[/]")
    plan = batch_plan(recipe, devices)
    checkpoints = out_dir / CHECKPOINTS
    resume = _resume_point(checkpoints, key)
    quiet = os.environ.get("CHASE_QUIET") == "1"
    config = SFTConfig(
        output_dir=str(checkpoints), seed=seed, data_seed=seed,
        num_train_epochs=recipe.epochs, max_steps=recipe.max_steps, learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler, warmup_steps=recipe.warmup_ratio, weight_decay=recipe.weight_decay,
        per_device_train_batch_size=plan["per_device_batch"], gradient_accumulation_steps=plan["gradient_accumulation"],
        max_length=recipe.max_length, packing=recipe.packing, packing_strategy=recipe.packing_strategy,
        completion_only_loss=recipe.completion_only, gradient_checkpointing=recipe.gradient_checkpointing,
        use_cpu=device_type == "cpu", **precision_flags(recipe, device_type),
        logging_steps=recipe.logging_steps, save_strategy="steps", save_steps=recipe.save_steps, save_total_limit=1,
        report_to=list(recipe.report_to) or "none", disable_tqdm=quiet, dataset_num_proc=None,
        include_num_input_tokens_seen="all" if recipe.packing else "non_padding",
    )
    set_seed(seed)  # LoRA weights are initialised when the trainer wraps the model, before Trainer seeds
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_dict(columns),
                         processing_class=tokenizer, peft_config=_lora_config(recipe, model.config.num_hidden_layers) if recipe.lora else None)
    for callback in (PrinterCallback, ProgressCallback):  # both write to stdout, which belongs to the CLI's JSON
        trainer.remove_callback(callback)
    if not quiet:
        trainer.add_callback(_console_log_callback())
    result = trainer.train(resume_from_checkpoint=resume)
    n_tokens = int(trainer.state.num_input_tokens_seen)

    if trainer.is_world_process_zero():
        _save_model(trainer, tokenizer, out_dir, recipe)
    trainer.accelerator.wait_for_everyone()
    wall = time.time() - started
    device_hours = wall * devices / 3600
    manifest = {}
    if trainer.is_world_process_zero():
        shutil.rmtree(checkpoints, ignore_errors=True)
        manifest = write_manifest(
            out_dir, kind="model",
            inputs={"subset": subset if isinstance(subset, (str, Path)) else "<list>", "base_model": base_model},
            config={"preset": recipe.name, "overrides": overrides or {}, "seed": seed,
                    "trust_remote_code": trust_remote_code},
            started=started,
            extra={"train_key": key, "subset_fingerprint": subset_fingerprint(records), "base_model": base_model,
                   "preset": recipe.resolved(), "seed": seed, "template": recipe.template,
                   "n_examples": len(records), "n_tokens": n_tokens, **counts,
                   "final_loss": _last_loss(trainer.state.log_history), "mean_loss": float(result.training_loss),
                   "steps": int(trainer.state.global_step),
                   "resumed_from": Path(resume).name if resume else None, "batch": plan, "n_params": n_params,
                   "device_type": device_type, "device_count": devices,
                   "train_flops": 6 * n_params * n_tokens, "device_hours": device_hours,
                   "gpu_hours": device_hours if device_type == "cuda" else 0.0,
                   "train_seconds": float(result.metrics["train_runtime"]),
                   "tokens_per_s": n_tokens / max(float(result.metrics["train_runtime"]), 1e-9), "lora": recipe.lora,
                   "adapter": ADAPTER if recipe.lora else None, "torch_threads": torch.get_num_threads()})
    return manifest


def _save_model(trainer, tokenizer, out_dir: Path, recipe: Preset) -> None:
    """Save a standard model folder: LoRA merged into the base (adapter kept in ``adapter/``), or full weights."""
    if recipe.lora:
        trainer.model.save_pretrained(out_dir / ADAPTER)
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(out_dir, safe_serialization=True)
    else:
        trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(out_dir)

