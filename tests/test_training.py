"""SFT with TRL on a tiny real model: presets, bad input, determinism, the paper preset's first steps."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from chasing_random.errors import ChaseError
from chasing_random.training.presets import PRESETS, get_preset, parse_overrides
from chasing_random.training.sft import batch_plan, read_subset, tokenize_rows, train_model

FAST = {"max_length": 64, "per_device_batch": 8, "effective_batch": 8, "save_steps": 1000}


@pytest.fixture(scope="module")
def subset16(tmp_path_factory, shared_data):
    """16 real Alpaca rows as a subset JSONL."""
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:16]
    path = tmp_path_factory.mktemp("subset") / "sub16.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "input": r["instruction"] + ("\n\n" + r["input"] if r["input"] else ""),
                                        "target": r["output"]}) + "\n" for i, r in enumerate(rows)))
    return path


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ChaseError, match="valid presets: paper, completion-only, cpu-lora"):
        get_preset("fast")


def test_overrides_are_typed_and_checked():
    preset = get_preset("cpu-lora", {"epochs": "2", "lora-r": "4", "packing": "true", "lora_target_modules": "q_proj,v_proj"})
    assert (preset.epochs, preset.lora_r, preset.packing, preset.lora_target_modules) == (2.0, 4, True, ("q_proj", "v_proj"))
    with pytest.raises(ChaseError, match="unknown preset field 'lr'"):
        get_preset("paper", {"lr": 1})
    with pytest.raises(ChaseError, match="expected a int"):
        get_preset("paper", {"max_length": "1.5"})
    with pytest.raises(ChaseError, match="packing_strategy"):
        get_preset("paper", {"packing_strategy": "greedy"})


@given(st.dictionaries(st.sampled_from(["epochs", "lora_r", "max_length", "learning_rate"]),
                       st.integers(min_value=1, max_value=10_000), min_size=1))
def test_override_pairs_round_trip(values):
    preset = get_preset("cpu-lora", parse_overrides([f"{k}={v}" for k, v in values.items()]))
    for key, value in values.items():
        assert getattr(preset, key) == value


def test_paper_batch_is_128_whatever_the_device_count():
    paper = PRESETS["paper"]
    for devices in (1, 2, 4, 8, 64):
        plan = batch_plan(paper, devices)
        assert plan["effective_batch"] == 128
        assert plan["per_device_batch"] * plan["gradient_accumulation"] * devices == 128


def test_bad_subsets_name_the_problem(tmp_path):
    with pytest.raises(ChaseError, match="does not exist"):
        read_subset(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ChaseError, match="empty"):
        read_subset(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "input": "x", "target": "y"}\n{"id": "b", "input": "x"}\n')
    with pytest.raises(ChaseError, match=r"bad.jsonl, line 2, field target"):
        read_subset(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"input": "x", "target": "y"}\n{"input": \n')
    with pytest.raises(ChaseError, match=r"broken.jsonl:2: field '<json>': malformed JSON"):
        read_subset(broken)


def test_completion_mask_covers_only_the_response(tiny_lm):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    rows = [{"input": "Name a colour.", "target": "Blue is a colour."}]
    columns, counts = tokenize_rows(rows, tokenizer, "paper", 512, completion_mask=True)
    ids, mask = columns["input_ids"][0], columns["completion_mask"][0]
    response = tokenizer.decode([t for t, m in zip(ids, mask) if m])
    assert response.strip() == "Blue is a colour." + tokenizer.eos_token
    assert "### Response:" in tokenizer.decode([t for t, m in zip(ids, mask) if not m])
    assert counts["n_truncated"] == 0
    _, short = tokenize_rows(rows, tokenizer, "paper", 8, completion_mask=False)
    assert short["n_truncated"] == 1 and short["tokens_per_epoch"] == 8


def test_cpu_lora_is_deterministic_loads_back_and_records_cost(tmp_path, subset16, tiny_lm):
    from chasing_random.models.loading import load_causal_lm

    first = train_model(subset16, tiny_lm, tmp_path / "a", overrides=FAST, seed=3)
    second = train_model(str(subset16), tiny_lm, tmp_path / "b", overrides=FAST, seed=3)
    other_seed = train_model(subset16, tiny_lm, tmp_path / "c", overrides=FAST, seed=4)
    assert abs(first["final_loss"] - second["final_loss"]) < 1e-5
    assert first["final_loss"] != other_seed["final_loss"]
    assert first["n_examples"] == 16 and first["steps"] == 2
    assert first["n_truncated"] > 0  # Alpaca rows longer than 64 tokens are counted and cut
    assert first["n_tokens"] == first["tokens_per_epoch"] <= 16 * 64
    assert first["train_flops"] == 6 * first["n_params"] * first["n_tokens"]
    assert first["template"] == "paper" and first["preset"]["max_length"] == 64
    assert first["device_type"] == "cpu" and first["gpu_hours"] == 0.0 and first["device_hours"] > 0
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["final_loss"] == first["final_loss"]
    assert (tmp_path / "a" / "adapter" / "adapter_config.json").exists()
    assert not (tmp_path / "a" / "checkpoints").exists()
    model, _ = load_causal_lm(str(tmp_path / "a"))
    assert not any("lora" in name for name, _ in model.named_parameters())
    # a finished folder is returned as is; another config refuses to overwrite it
    assert train_model(subset16, tiny_lm, tmp_path / "a", overrides=FAST, seed=3)["finished_at"] == first["finished_at"]
    with pytest.raises(ChaseError, match="another subset"):
        train_model(subset16, tiny_lm, tmp_path / "a", overrides=FAST, seed=5)


def test_paper_preset_runs_its_first_steps(tmp_path, subset16, tiny_lm):
    manifest = train_model(subset16, tiny_lm, tmp_path / "paper", preset="paper",
                           overrides={"max_steps": 1, "save_steps": 1000})
    assert manifest["steps"] == 1 and manifest["lora"] is False
    assert manifest["batch"]["effective_batch"] == 128 and manifest["batch"]["gradient_accumulation"] == 64
    assert manifest["preset"]["packing"] and manifest["preset"]["max_length"] == 512
    assert manifest["final_loss"] > 0 and manifest["n_tokens"] > 0


def test_completion_only_trains_on_fewer_tokens_than_all_tokens(tmp_path, subset16, tiny_lm):
    overrides = {**FAST, "max_steps": 1}
    all_tokens = train_model(subset16, tiny_lm, tmp_path / "all", overrides=overrides)
    response_only = train_model(subset16, tiny_lm, tmp_path / "resp", overrides={**overrides, "completion_only": True})
    assert response_only["final_loss"] != all_tokens["final_loss"]


def test_cli_train_errors_are_one_line(run_cli, tmp_path, subset16, tiny_lm):
    result = run_cli("train", "--subset", subset16, "--model", tiny_lm, "--out", tmp_path / "m", "--preset", "huge")
    assert result.code == 2 and "valid presets: paper, completion-only, cpu-lora" in result.err
    assert "Traceback" not in result.err
    result = run_cli("train", "--subset", subset16, "--model", str(tmp_path / "no-model"), "--out", tmp_path / "m")
    assert result.code == 2 and "no-model" in result.err and len(result.err.strip().splitlines()) <= 3
    result = run_cli("train", "--subset", tmp_path / "none.jsonl", "--model", tiny_lm, "--out", tmp_path / "m")
    assert result.code == 2 and "does not exist" in result.err


def test_cli_train_with_flag_overrides(run_cli, tmp_path, subset16, tiny_lm):
    result = run_cli("train", "--subset", subset16, "--model", tiny_lm, "--out", tmp_path / "m", "--max-length", "48",
                     "--max-steps", "2", "--set", "per_device_batch=4", "--set", "effective_batch=4")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["steps"] == 2 and summary["n_truncated"] > 0 and summary["template"] == "paper"
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["preset"]["max_length"] == 48


def test_interrupted_training_resumes_from_its_last_checkpoint(tmp_path, subset16, tiny_lm, monkeypatch):
    from trl import SFTTrainer

    overrides = {"max_length": 32, "per_device_batch": 4, "effective_batch": 4, "max_steps": 4, "save_steps": 2}
    reference = train_model(subset16, tiny_lm, tmp_path / "ref", overrides=overrides)
    original = SFTTrainer._save_checkpoint

    def save_then_crash(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(SFTTrainer, "_save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_model(subset16, tiny_lm, tmp_path / "run", overrides=overrides)
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-2").is_dir()
    assert not (tmp_path / "run" / "manifest.json").exists()
    monkeypatch.setattr(SFTTrainer, "_save_checkpoint", original)
    resumed = train_model(subset16, tiny_lm, tmp_path / "run", overrides=overrides)
    assert resumed["resumed_from"] == "checkpoint-2" and resumed["steps"] == 4
    assert abs(resumed["final_loss"] - reference["final_loss"]) < 1e-5


def test_accelerate_entry_point_does_not_import_the_cli():
    import subprocess
    import sys

    code = ("import sys, chasing_random.training.__main__; "
            "print(sorted(m for m in sys.modules if m.startswith('chasing_random.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_report_to_passes_through_the_preset_without_changing_the_model_key():
    from chasing_random.training.presets import get_preset

    tracked = get_preset("cpu-lora", {"report_to": "tensorboard,mlflow"})
    assert tracked.report_to == ("tensorboard", "mlflow") and tracked.resolved()["report_to"] == ["tensorboard", "mlflow"]
    assert tracked.identity() == get_preset("cpu-lora", {}).identity()
