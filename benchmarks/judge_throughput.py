"""Judge throughput: forward-pass rating (batched, length-sorted) vs generate-and-parse at batch 1.

The reference code rates one row at a time with ``generate`` and parses the text; the forward
pass reads the distribution over "0".."5" at the first answer position in batches. Both use the
study's AlpaGasus prompt, the packaged SmolLM2, and the same Alpaca rows. Target ratio >= 5x.

Example: python benchmarks/judge_throughput.py            (128 rows)
         python benchmarks/judge_throughput.py --rows 16  (quick)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from chasing_random.judges.local import LocalJudge
from chasing_random.judges.parse import RatingParseError, parse_first_number
from chasing_random.scoring.ratings import ALPAGASUS_CHOICES, alpagasus_conversation

ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_random_9k.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64,
                        help="generate budget per row (the prompt asks for a rating line and an explanation)")
    parser.add_argument("--data", type=Path, default=ALPACA)
    args = parser.parse_args()

    rows = json.loads(args.data.read_text())[:args.rows]
    pool = [{"input": r["instruction"] + r.get("input", ""), "target": r["output"]} for r in rows]
    conversations = [alpagasus_conversation("study", row) for row in pool]

    forward_judge = LocalJudge("smollm2-135m-instruct", batch_size=args.batch_size)
    forward_judge.choose(conversations[:2], ALPAGASUS_CHOICES)  # load and warm up
    started = time.perf_counter()
    rated = forward_judge.choose(conversations, ALPAGASUS_CHOICES)
    forward_s = time.perf_counter() - started

    generate_judge = LocalJudge("smollm2-135m-instruct", batch_size=1)
    started = time.perf_counter()
    replies = generate_judge.complete(conversations, max_tokens=args.max_new_tokens)
    generate_s = time.perf_counter() - started
    parsed = 0
    for reply in replies:
        try:
            parse_first_number(reply.text)
            parsed += 1
        except RatingParseError:
            pass

    print(f"{len(conversations)} Alpaca rows, SmolLM2-135M, study prompt")
    print(f"forward-pass rating (batch {args.batch_size}): {forward_s:.2f} s, {len(conversations) / forward_s:.1f} rows/s, "
          f"{sum(r.ok for r in rated)} rated")
    print(f"generate (max {args.max_new_tokens} new tokens, batch 1) + parse: {generate_s:.2f} s, "
          f"{len(conversations) / generate_s:.1f} rows/s, {parsed} parsed")
    print(f"ratio {generate_s / forward_s:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
