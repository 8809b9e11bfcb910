"""Training throughput of the cpu-lora preset: padded, packed best-fit (bfd) and packed wrapped (tokens/s).

Trains SmolLM2-135M-Instruct on real instruction data for a fixed number of steps, padded and with
each packing strategy (``bfd``: whole rows bin-packed, attention kept inside each row; ``wrapped``:
rows concatenated and cut into full blocks, as the study's TRL did): ``--data alpacaeval``
(AlpacaEval prompts with GPT-4 answers, shipped in a PyPI package; mostly longer than 256 tokens)
or ``--data alpaca`` (../shared/data/alpaca_random_9k.json; short rows, where packing removes padding).
Run: .venv/bin/python benchmarks/train_throughput.py [--data alpaca] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from chasing_random.data.pool import build_pool, read_pool
from chasing_random.generation.benchmarks import package_data_file
from chasing_random.training.sft import train_model


ALPACA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alpaca_random_9k.json"


def training_rows(data: str, n: int) -> list[dict]:
    """The first n instruction/answer pairs of the AlpacaEval baseline file or the Alpaca sample."""
    if data == "alpacaeval":
        path = package_data_file("eval_framework", "tasks", "alpaca_eval", "data", "alpaca_eval_gpt4_baseline.json")
        rows = json.loads(path.read_text(encoding="utf-8"))[:n]
        return [{"id": str(i), "input": r["instruction"], "target": r["output"]} for i, r in enumerate(rows)]
    with tempfile.TemporaryDirectory() as tmp:  # the project's Alpaca adapter; empty outputs are skipped
        build_pool("alpaca", str(ALPACA), Path(tmp) / "alpaca.parquet", on_error="skip")
        return read_pool(Path(tmp) / "alpaca.parquet")[["id", "input", "target"]].head(n).to_dict("records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("alpacaeval", "alpaca"), default="alpacaeval")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--quick", action="store_true", help="smoke run: 16 rows, 1 step, 128-token rows")
    args = parser.parse_args()
    overrides = {"max_steps": args.steps, "save_steps": 10_000}
    if args.quick:
        args.rows, overrides["max_steps"], overrides["max_length"] = 16, 1, 128
    if args.data == "alpaca" and not ALPACA.exists():
        sys.exit(f"missing {ALPACA}")
    rows = training_rows(args.data, args.rows)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, packing in (("padded", {"packing": False}), ("bfd", {"packing": True, "packing_strategy": "bfd"}),
                              ("wrapped", {"packing": True, "packing_strategy": "wrapped"})):
            manifest = train_model(rows, args.model, Path(tmp) / name, preset="cpu-lora",
                                   overrides={**overrides, **packing})
            results[name] = manifest
            print(f"{name:8s} steps {manifest['steps']}  tokens {manifest['n_tokens']}  "
                  f"train time {manifest['train_seconds']:.1f} s  = {manifest['tokens_per_s']:.1f} tokens/s")
    for name in ("bfd", "wrapped"):
        print(f"packing {name} vs padded: {results[name]['tokens_per_s'] / results['padded']['tokens_per_s']:.2f}x "
              f"tokens/s (same steps; packed steps hold more real tokens)")


if __name__ == "__main__":
    main()
