"""Generation in shards: a layout of whole batches, and the picklable computation of one shard.

Prompts are sorted longest first (ties in benchmark order) and cut into batches exactly as the
unsharded run batches them; a shard is a run of consecutive batches. So every prompt is decoded in
the same batch whatever the shard count or executor, and greedy outputs are byte-identical.
Shards are cut to about equal padded length (prompt plus ``max_new_tokens``), so no shard holds the
stage much longer than the others. A shard's finished batches go to its resume sidecar as they end.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from chasing_random.generation.decoding import Decoding
from chasing_random.generation.hf import length_sorted_batches
from chasing_random.generation.outputs import OutputShards
from chasing_random.sharding import shard_layout
from chasing_random.store import fingerprint

DEFAULT_SHARD_PROMPTS = 256
SHARD_SCHEMA = pa.schema([("benchmark_index", pa.int64()), ("output", pa.string()), ("n_new_tokens", pa.int64())])


def generation_layout(lengths: list[int], batch_size: int, shard_prompts: int,
                      max_new_tokens: int) -> list[np.ndarray]:
    """The prompt positions of each shard: whole length-sorted batches, about ``shard_prompts`` per
    shard (rounded up to whole batches), balanced by padded length."""
    batches = length_sorted_batches(lengths, batch_size)
    if not batches:
        return []
    cost = [len(batch) * (max(lengths[i] for i in batch) + max_new_tokens) for batch in batches]
    per_shard = max(1, -(-shard_prompts // batch_size))
    groups = shard_layout(len(batches), per_shard, cost)
    return [np.array([i for b in np.sort(group) for i in batches[b]], dtype=np.int64) for group in groups]


def layout_name(indices: list[int], lengths: list[int], batch_size: int, shard_prompts: int) -> str:
    """The folder name of one layout: batch size, shard size, and a hash of the prompts it cuts."""
    return f"b{batch_size}-s{shard_prompts}-{fingerprint(indices, lengths, length=10)}"


@functools.lru_cache(maxsize=1)
def _vllm_engine(model_path: str, seed: int, trust_remote_code: bool):
    """One vLLM engine per process, kept for the process's next shards."""
    from chasing_random.generation.vllm_backend import load_vllm

    return load_vllm(model_path, seed=seed, trust_remote_code=trust_remote_code)


@dataclass
class ShardGenerator:
    """Answers the prompts of one shard (``__call__(positions)`` -> a ``SHARD_SCHEMA`` table).

    Picklable without weights: a Ray worker loads the model once and keeps it for its next shards.
    Prompts already in the shard's sidecar are not generated again.
    """

    texts: list[str]
    indices: list[int]  # benchmark_index of each prompt
    shard_of: dict[int, int]  # first position of a shard -> its number
    shards: OutputShards
    decoding: Decoding
    batch_size: int
    backend: str
    model: object  # a LazyCausalLM for hf; the model path for vllm
    trust_remote_code: bool = False

    def __call__(self, positions: np.ndarray) -> pa.Table:
        log = self.shards.sidecar(self.shard_of[int(positions[0])])
        todo = [int(p) for p in positions if self.indices[p] not in log.done]
        if todo:
            def on_batch(batch: list[int], answers: list[str], counts: list[int]) -> None:
                log.append([{"benchmark_index": self.indices[todo[i]], "output": answer, "n_new_tokens": count}
                            for i, answer, count in zip(batch, answers, counts)])

            texts = [self.texts[p] for p in todo]
            if self.backend == "hf":
                from chasing_random.generation.hf import generate_hf

                lm, tokenizer = self.model()
                generate_hf(lm, tokenizer, texts, self.decoding, batch_size=self.batch_size, on_batch=on_batch)
            else:
                from chasing_random.generation.vllm_backend import generate_with_llm

                engine = _vllm_engine(self.model, self.decoding.seed, self.trust_remote_code)
                generate_with_llm(engine, texts, self.decoding, on_batch=on_batch)
        rows = [log.done[self.indices[p]] for p in positions]
        return pa.Table.from_pylist([{f: row[f] for f in SHARD_SCHEMA.names} for row in rows], schema=SHARD_SCHEMA)
