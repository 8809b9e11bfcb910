"""Shared fixtures: the real data samples (skipped when absent), packaged and tiny models, a CLI runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("CHASE_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _one_thread_per_worker():
    """Two xdist workers on two cores: torch must not oversubscribe them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo; tests that need it skip on a user's fresh clone."""
    if not (SHARED_DATA / "alpaca_random_9k.json").exists():
        pytest.skip(f"needs the real data samples in {SHARED_DATA} (../shared/data beside the repo), absent here")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2() -> str:
    """Folder of the packaged SmolLM2-135M-Instruct (converted once and cached)."""
    from chasing_random.models.loading import smollm2_folder

    return str(smollm2_folder())


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory, smollm2) -> str:
    """A tiny random Llama with SmolLM2's tokenizer: a real model that runs in milliseconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def run_cli(capsys):
    """Run ``chase ARGS`` in-process; returns exit code, stdout and stderr."""
    from chasing_random.cli import main

    def run(*args: str) -> CliResult:
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def pool_from_rows(tmp_path_factory):
    """Build a pool from Alpaca-layout rows (``instruction``/``output``): ``pool_from_rows(rows, "name")``
    returns ``.../name.parquet`` (the pool's name in subset and manifest files)."""
    from chasing_random.data.pool import build_pool

    def build(rows: list[dict], name: str = "toy") -> Path:
        folder = tmp_path_factory.mktemp(name)
        (folder / "rows.json").write_text(json.dumps(rows), encoding="utf-8")
        build_pool("alpaca", str(folder / "rows.json"), folder / f"{name}.parquet")
        return folder / f"{name}.parquet"

    return build


@pytest.fixture(scope="session")
def near_tie_rows():
    """``near_tie_rows(seed, groups, copies, dim)``: unit float32 rows in groups of copies a few float32 ulps
    apart, which float32 products cannot order (the k-center and RDS+ exactness tests)."""
    import numpy as np

    def make(seed: int, groups: int, copies: int, dim: int):
        rng = np.random.default_rng(seed)
        rows = np.repeat(rng.standard_normal((groups, dim)), copies, axis=0)
        rows = rows + 1e-7 * rng.standard_normal((groups * copies, dim))
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    return make


@pytest.fixture(scope="session")
def alpaca_rows(shared_data) -> list[dict]:
    """The real Alpaca sample of ../shared/data, read once."""
    return json.loads((shared_data / "alpaca_random_9k.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray on 127.0.0.1 (2 CPUs, no dashboard) for this test process, shut down after.

    ``address="local"`` starts a new instance even when another one runs on the machine, so each
    pytest-xdist worker gets its own cluster instead of joining (and later stopping) another's.
    """
    ray = pytest.importorskip("ray", reason="Ray is part of the dev install: pip install -e '.[dev]'")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 2**20, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()
