"""``precision: auto``: bfloat16 where the hardware multiplies it natively, float32 elsewhere.

Native means a CUDA GPU that reports bf16 support, or a CPU with bf16 matrix units (Intel AMX
``amx_bf16`` or ``avx512_bf16`` in /proc/cpuinfo). Elsewhere bf16 is emulated and slower than
fp32 (measured about 4x slower on an AMD CPU without them), so ``auto`` keeps fp32 there.
The choice and its reason go into manifests; score-table keys hold the resolved dtype.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path

from chasing_random.errors import ChaseError

PRECISIONS = ("auto", "float32", "bfloat16")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    """The dtype a model runs in, what was asked for, and why."""

    dtype: str
    requested: str
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The CPU's native bf16 flags (from /proc/cpuinfo text; empty when there is none or no such file)."""
    if cpuinfo is None:
        cpuinfo = _read_cpuinfo()
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return [flag for flag in CPU_BF16_FLAGS if flag in flags]


@functools.cache
def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def resolve_precision(requested: str, device: str, *, cpuinfo: str | None = None) -> Precision:
    """The dtype for ``requested`` (auto, float32 or bfloat16) on ``device`` (cpu, cuda[:N], mps)."""
    if requested not in PRECISIONS:
        raise ChaseError(f"unknown precision '{requested}'; valid: {', '.join(PRECISIONS)}")
    if requested != "auto":
        return Precision(requested, requested, "asked for")
    kind = device.split(":", 1)[0]
    if kind == "cuda":
        import torch

        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return Precision("bfloat16", "auto", f"GPU {torch.cuda.get_device_name()} supports bf16")
        return Precision("float32", "auto", "GPU without bf16 support")
    if kind == "cpu":
        flags = cpu_bf16_flags(cpuinfo)
        if flags:
            return Precision("bfloat16", "auto", f"CPU has native bf16 ({', '.join(flags)})")
        return Precision("float32", "auto", "CPU without amx_bf16/avx512_bf16: bf16 would be emulated")
    return Precision("float32", "auto", f"device {device}: fp32")
