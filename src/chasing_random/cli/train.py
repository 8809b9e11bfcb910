"""``chase train``: fine-tune a base model on a subset with a preset (TRL SFTTrainer)."""

from __future__ import annotations

from chasing_random.cli import app
from chasing_random.training.command import train

app.command("train")(train)
