"""Decoding settings shared by the HF and vLLM backends: greedy by default, ``paper`` sampling (T=1.0).

The CPU default of ``max_new_tokens`` is 256 (a 2-core CPU needs minutes per 1024-token batch);
on a GPU it is 1024, as in the study.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from chasing_random.errors import ChaseError

CPU_MAX_NEW_TOKENS = 256
GPU_MAX_NEW_TOKENS = 1024
SAMPLING_PRESETS = {"greedy": {"temperature": 0.0, "top_p": 1.0}, "paper": {"temperature": 1.0, "top_p": 1.0}}


@dataclass(frozen=True)
class Decoding:
    """How to decode: ``temperature == 0`` means greedy; ``seed`` seeds sampling."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "greedy": self.greedy}


def resolve_decoding(*, device_type: str, max_new_tokens: int | None = None, temperature: float | None = None,
                     top_p: float | None = None, sampling: str | None = None, seed: int = 0) -> Decoding:
    """Settings from explicit values over a sampling preset over the defaults (greedy, device-sized length)."""
    if sampling is not None and sampling not in SAMPLING_PRESETS:
        raise ChaseError(f"unknown --sampling '{sampling}'; valid: {', '.join(SAMPLING_PRESETS)}")
    preset = SAMPLING_PRESETS[sampling or "greedy"]
    temperature = preset["temperature"] if temperature is None else temperature
    top_p = preset["top_p"] if top_p is None else top_p
    if max_new_tokens is None:
        max_new_tokens = CPU_MAX_NEW_TOKENS if device_type == "cpu" else GPU_MAX_NEW_TOKENS
    if max_new_tokens < 1:
        raise ChaseError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    if temperature < 0:
        raise ChaseError(f"--temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ChaseError(f"--top-p must be in (0, 1], got {top_p}")
    return Decoding(max_new_tokens=max_new_tokens, temperature=float(temperature), top_p=float(top_p), seed=seed)
