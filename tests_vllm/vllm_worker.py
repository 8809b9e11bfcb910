"""Runs inside .venv-vllm: loads a model with vLLM once, generates greedily and scores IFD losses.

Generation goes through ``generate_outputs(backend="vllm")``, the path of ``chase generate``: the prompts
are cut into several shards that share the process's one engine, which then scores the losses.

Usage: python vllm_worker.py REQUEST.json RESULT.json (the tests write the request, read the result).
The ``LLM`` is built under ``if __name__ == "__main__":`` because vLLM spawns its engine process.
"""

from __future__ import annotations

import json
import sys
import time


def main(request_path: str, result_path: str) -> None:
    from chasing_random.generation.generate import generate_outputs
    from chasing_random.generation.shards import _vllm_engine
    from chasing_random.models.loading import load_tokenizer
    from chasing_random.scoring.vllm_losses import vllm_ifd_losses
    from chasing_random.store import read_manifest

    request = json.loads(open(request_path, encoding="utf-8").read())
    started = time.perf_counter()
    llm = _vllm_engine(request["model"], 0, False)  # the engine the generation shards below reuse
    load_s = time.perf_counter() - started

    with open("prompts.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"instruction": text}) + "\n" for text in request["instructions"])
    started = time.perf_counter()
    records = generate_outputs(request["model"], "file:prompts.jsonl", "outputs.json", template="chat",
                               max_new_tokens=request["max_new_tokens"], backend="vllm",
                               batch_size=request["shard_prompts"], shard_prompts=request["shard_prompts"])
    generate_s = time.perf_counter() - started
    assert _vllm_engine.cache_info().currsize == 1 and _vllm_engine(request["model"], 0, False) is llm

    started = time.perf_counter()
    losses = vllm_ifd_losses(llm, load_tokenizer(request["model"]), request["inputs"], request["targets"],
                             request["template"], request["max_length"])
    score_s = time.perf_counter() - started
    result = {"load_s": load_s, "generate_s": generate_s, "score_s": score_s,
              "texts": [r["output"] for r in records], "counts": [r["n_new_tokens"] for r in records],
              "shards": read_manifest("outputs.json")["shards"],
              **{name: [None if v != v else float(v) for v in values.tolist()] for name, values in losses.items()}}
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
