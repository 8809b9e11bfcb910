"""What several benchmark scripts share: the Alpaca sample as a pool, clustered unit vectors standing in
for an embedding table, the command line of a table-scale benchmark, a timed call and peak memory.

Not a benchmark: the scripts beside it import it (``python benchmarks/X.py`` puts this folder on the path).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from chasing_random.data.pool import build_pool, read_pool

ROOT = Path(__file__).resolve().parents[1]
ALPACA_SAMPLE = ROOT.parent / "shared" / "data" / "alpaca_random_9k.json"


def alpaca_pool(n: int):
    """The first n rows of the Alpaca sample as a pool (through the project's own Alpaca adapter): the
    pool's DataFrame and its file (in a fresh temporary folder)."""
    rows = json.loads(ALPACA_SAMPLE.read_text())[:n]
    folder = Path(tempfile.mkdtemp())
    (folder / "rows.json").write_text(json.dumps(rows))
    build_pool("alpaca", str(folder / "rows.json"), folder / "bench.parquet")
    return read_pool(folder / "bench.parquet"), folder / "bench.parquet"


def clustered(rng: np.random.Generator, rows: int, dim: int, clusters: int, noise: float = 1.0) -> np.ndarray:
    """Unit float32 rows scattered (``noise`` x a standard normal) around ``clusters`` random centres, built
    in chunks without float64 temporaries, so the peak memory printed is the table's."""
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    out = rng.standard_normal((rows, dim), dtype=np.float32)
    for start in range(0, rows, 65536):
        chunk = out[start:start + 65536]
        chunk *= noise
        chunk += centres[rng.integers(0, clusters, len(chunk))]
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def table_parser(doc: str, *, rows: int, dim: int, budget: int, prefix: int,
                 prefix_help: str = "rows of the identity check against the plain loop") -> argparse.ArgumentParser:
    """The command line of a table-scale benchmark (table rows x dim, a budget, a prefix checked against
    the plain loop); a script adds its own options to it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--dim", type=int, default=dim)
    parser.add_argument("--budget", type=int, default=budget)
    parser.add_argument("--prefix", type=int, default=prefix, help=prefix_help)
    return parser


def timed(function, *args, **kwargs):
    """``function``'s result and the wall seconds it took."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def peak_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
