"""Reference fidelity: how far each default rule of the IFD engine moves IFD away from the authors' code.

On the first ``--rows`` rows of ../shared/data/alpaca_random_9k.json (through the project's Alpaca
adapter) with smollm2-135m-instruct, fp32, L = 512, walks from the project's default to each authors'
reference mode one rule at a time (Superfiltering: join, direct-pass prefix and first token,
tokenization at the boundary, direct-pass truncation, exclusions; Cherry: join, tokenization at the
boundary and truncation/exclusions) and prints, for every step, the change against the step before:
mean IFD difference, Spearman correlation, top-k overlap of the kept rows (IFD below 1). Also compares
direct-pass prefixes for a chat model (the tokenizer's BOS, <|endoftext|>, a newline, none), Cherry's
as-shipped slicing and its ``alpaca`` prompt. Every sequence comes from the project's own builders
(``build_sequences``, ``scoring.reference``); each distinct token sequence is scored once (per-token
losses, batched) and every variant is a mean over a slice of one. The last step of each walk is
checked against the authors' numbers in tests/fixtures/reference_ifd.json on the rows they share.

Usage: python benchmarks/reference_fidelity.py [--rows 120] [--top 10] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from common import ALPACA_SAMPLE, ROOT, alpaca_pool
from scipy.stats import spearmanr

from chasing_random.models.loading import load_causal_lm
from chasing_random.scoring.losses import Scored, build_sequences
from chasing_random.scoring.reference import originals, reference_rows

FIXTURE = ROOT / "tests" / "fixtures" / "reference_ifd.json"
MODEL = "smollm2-135m-instruct"
L = 512


class TokenLosses:
    """Per-token losses of every distinct sequence, computed once in length-sorted right-padded batches."""

    def __init__(self, model, pad_id: int, batch_size: int):
        self.model, self.pad_id, self.batch_size = model, pad_id, batch_size
        self.wanted: dict[tuple, None] = {}
        self.losses: dict[tuple, np.ndarray] = {}

    def need(self, seqs: list[Scored]) -> list[Scored]:
        for s in seqs:
            if s.count > 0:
                self.wanted.setdefault(tuple(s.ids), None)
        return seqs

    def run(self) -> int:
        todo = sorted((k for k in self.wanted if k not in self.losses), key=len, reverse=True)
        tokens = 0
        with torch.inference_mode():
            for first in range(0, len(todo), self.batch_size):
                batch = todo[first:first + self.batch_size]
                ids = torch.full((len(batch), len(batch[0])), self.pad_id, dtype=torch.long)
                for row, seq in enumerate(batch):
                    ids[row, :len(seq)] = torch.tensor(seq)
                logits = self.model(input_ids=ids, use_cache=False).logits[:, :-1].float()
                picked = torch.logsumexp(logits, -1) - logits.gather(2, ids[:, 1:, None])[..., 0]
                for row, seq in enumerate(batch):
                    self.losses[seq] = np.concatenate([[np.nan], picked[row, :len(seq) - 1].double().numpy()])
                    tokens += len(seq)
        return tokens

    def mean(self, seqs: list[Scored]) -> np.ndarray:
        return np.array([self.losses[tuple(s.ids)][s.start:s.start + s.count].mean() if s.count > 0 else np.nan
                         for s in seqs])


def ifd_of(kind: str, cond: np.ndarray, direct: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(cond - direct) if kind == "superfilter" else cond / direct


def compare(a: np.ndarray, b: np.ndarray, top: int, inclusive: bool) -> dict:
    """b against a on rows finite in both: mean(b - a), Spearman, top-k overlap of the rows each keeps."""
    both = np.isfinite(a) & np.isfinite(b)

    def top_ids(x):
        keep = np.flatnonzero(both & ((x <= 1) if inclusive else (x < 1)))
        return set(keep[np.lexsort((keep, -x[keep]))][:top])

    return {"rows": int(both.sum()), "mean_diff": float(np.mean(b[both] - a[both])),
            "max_abs_diff": float(np.max(np.abs(b[both] - a[both]))),
            "spearman": float(spearmanr(a[both], b[both]).statistic), "top_overlap": len(top_ids(a) & top_ids(b))}


def direct_with_prefix(prefix: list[int], cond: list[Scored]) -> list[Scored]:
    """The kept response tokens of each conditioned sequence after ``prefix``, all scored."""
    return [Scored(prefix + c.ids[c.start:c.start + c.count], len(prefix), c.count) for c in cond]


def drop_first(seqs: list[Scored]) -> list[Scored]:
    return [Scored(s.ids, s.start + 1, s.count - 1) if s.count > 0 else s for s in seqs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    if not ALPACA_SAMPLE.exists():
        print(f"skipped: {ALPACA_SAMPLE} is not present")
        return 0
    started = time.perf_counter()
    pool, pool_path = alpaca_pool(args.rows)
    model, tok = load_causal_lm(MODEL, dtype="float32", device="cpu")
    model.eval()
    rows = originals(pool, pool_path)
    inputs, targets = list(pool["input"]), [r.output for r in rows]
    newline_join = [r.instruction + ("\n" + r.context if r.context != "" else "") for r in rows]
    input_join = [r.instruction + ("\nInput:" + r.context if r.context != "" else "") for r in rows]
    has_input = np.array([r.context != "" for r in rows])
    T = TokenLosses(model, tok.pad_token_id, args.batch_size)

    # Superfiltering walk: each step changes one rule of the previous one.
    d_cond, d_direct, _, _ = build_sequences(inputs, targets, tok, "none", L)
    j_cond, _, _, _ = build_sequences(newline_join, targets, tok, "none", L)
    sf_ref = reference_rows("superfiltering", rows, tok, L)
    alone = [Scored(c.ids[c.start:c.start + c.count], 1, c.count - 1) for c in j_cond]  # response alone, 2..N
    r_cond = [Scored(*r.cond) for r in sf_ref]
    r_direct = [Scored(*r.direct) for r in sf_ref]
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    newline = tok("\n", add_special_tokens=False)["input_ids"]
    prefixes = {"BOS " + repr(tok.bos_token) + " (default)": d_direct,
                "<|endoftext|>": direct_with_prefix([eot], d_cond),
                "newline": direct_with_prefix(newline, d_cond)}
    for seqs in (d_cond, d_direct, j_cond, alone, r_cond, r_direct, *prefixes.values()):
        T.need(seqs)

    # Cherry walk (wiz) and its variants.
    c_cond, c_direct, c_kept, c_trunc = build_sequences(inputs, targets, tok, "cherry", L)
    ci_cond, _, _, _ = build_sequences(input_join, targets, tok, "cherry", L)
    wiz = reference_rows("cherry-wiz", rows, tok, L)
    shipped = reference_rows("cherry-wiz-as-shipped", rows, tok, L)
    alpaca = reference_rows("cherry-alpaca", rows, tok, L)
    for ref in (wiz, shipped, alpaca):
        T.need([Scored(*r.cond) for r in ref])
        T.need([Scored(*r.direct) for r in ref])
    for seqs in (c_cond, c_direct, ci_cond):
        T.need(seqs)
    tokens = T.run()
    m = T.mean

    def ref_ifd(ref, kind):
        values = ifd_of(kind, m([Scored(*r.cond) for r in ref]), m([Scored(*r.direct) for r in ref]))
        return np.where([r.excluded is None for r in ref], values, np.nan)

    sf_steps = [
        ("default (template none, BOS prefix, every response token)", ifd_of("superfilter", m(d_cond), m(d_direct))),
        ("join instruction and input with one newline", ifd_of("superfilter", m(j_cond), m(d_direct))),
        ("direct pass: response alone, first token not a target", ifd_of("superfilter", m(j_cond), m(alone))),
        ("tokenize prompt + response as one string", ifd_of("superfilter", m(r_cond), m(alone))),
        ("direct pass cut at L - prompt + 1 tokens", ifd_of("superfilter", m(r_cond), m(r_direct))),
        ("exclude what upstream cannot score (= --reference superfiltering)", ref_ifd(sf_ref, "superfilter")),
    ]
    c_steps = [
        ("default (template cherry, blank-line join)", ifd_of("cherry", m(c_cond), m(c_direct))),
        ("wiz input join: instruction + '\\nInput:' + input", ifd_of("cherry", m(ci_cond), m(c_direct))),
        ("one-string tokenization, Cherry's truncation and exclusions (= --reference cherry-wiz)",
         ref_ifd(wiz, "cherry")),
    ]
    print(f"reference fidelity: {len(rows)} Alpaca rows ({int(has_input.sum())} with an input), {MODEL}, fp32, "
          f"L = {L}, top-k = {args.top}; {len(T.losses)} distinct sequences, {tokens} tokens, "
          f"{time.perf_counter() - started:.0f} s")
    fixture = json.loads(FIXTURE.read_text())["methods"]
    failures = 0
    for title, steps, kind, name in (("Superfiltering", sf_steps, "superfilter", "superfiltering"),
                                     ("Cherry (wiz)", c_steps, "cherry", "cherry-wiz")):
        inclusive = kind == "cherry"
        print(f"\n{title}: each step against the one before, and against the authors' code")
        print("| step | rows | mean diff | max abs diff | Spearman | top-k shared | vs authors: Spearman | top-k shared |")
        print("|---|---|---|---|---|---|---|---|")
        reference = steps[-1][1]
        for i, (label, values) in enumerate(steps):
            prev = compare(steps[i - 1][1], values, args.top, inclusive) if i else None
            ref = compare(values, reference, args.top, inclusive)
            cells = (f"{prev['rows']} | {prev['mean_diff']:+.4f} | {prev['max_abs_diff']:.4f} | {prev['spearman']:.3f} | "
                     f"{prev['top_overlap']}/{args.top}") if prev else "- | - | - | - | -"
            print(f"| {label} | {cells} | {ref['spearman']:.3f} | {ref['top_overlap']}/{args.top} |")
        want = np.array([np.nan if v is None else v for v in fixture[name]["ifd"]])
        shared = min(len(want), len(reference))
        agree = np.allclose(reference[:shared], want[:shared], atol=1e-3, equal_nan=True)
        failures += not agree
        print(f"last step equals the authors' numbers on the {shared} fixture rows (1e-3): {agree}")
    excluded = [i for i, r in enumerate(sf_ref) if r.excluded]
    print(f"\nSuperfiltering exclusions: {len(excluded)} rows ({', '.join(sf_ref[i].excluded for i in excluded)}); "
          f"their default IFD: {', '.join(f'{sf_steps[0][1][i]:.3f}' for i in excluded)}")
    print(f"Cherry exclusions: authors {sum(r.excluded is not None for r in wiz)}, project (truncated) {int(c_trunc.sum())}")

    print("\nDirect-pass prefix for a chat model (template none; the conditioned pass unchanged)")
    print("| prefix | first response token's mean loss | vs default: mean diff | Spearman | top-k shared "
          "| vs Superfiltering: Spearman | top-k shared |")
    print("|---|---|---|---|---|---|---|")
    default = sf_steps[0][1]
    reference = sf_steps[-1][1]
    variants = {name: (ifd_of("superfilter", m(d_cond), m(seqs)),
                       np.nanmean(m([Scored(s.ids, s.start, 1) for s in seqs if s.count]))) for name, seqs in prefixes.items()}
    variants["none: drop the first response token from both passes"] = (
        ifd_of("superfilter", m(drop_first(d_cond)), m(drop_first(d_direct))), float("nan"))
    for name, (values, first) in variants.items():
        a, b = compare(default, values, args.top, False), compare(values, reference, args.top, False)
        print(f"| {name} | {first:.2f} | {a['mean_diff']:+.4f} | {a['spearman']:.3f} | {a['top_overlap']}/{args.top} "
              f"| {b['spearman']:.3f} | {b['top_overlap']}/{args.top} |")

    print("\nCherry variants against --reference cherry-wiz (rows with an input only where marked)")
    wiz_ifd = ref_ifd(wiz, "cherry")
    for label, values, mask in (("cherry-wiz-as-shipped (input rows)", ref_ifd(shipped, "cherry"), has_input),
                                ("cherry-wiz-as-shipped (all rows)", ref_ifd(shipped, "cherry"), np.ones_like(has_input)),
                                ("cherry-alpaca (all rows)", ref_ifd(alpaca, "cherry"), np.ones_like(has_input)),
                                ("project default, template cherry (input rows)", c_steps[0][1], has_input)):
        c = compare(np.where(mask, wiz_ifd, np.nan), np.where(mask, values, np.nan), args.top, True)
        print(f"{label}: rows {c['rows']}, mean diff {c['mean_diff']:+.4f}, max abs diff {c['max_abs_diff']:.4f}, "
              f"Spearman {c['spearman']:.3f}, top-{args.top} shared {c['top_overlap']}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
