"""``lora_layers``: LoRA on the last N transformer layers only (the demo's CPU-sized fine-tune)."""

from __future__ import annotations

import json

import pytest

from chasing_random.errors import ChaseError
from chasing_random.training.presets import get_preset
from chasing_random.training.sft import _lora_config, train_model


def test_lora_config_targets_the_last_layers():
    assert _lora_config(get_preset("cpu-lora", {"lora_layers": 2}), 30).layers_to_transform == [28, 29]
    assert _lora_config(get_preset("cpu-lora"), 30).layers_to_transform is None
    with pytest.raises(ChaseError, match="explicit lora_target_modules"):
        _lora_config(get_preset("cpu-lora", {"lora_layers": 2, "lora_target_modules": "all-linear"}), 30)


def test_training_adapts_only_the_last_layer(tmp_path, tiny_lm):
    subset = tmp_path / "sub.jsonl"
    subset.write_text("".join(json.dumps({"id": str(i), "input": f"Say {i}.", "target": f"{i}."}) + "\n"
                              for i in range(8)))
    overrides = {"max_length": 32, "save_steps": 1000, "lora_layers": 1, "template": "chat"}
    manifest = train_model(subset, tiny_lm, tmp_path / "m", overrides=overrides, seed=0)
    adapter = (tmp_path / "m" / "adapter" / "adapter_config.json")
    assert json.loads(adapter.read_text())["layers_to_transform"] == [1]
    assert manifest["template"] == "chat" and manifest["n_examples"] == 8
