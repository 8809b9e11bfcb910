"""Supervised fine-tuning of a base model on a subset (TRL SFTTrainer), with presets as data."""
