"""Generation throughput: batched, length-sorted HF generate vs one prompt at a time (target >= 3x).

64 AlpacaEval prompts, SmolLM2-135M-Instruct (chat template), 128 new tokens, greedy; prints the
generated tokens/s of each way, their ratio, and whether both gave identical outputs.
Run: .venv/bin/python benchmarks/generation_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import time

from chasing_random.data.templates import get_template
from chasing_random.generation.benchmarks import load_benchmark
from chasing_random.generation.decoding import Decoding
from chasing_random.generation.hf import generate_hf
from chasing_random.models.loading import load_causal_lm


def timed_generation(model, tokenizer, prompts, decoding, batch_size):
    """Outputs (text, tokens) per prompt, generated tokens and seconds."""
    got = {}
    start = time.perf_counter()
    generate_hf(model, tokenizer, prompts, decoding, batch_size=batch_size,
                on_batch=lambda idx, texts, counts: got.update(zip(idx, zip(texts, counts))))
    seconds = time.perf_counter() - start
    outputs = [got[i] for i in range(len(prompts))]
    return outputs, sum(count for _, count in outputs), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 prompts, 32 new tokens")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.new_tokens = 8, 32

    model, tokenizer = load_causal_lm(args.model)
    template = get_template("chat" if getattr(tokenizer, "chat_template", None) else "paper")
    prompts = [template.prompt(p["instruction"], tokenizer)
               for p in load_benchmark("alpaca_eval", limit=args.prompts, seed=0)]
    decoding = Decoding(max_new_tokens=args.new_tokens)
    batched, batched_tokens, batched_s = timed_generation(model, tokenizer, prompts, decoding, args.batch_size)
    single, single_tokens, single_s = timed_generation(model, tokenizer, prompts, decoding, 1)
    batched_rate, single_rate = batched_tokens / batched_s, single_tokens / single_s
    print(f"prompts {len(prompts)}, max new tokens {args.new_tokens}, batch size {args.batch_size}, model {args.model}")
    print(f"one at a time: {single_tokens} tokens in {single_s:.1f} s = {single_rate:.1f} tokens/s")
    print(f"batched:       {batched_tokens} tokens in {batched_s:.1f} s = {batched_rate:.1f} tokens/s")
    print(f"speed-up: {batched_rate / single_rate:.2f}x (target >= 3x)")
    print(f"identical greedy outputs: {batched == single}")


if __name__ == "__main__":
    main()
