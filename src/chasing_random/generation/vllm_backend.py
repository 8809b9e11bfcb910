"""GPU generation with vLLM (optional extra ``pip install chasing-random[vllm]``), imported only when used.

vLLM schedules and batches requests itself; prompts are sent in shards so that finished shards
are saved and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from chasing_random.errors import ChaseError
from chasing_random.generation.decoding import Decoding
from chasing_random.generation.hf import BatchCallback

SHARD_SIZE = 256


def generate_vllm(model_path: str, prompts: list[str], decoding: Decoding, *, on_batch: BatchCallback,
                  trust_remote_code: bool = False, shard_size: int = SHARD_SIZE) -> None:
    """Generate with ``vllm.LLM.generate``; ``on_batch`` is called after each shard of prompts."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        raise ChaseError("--backend vllm needs vLLM on a GPU machine: pip install 'chasing-random[vllm]'") from None
    llm = LLM(model=model_path, trust_remote_code=trust_remote_code, seed=decoding.seed)
    params = SamplingParams(temperature=decoding.temperature, top_p=decoding.top_p,
                            max_tokens=decoding.max_new_tokens, seed=decoding.seed)
    for start in range(0, len(prompts), shard_size):
        indices = list(range(start, min(start + shard_size, len(prompts))))
        results = llm.generate([prompts[i] for i in indices], params, use_tqdm=False)
        on_batch(indices, [r.outputs[0].text.strip() for r in results],
                 [len(r.outputs[0].token_ids) for r in results])
