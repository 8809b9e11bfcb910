"""Runs inside .venv-vllm: loads a model with vLLM once, generates greedily and scores IFD losses.

Usage: python vllm_worker.py REQUEST.json RESULT.json (the tests write the request, read the result).
The ``LLM`` is built under ``if __name__ == "__main__":`` because vLLM spawns its engine process.
"""

from __future__ import annotations

import json
import sys
import time


def main(request_path: str, result_path: str) -> None:
    from chasing_random.generation.decoding import Decoding
    from chasing_random.generation.vllm_backend import generate_with_llm, load_vllm
    from chasing_random.models.loading import load_tokenizer
    from chasing_random.scoring.vllm_losses import vllm_ifd_losses

    request = json.loads(open(request_path, encoding="utf-8").read())
    started = time.perf_counter()
    llm = load_vllm(request["model"], max_model_len=request["max_model_len"])
    load_s = time.perf_counter() - started

    answers: dict[int, tuple[str, int]] = {}

    def on_batch(indices, texts, counts):
        answers.update({i: (text, count) for i, text, count in zip(indices, texts, counts)})

    started = time.perf_counter()
    generate_with_llm(llm, request["prompts"], Decoding(max_new_tokens=request["max_new_tokens"]), on_batch=on_batch)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    losses = vllm_ifd_losses(llm, load_tokenizer(request["model"]), request["inputs"], request["targets"],
                             request["template"], request["max_length"])
    score_s = time.perf_counter() - started
    result = {"load_s": load_s, "generate_s": generate_s, "score_s": score_s,
              "texts": [answers[i][0] for i in range(len(request["prompts"]))],
              "counts": [answers[i][1] for i in range(len(request["prompts"]))],
              **{name: [None if v != v else float(v) for v in values.tolist()] for name, values in losses.items()}}
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
