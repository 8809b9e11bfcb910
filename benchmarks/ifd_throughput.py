"""IFD loss throughput: (a) the engine vs (b) a one-at-a-time reference vs (c) a bare batched forward.

Scores the same rows of ../shared/data/alpaca_random_9k.json with smollm2-135m-instruct (template
``none``, L = 256) three ways in one run, over the exact same token sequences (both IFD passes):
(a) ``chasing_random.scoring.losses.sequence_losses`` (length-sorted batches, vocabulary projection
only at response positions); (b) batch 1, full logits, a Python loop over response tokens, as the
reference code does; (c) ``model(input_ids, attention_mask).logits`` over the same sorted, padded
batches with no loss bookkeeping. (a) and (c) run ``--repeats`` times, interleaved, and every
time is printed; ratios use the medians. Also runs (a) in bfloat16 and prints its loss error.
Targets on CPU: (a) >= 1.25x (b) and (a) no slower than (c); on a GPU (a) >= 10x (b).

Usage: python benchmarks/ifd_throughput.py [--rows 200] [--batch-size 8] [--repeats 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from common import ALPACA_SAMPLE, alpaca_pool

from chasing_random.models.loading import load_causal_lm
from chasing_random.models.precision import resolve_precision
from chasing_random.scoring.losses import build_sequences, sequence_losses
from chasing_random.scoring.shards import pick_device

MODEL = "smollm2-135m-instruct"
MAX_LENGTH = 256


def reference_losses(model, sequences) -> np.ndarray:
    """(b) One sequence at a time, full logits, a Python loop over the scored tokens."""
    out = np.full(len(sequences), np.nan)
    with torch.inference_mode():
        for index, seq in enumerate(sequences):
            if seq.count == 0:
                continue
            logits = model(input_ids=torch.tensor([seq.ids], device=model.device)).logits[0]
            token_losses = []
            for position in range(seq.start, seq.start + seq.count):
                log_probs = torch.log_softmax(logits[position - 1].float(), dim=-1)
                token_losses.append(-log_probs[seq.ids[position]].item())
            out[index] = sum(token_losses) / len(token_losses)
    return out


def bare_forward(model, sequences, batch_size: int, pad_id: int) -> None:
    """(c) The same length-sorted padded batches through ``model(...).logits``, nothing else."""
    todo = sorted((i for i, s in enumerate(sequences) if s.count), key=lambda i: (-len(sequences[i].ids), i))
    with torch.inference_mode():
        for first in range(0, len(todo), batch_size):
            batch = [sequences[i].ids for i in todo[first:first + batch_size]]
            width = len(batch[0])
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, seq in enumerate(batch):
                ids[row, :len(seq)] = torch.tensor(seq)
                mask[row, :len(seq)] = 1
            model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device))  # logits at every position


def ifd_of(losses: np.ndarray, n_rows: int) -> np.ndarray:
    """Cherry IFD (conditioned / direct loss) of each row from the engine's stacked loss array."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return losses[:n_rows] / losses[n_rows:]


def top_k(values: np.ndarray, k: int) -> set[int]:
    """Row indices of the k highest finite values (ties: lower index first), as a selection would keep."""
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.lexsort((finite, -values[finite]))]
    return set(order[:k].tolist())


def timed(fn):
    """(result, seconds), waiting for queued GPU work before the clock stops."""
    start = time.perf_counter()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200, help="rows of the Alpaca sample (200 for the real run)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of (a) and (c); medians are compared")
    args = parser.parse_args()
    if not ALPACA_SAMPLE.exists():
        print(f"missing {ALPACA_SAMPLE}", file=sys.stderr)
        return 1
    pool, _ = alpaca_pool(args.rows)
    model, tokenizer = load_causal_lm(MODEL, device=pick_device(args.device))
    device = next(model.parameters()).device
    cond, direct, kept, _ = build_sequences(list(pool["input"]), list(pool["target"]), tokenizer, "none", MAX_LENGTH)
    sequences = cond + direct
    tokens = sum(len(s.ids) for s in sequences if s.count)
    pad = tokenizer.pad_token_id
    sequence_losses(model, sequences[:4], batch_size=4, pad_id=pad)  # warm-up
    engine_times, bare_times = [], []
    for _ in range(args.repeats):
        engine, seconds = timed(lambda: sequence_losses(model, sequences, batch_size=args.batch_size, pad_id=pad))
        engine_times.append(seconds)
        bare_times.append(timed(lambda: bare_forward(model, sequences, args.batch_size, pad))[1])
    t_engine, t_bare = float(np.median(engine_times)), float(np.median(bare_times))
    reference, t_reference = timed(lambda: reference_losses(model, sequences))
    bf16_model, _ = load_causal_lm(MODEL, dtype="bfloat16", device=pick_device(args.device))
    sequence_losses(bf16_model, sequences[:4], batch_size=4, pad_id=pad)
    bf16, t_bf16 = timed(lambda: sequence_losses(bf16_model, sequences, batch_size=args.batch_size, pad_id=pad))
    ok = np.isfinite(engine)
    print(f"device: {device} ({torch.get_num_threads()} threads, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})"
          f"  model: {MODEL}  rows: {len(pool)}  L: {MAX_LENGTH}  batch: {args.batch_size}")
    print(f"sequences scored: {int(ok.sum())} (both IFD passes)  tokens: {tokens}  response tokens: {int(2 * kept.sum())}")
    print("(a) runs: " + ", ".join(f"{t:.2f}" for t in engine_times) + " s;  (c) runs: "
          + ", ".join(f"{t:.2f}" for t in bare_times) + " s")
    for name, seconds in (("(a) engine fp32 (median)", t_engine), ("(b) one-at-a-time reference", t_reference),
                          ("(c) bare batched forward (median)", t_bare), ("(a) engine bf16", t_bf16)):
        print(f"{name:36s} {seconds:8.2f} s  {tokens / seconds:8.1f} tok/s")
    speedup_b, speedup_c = t_reference / t_engine, t_bare / t_engine
    print(f"(a) vs (b): {speedup_b:.2f}x  (target {'10' if device.type == 'cuda' else '1.25'}x)")
    print(f"(a) vs (c): {speedup_c:.2f}x  (target >= 1.00x)")
    print(f"bf16 engine speed vs fp32: {t_engine / t_bf16:.2f}x, max |loss error| "
          f"{np.nanmax(np.abs(bf16 - engine)):.4f}, mean {np.nanmean(np.abs(bf16 - engine)):.4f} nats")
    ifd32, ifd16 = ifd_of(engine, len(cond)), ifd_of(bf16, len(cond))
    both = np.isfinite(ifd32) & np.isfinite(ifd16)
    from scipy.stats import spearmanr

    k = max(1, int(both.sum()) // 10)
    print(f"bf16 ranking stability (cherry IFD, {int(both.sum())} rows): Spearman "
          f"{spearmanr(ifd32[both], ifd16[both]).statistic:.4f}, top-{k} overlap "
          f"{len(top_k(ifd32, k) & top_k(ifd16, k)) / k:.0%}")
    auto = resolve_precision("auto", device.type)
    print(f"precision: auto on this machine -> {auto.dtype} ({auto.reason})")
    print(f"engine vs reference: max |loss difference| {np.nanmax(np.abs(engine - reference)):.2e} nats")
    target_b = 10.0 if device.type == "cuda" else 1.25
    passed = speedup_b >= target_b and speedup_c >= 1.0
    print("targets met" if passed else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
