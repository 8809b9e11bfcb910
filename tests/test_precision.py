"""``precision: auto``: bf16 only where the hardware has native bf16, recorded in manifests and keys."""

from __future__ import annotations

import json

import pytest

from chasing_random.data.pool import build_pool
from chasing_random.errors import ChaseError
from chasing_random.models.precision import cpu_bf16_flags, resolve_precision
from chasing_random.store import ArtifactStore

XEON = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
EPYC = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n"


def test_auto_picks_bf16_only_on_native_bf16_cpus():
    assert cpu_bf16_flags(XEON) == ["amx_bf16", "avx512_bf16"] and cpu_bf16_flags(EPYC) == []
    xeon, epyc = resolve_precision("auto", "cpu", cpuinfo=XEON), resolve_precision("auto", "cpu", cpuinfo=EPYC)
    assert (xeon.dtype, epyc.dtype) == ("bfloat16", "float32")
    assert "amx_bf16" in xeon.reason and "emulated" in epyc.reason
    assert resolve_precision("float32", "cpu", cpuinfo=XEON).dtype == "float32"
    assert resolve_precision("bfloat16", "cpu", cpuinfo=EPYC).dtype == "bfloat16"
    with pytest.raises(ChaseError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", "cpu")


def test_auto_loss_table_records_its_choice_and_keys_by_the_resolved_dtype(tmp_path, tiny_lm):
    from chasing_random.judges.local import LocalJudge
    from chasing_random.scoring.losses import loss_key, loss_table
    from chasing_random.training.presets import get_preset
    from chasing_random.training.sft import training_precision

    rows = [{"instruction": f"Say {i}.", "output": f"{i} it is."} for i in range(4)]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    pool = build_pool("alpaca", str(tmp_path / "rows.json"), tmp_path / "pool.parquet") and tmp_path / "pool.parquet"
    store = ArtifactStore(tmp_path / "store")
    here = resolve_precision("auto", "cpu")
    auto = loss_table(pool, tiny_lm, "none", 32, store=store, dtype="auto", device="cpu")
    assert auto.manifest["config"]["dtype"] == here.dtype
    assert auto.manifest["config"]["precision"] == {"dtype": here.dtype, "requested": "auto", "reason": here.reason}
    explicit = loss_table(pool, tiny_lm, "none", 32, store=store, dtype=here.dtype, device="cpu")
    assert explicit.reused and explicit.path == auto.path  # auto shares the table of the dtype it chose
    assert (loss_key(store, pool, tiny_lm, "none", 32, "float32")
            != loss_key(store, pool, tiny_lm, "none", 32, "bfloat16"))
    assert LocalJudge(tiny_lm, dtype="auto").describe()["dtype"] == here.dtype
    expected = "bf16" if here.dtype == "bfloat16" else "fp32"
    assert training_precision(get_preset("cpu-lora", {"precision": "auto"}), "cpu") == expected
