"""Fine-tuning recipes as data: ``paper`` (the study), ``completion-only`` and ``cpu-lora``.

A preset is a frozen dataclass; every field can be overridden by name (``--set field=value`` or a
dedicated CLI flag), and the resolved values go into the model's manifest.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from chasing_random.errors import ChaseError


@dataclass(frozen=True)
class Preset:
    """Every knob of one SFT run; ``effective_batch`` is split into per-device batch x accumulation x devices."""

    name: str
    description: str
    lora: bool
    epochs: float
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    weight_decay: float
    effective_batch: int
    per_device_batch: int
    max_length: int
    packing: bool
    packing_strategy: str
    completion_only: bool
    template: str
    precision: str  # "auto": bf16 on GPUs that support it, fp32 elsewhere; or "bf16", "fp16", "fp32"
    gradient_checkpointing: bool
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    # LoRA on the last N transformer layers only (0 = all): backward then stops at the lowest adapted
    # layer, which cuts the cost of a CPU fine-tune several times over.
    lora_layers: int = 0
    max_steps: int = -1
    logging_steps: int = 1
    save_steps: int = 200
    # Run trackers the trainer reports to (transformers' report_to: tensorboard, wandb, mlflow, ...);
    # they watch a run and do not change the model, so they are not part of its identity.
    report_to: tuple[str, ...] = ()

    def resolved(self) -> dict:
        """The preset as a plain JSON-able dict (for manifests)."""
        values = dataclasses.asdict(self)
        values["lora_target_modules"] = list(self.lora_target_modules)
        values["report_to"] = list(self.report_to)
        return values

    def identity(self) -> dict:
        """What decides the trained model (the fingerprint): every field but the trackers."""
        return {k: v for k, v in self.resolved().items() if k != "report_to"}


PAPER = Preset(
    name="paper",
    description="The study's recipe: full fine-tuning, 3 epochs, lr 2e-5 linear, warmup 0.03, effective batch 128, "
                "bf16 where supported, packed to 512 tokens, loss on all tokens, paper template.",
    lora=False, epochs=3, learning_rate=2e-5, lr_scheduler="linear", warmup_ratio=0.03, weight_decay=0.0,
    effective_batch=128, per_device_batch=2, max_length=512, packing=True, packing_strategy="wrapped",
    completion_only=False, template="paper", precision="auto", gradient_checkpointing=False, save_steps=100,
)

PRESETS: dict[str, Preset] = {
    "paper": PAPER,
    "completion-only": dataclasses.replace(
        PAPER, name="completion-only",
        description="The paper recipe with loss on response tokens only (prompt/completion format).",
        completion_only=True),
    "cpu-lora": Preset(
        name="cpu-lora",
        description="LoRA sized for a 2-core CPU: fp32, no gradient checkpointing, 256-token sequences, "
                    "effective batch 8, 1 epoch, lr 2e-4; used by tests and the demo.",
        lora=True, epochs=1, learning_rate=2e-4, lr_scheduler="linear", warmup_ratio=0.03, weight_decay=0.0,
        effective_batch=8, per_device_batch=8, max_length=256, packing=False, packing_strategy="bfd",
        completion_only=False, template="paper", precision="fp32", gradient_checkpointing=False,
        lora_r=8, lora_alpha=16, lora_dropout=0.0, save_steps=50),
}

PACKING_STRATEGIES = ("wrapped", "bfd", "bfd_split")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
FIXED_FIELDS = ("name", "description")


def _coerce(name: str, value, current):
    """Turn a CLI string (or any value) into the type of the field it overrides."""
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ChaseError(f"preset field '{name}': expected true or false, got '{value}'")
    if isinstance(current, tuple):
        return tuple(value) if isinstance(value, (list, tuple)) else tuple(p.strip() for p in str(value).split(",") if p.strip())
    try:
        if isinstance(current, int):
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if isinstance(current, float):
            return float(value)
    except (TypeError, ValueError):
        raise ChaseError(f"preset field '{name}': expected a {type(current).__name__}, got '{value}'") from None
    return str(value)


def get_preset(name: str, overrides: dict | None = None) -> Preset:
    """The named preset with ``overrides`` applied field by field; errors list valid names and fields."""
    if name not in PRESETS:
        raise ChaseError(f"unknown preset '{name}'; valid presets: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if not overrides:
        return preset
    fields = {f.name: getattr(preset, f.name) for f in dataclasses.fields(preset) if f.name not in FIXED_FIELDS}
    changes = {}
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key not in fields:
            raise ChaseError(f"unknown preset field '{key}'; valid fields: {', '.join(fields)}")
        changes[key] = _coerce(key, value, fields[key])
    preset = dataclasses.replace(preset, **changes)
    if preset.packing_strategy not in PACKING_STRATEGIES:
        raise ChaseError(f"preset field 'packing_strategy': '{preset.packing_strategy}' is not one of "
                         f"{', '.join(PACKING_STRATEGIES)}")
    if preset.precision not in PRECISIONS:
        raise ChaseError(f"preset field 'precision': '{preset.precision}' is not one of {', '.join(PRECISIONS)}")
    for positive in ("effective_batch", "per_device_batch", "max_length"):
        if getattr(preset, positive) < 1:
            raise ChaseError(f"preset field '{positive}' must be at least 1")
    for field, low, high in (("learning_rate", 0.0, math.inf), ("epochs", 0.0, 1e6), ("warmup_ratio", None, 1.0),
                             ("weight_decay", None, 1e3), ("lora_dropout", None, 1.0)):
        value = getattr(preset, field)
        if not (math.isfinite(value) and (value > low if low is not None else value >= 0) and value <= high):
            bounds = f"{'(0' if low is not None else '[0'}, {high:g}]" if math.isfinite(high) else "above 0"
            raise ChaseError(f"preset field '{field}': {value} is out of range, expected a finite number {bounds} "
                             f"(the preset's value is {getattr(PRESETS[name], field)})")
    return preset


def parse_overrides(pairs: list[str] | None) -> dict:
    """``["epochs=1", "lora_r=4"]`` -> ``{"epochs": "1", "lora_r": "4"}`` (values typed by ``get_preset``)."""
    overrides = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ChaseError(f"--set '{pair}': expected FIELD=VALUE")
        key, value = pair.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides
