"""Decontamination: pool rows that share long word n-grams with a benchmark's prompts.

Words are lowercase runs of letters and digits (punctuation and spacing ignored). Every benchmark
prompt's n-grams (default 13, as GPT-3 and open-instruct) go into one dict from n-gram to items, so
a pool row costs one lookup per n-gram of its text (no pool x benchmark loop). A row is contaminated
by an item when the share of the item's n-grams found in the row reaches ``threshold``. An item of
fewer than n words (but at least ``min_words``) is one n-gram: the whole item, found verbatim; a
row whose normalised input equals an item's is always contaminated. Shorter items are counted as
not checkable.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from chasing_random.data.pool import read_pool
from chasing_random.errors import ChaseError
from chasing_random.store import atomic_path, file_fingerprint, jsonl_lines, write_manifest

DEFAULT_NGRAM = 13
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_WORDS = 8
FIELDS = ("input", "target")
WORD = re.compile(r"[^\W_]+")
ITEM_CHARS = 300


def words(text: str) -> list[str]:
    """The normalised words of a text: lowercase letter/digit runs."""
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> set[str]:
    """The distinct n-grams of a word list, each joined by single spaces."""
    return {" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


@dataclass
class BenchmarkIndex:
    """Every checkable benchmark item's n-grams, looked up in one dict."""

    n: int
    grams: dict[str, list[int]] = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    exact: dict[str, int] = field(default_factory=dict)
    short_lengths: set[int] = field(default_factory=set)
    starts: set[tuple[str, str]] = field(default_factory=set)
    too_short: Counter = field(default_factory=Counter)

    def add(self, benchmark: str, index: int, text: str, min_words: int) -> None:
        """Index one benchmark item (too-short items are only counted, and matched exactly)."""
        tokens = words(text)
        number = len(self.items)
        self.items.append({"benchmark": benchmark, "benchmark_index": index, "item": text[:ITEM_CHARS]})
        self.exact.setdefault(" ".join(tokens), number)
        if len(tokens) < min_words:
            self.too_short[benchmark] += 1
            self.totals.append(0)
            return
        length = min(self.n, len(tokens))
        if length < self.n:
            self.short_lengths.add(length)
        grams = ngrams(tokens, length)
        self.totals.append(len(grams))
        for gram in grams:
            self.grams.setdefault(gram, []).append(number)
            self.starts.add(tuple(gram.split(" ", 2)[:2]))


def build_index(against: list[str], *, n: int = DEFAULT_NGRAM, min_words: int = DEFAULT_MIN_WORDS) -> BenchmarkIndex:
    """The n-gram index of the prompts of the named benchmarks (``ifeval``, ``alpaca_eval``, ``file:PATH`` ...)."""
    from chasing_random.generation.benchmarks import load_benchmark

    if n < 2 or min_words < 2:
        raise ChaseError(f"--ngram and --min-words must be at least 2, got {n} and {min_words}")
    index = BenchmarkIndex(n)
    for name in against:
        for prompt in load_benchmark(name):
            index.add(name, prompt["benchmark_index"], prompt["instruction"], min_words)
    return index


def row_matches(text: str, input_text: str, index: BenchmarkIndex, threshold: float) -> dict | None:
    """The best-matching contaminating item of one row (its overlap share and n-grams matched), or None."""
    exact = index.exact.get(" ".join(words(input_text)))
    if exact is not None:
        return {**index.items[exact], "overlap": 1.0, "matched": index.totals[exact], "match": "exact",
                "items_matched": 1}
    tokens = words(text)
    counts: Counter = Counter()
    lengths = sorted({index.n, *index.short_lengths})
    seen: set[str] = set()
    # Only positions whose first two words start some indexed n-gram can match: expand just those.
    for i in range(len(tokens) - lengths[0] + 1):
        if (tokens[i], tokens[i + 1] if i + 1 < len(tokens) else "") not in index.starts:
            continue
        for length in lengths:
            if i + length > len(tokens):
                break
            gram = " ".join(tokens[i:i + length])
            if gram in seen:
                continue
            seen.add(gram)
            for number in index.grams.get(gram, ()):
                counts[number] += 1
    hits = [(counts[k] / index.totals[k], counts[k], k) for k in counts if counts[k] / index.totals[k] >= threshold]
    if not hits:
        return None
    share, matched, number = max(hits, key=lambda h: (h[0], h[1], -h[2]))
    return {**index.items[number], "overlap": round(share, 6), "matched": matched, "match": "ngram",
            "items_matched": len(hits)}


def find_contaminated(pool: pd.DataFrame, index: BenchmarkIndex, *, threshold: float = DEFAULT_THRESHOLD,
                      fields: tuple[str, ...] = FIELDS) -> list[dict]:
    """One record per contaminated pool row: its id and the benchmark item it matched best."""
    if not 0 < threshold <= 1:
        raise ChaseError(f"--threshold must be in (0, 1], got {threshold}")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown or not fields:
        raise ChaseError(f"--fields {','.join(fields)}: valid fields are {', '.join(FIELDS)}")
    out = []
    for row_id, input_text, text in zip(pool["id"], pool["input"],
                                        pool[list(fields)].astype(str).agg("\n".join, axis=1)):
        match = row_matches(text, input_text, index, threshold)
        if match is not None:
            out.append({"id": row_id, **match})
    return out


def decontaminate(pool_path: str | Path, against: list[str], out: str | Path, *, n: int = DEFAULT_NGRAM,
                  threshold: float = DEFAULT_THRESHOLD, fields: tuple[str, ...] = FIELDS,
                  min_words: int = DEFAULT_MIN_WORDS) -> dict:
    """Write the contaminated ids of a pool (JSONL, one row per id with its matched item) and a manifest."""
    started = time.time()
    pool_path, out = Path(pool_path), Path(out)
    if not against:
        raise ChaseError("--against needs at least one benchmark, e.g. ifeval,alpaca_eval")
    pool = read_pool(pool_path)
    index = build_index(against, n=n, min_words=min_words)
    rows = find_contaminated(pool, index, threshold=threshold, fields=fields)
    with atomic_path(out) as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows),
                       encoding="utf-8")
    by_benchmark = Counter(r["benchmark"] for r in rows)
    return write_manifest(out, kind="decontamination",
                          inputs={"pool": str(pool_path), "pool_sha256_16": file_fingerprint(pool_path)},
                          config={"against": against, "ngram": n, "threshold": threshold, "fields": list(fields),
                                  "min_words": min_words},
                          started=started,
                          extra={"pool_rows": len(pool), "contaminated": len(rows),
                                 "by_benchmark": {b: by_benchmark.get(b, 0) for b in against},
                                 "benchmark_items": len(index.items),
                                 "items_too_short": dict(index.too_short), "out": str(out)})


def contaminated_path(pool_path: str | Path) -> Path:
    """The contaminated-ids file that sits beside a pool file (``chase pool decontaminate``'s default)."""
    pool_path = Path(pool_path)
    return pool_path.with_name(pool_path.stem + ".contaminated.jsonl")


def read_contaminated(path: str | Path) -> dict[str, str]:
    """The ids of a decontamination file with the benchmark each matched; errors name file and line."""
    path = Path(path)
    if not path.exists():
        raise ChaseError(f"{path}: contamination file not found (make one with `chase pool decontaminate`)")
    flagged = {}
    for line, text in jsonl_lines(path):
        try:
            row = json.loads(text)
            flagged[str(row["id"])] = str(row["benchmark"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ChaseError(f"{path}, line {line}, field id/benchmark: not a contamination record ({exc})") from None
    return flagged
