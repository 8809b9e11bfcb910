"""Million-row pools: `chase pool build`, `merge`, `info` and model-free `select` at 100k and 1M rows.

Writes a pool source of N rows made from the shared Alpaca sample (../shared/data/alpaca_random_9k.json)
with perturbations (each pass over the sample marks its instructions with a variant number, every 50th
row repeats the row before it, the sample's four empty outputs recur and are quarantined), then runs each
command in a child process and prints its wall time, its work time (measured inside the child after
the CLI is imported, so a loaded machine's slow start-up is left out), rows/s of work, peak RSS
(``os.wait4`` of that child), and the work-time ratio from the smallest size (the reference, measured in
the same run) to the largest against the row ratio (1.00 = linear).
Run: .venv/bin/python benchmarks/pool_scale.py [--sizes 100000,1000000] [--all] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALPACA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alpaca_random_9k.json"
RSS_TARGET_GB = 2.0
BUDGETS = "1000,10000,100000"
DUPLICATE_EVERY = 50
CHILD = """
import os, sys, time
from chasing_random.cli import main
started = time.perf_counter()
try:
    main()
finally:
    with open(os.environ["POOL_SCALE_WORK_FILE"], "w") as handle:
        handle.write(repr(time.perf_counter() - started))
"""


def write_source(path: Path, n: int) -> None:
    """N Alpaca-layout rows: the sample repeated, each pass's instructions marked, every 50th row a duplicate."""
    sample = json.loads(ALPACA.read_text(encoding="utf-8"))
    with open(path, "w", encoding="utf-8") as handle:
        previous = None
        for k in range(n):
            if previous is not None and k % DUPLICATE_EVERY == 0:
                row = previous
            else:
                base = sample[k % len(sample)]
                variant = k // len(sample)
                row = {**base, "instruction": base["instruction"] + (f" (variant {variant})" if variant else "")}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            previous = row


def run_chase(args: list[str]) -> tuple[float, float, float]:
    """Run one chase command in a child process; (wall seconds, work seconds, peak RSS in GB of that child)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CHASE_QUIET": "1", "OMP_NUM_THREADS": "1", "POOL_SCALE_WORK_FILE": f"{tmp}/work"}
        with open(f"{tmp}/log", "wb") as log:
            started = time.perf_counter()
            child = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, stdout=log, stderr=log)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"chase {' '.join(args)} failed:\n{Path(tmp, 'log').read_text(errors='replace')[-2000:]}")
        work = float(Path(tmp, "work").read_text())
    return seconds, work, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def measure(n: int, folder: Path, everything: bool) -> dict[str, tuple[float, float]]:
    """Work time and peak memory of every command on an n-row source."""
    source, pool = folder / f"source_{n}.jsonl", folder / f"pool_{n}.parquet"
    started = time.perf_counter()
    write_source(source, n)
    print(f"\n{n:,} rows: source written in {time.perf_counter() - started:.1f} s "
          f"({source.stat().st_size / 2**20:.0f} MB)", flush=True)
    commands = {
        "pool build": ["pool", "build", "alpaca", str(source), "--out", str(pool), "--on-error", "skip"],
        "pool info": ["pool", "info", str(pool)],
        "pool merge (pool + itself)": ["pool", "merge", str(pool), str(pool), "--out", str(folder / "merged.parquet")],
        "select random": ["select", "--pool", str(pool), "--strategy", "random", "--budgets", BUDGETS,
                          "--out", str(folder / "sel")],
        "select longest": ["select", "--pool", str(pool), "--strategy", "longest", "--budgets", BUDGETS,
                           "--out", str(folder / "sel")],
        "select full": ["select", "--pool", str(pool), "--strategy", "full", "--out", str(folder / "sel")],
    }
    if not everything:
        del commands["pool merge (pool + itself)"], commands["select full"]
    results = {}
    for name, args in commands.items():
        seconds, work, rss = run_chase(args)
        rows = 2 * n if "merge" in name else n
        results[name] = (work, rss)
        print(f"  {name:28s} wall {seconds:6.1f} s, work {work:6.1f} s  {rows / work:8,.0f} rows/s  "
              f"peak RSS {rss:.2f} GB", flush=True)
    counts = json.loads((pool.with_name(pool.name + ".manifest.json")).read_text())["counts"]
    print(f"  build counts: read {counts['read']:,} = kept {counts['kept']:,} + duplicates {counts['duplicates']:,} "
          f"+ quarantined {counts['quarantined']:,}: reconciles {counts['reconciles']}")
    for path in (source, pool, folder / "merged.parquet"):
        path.unlink(missing_ok=True)
    shutil.rmtree(folder / "sel", ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="Comma-separated row counts, smallest first.")
    parser.add_argument("--keep", type=Path, help="Work in this folder instead of a temporary one.")
    parser.add_argument("--all", action="store_true", help="Also merge the pool with itself and select full.")
    args = parser.parse_args()
    if not ALPACA.exists():
        sys.exit(f"missing {ALPACA} (the shared Alpaca sample)")
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="pool_scale_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = {n: measure(n, folder, args.all) for n in sizes}
    small, large = sizes[0], sizes[-1]
    peak = max(rss for by_name in results.values() for _, rss in by_name.values())
    if large != small:
        print(f"\nscaling {small:,} -> {large:,} rows ({large / small:.0f}x rows); work-time ratio / row ratio "
              "(1.00 = linear):")
        for name in results[large]:
            ratio = results[large][name][0] / results[small][name][0]
            print(f"  {name:28s} {ratio:6.1f}x work time: {ratio / (large / small):.2f}")
    print(f"\npeak RSS over all commands: {peak:.2f} GB (target <= {RSS_TARGET_GB:.0f} GB: "
          f"{'met' if peak <= RSS_TARGET_GB else 'NOT met'})")


if __name__ == "__main__":
    main()
