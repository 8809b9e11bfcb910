"""Property suite: generated hostile files at every reader and hostile paths at every writer.

Whatever comes in, a command exits 0 or 2 with no traceback, its counts reconcile, no file outside
its output changes, and no temporary or side file is left. Examples are few per property (the
suite runs in well under two minutes); each runs the real CLI in-process.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chasing_random.data.pool import quarantine_path

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
POOL_OUTPUTS = {"p.parquet", "p.parquet.manifest.json", "p.quarantine.jsonl"}

GOOD_ROW = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\ud800", "x\udfff", "[/bold]", "\u2028", "\x00", "\ufeff", "  ", "é" * 40]),
)
json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), hostile_text),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(hostile_text, inner, max_size=3)), max_leaves=8)
row = st.one_of(
    st.just(GOOD_ROW),
    st.fixed_dictionaries({"instruction": hostile_text, "output": hostile_text}),
    st.dictionaries(st.sampled_from(["instruction", "input", "output", "x"]), json_value, max_size=4),
    json_value,
)
junk_line = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\xef\xbb\xbf", b"[" * 3000 + b"]" * 3000, b'{"instruction": "\\ud800", "output": "x"}',
                     b"{", b"]", b"NaN", b'{"instruction": "a", "output": "b"} trailing', b"\r"]),
)


def encode(obj) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


def snapshot(folder: Path) -> dict:
    """Every entry under a folder: its kind and, for regular files, its bytes."""
    out = {}
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        out[str(path.relative_to(folder))] = path.read_bytes() if stat.S_ISREG(mode) else stat.S_IFMT(mode)
    return out


def clean(result) -> None:
    assert result.code in (0, 2), (result.code, result.err)
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    if result.code == 2:
        assert result.err.strip().startswith("error:") or "Usage:" in result.err, result.err


def check_pool_build(run_cli, workdir: Path, source: Path, *extra: str) -> None:
    """Build a pool from ``source`` into workdir/out and check every promise of the suite."""
    out_dir = workdir / "out"
    out_dir.mkdir()
    inputs = snapshot(workdir / "in")
    result = run_cli("pool", "build", "alpaca", source, "--out", out_dir / "p.parquet", *extra)
    clean(result)
    assert snapshot(workdir / "in") == inputs  # nothing outside the output changed
    names = {p.name for p in out_dir.iterdir()}
    assert names <= POOL_OUTPUTS, names  # no temporary or side file
    if result.code == 2:
        assert names == set()  # a failed build writes nothing
        return
    counts = json.loads((out_dir / "p.parquet.manifest.json").read_text())["counts"]
    assert counts["reconciles"] and counts["kept"] == pq.read_metadata(out_dir / "p.parquet").num_rows
    quarantined = quarantine_path(out_dir / "p.parquet")
    assert counts["quarantined"] == (len(quarantined.read_text().splitlines()) if quarantined.exists() else 0)


def workspace(tmp_path: Path) -> Path:
    workdir = Path(tempfile.mkdtemp(dir=tmp_path))
    (workdir / "in").mkdir()
    return workdir


@SETTINGS
@given(lines=st.lists(st.one_of(row.map(encode), junk_line), min_size=0, max_size=8),
       mode=st.sampled_from(["skip", "fail"]), bom=st.booleans())
def test_jsonl_reader(tmp_path, run_cli, lines, mode, bom):
    workdir = workspace(tmp_path)
    source = workdir / "in" / "rows.jsonl"
    source.write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines))
    check_pool_build(run_cli, workdir, source, "--on-error", mode, "--allow-empty")


@SETTINGS
@given(rows=st.lists(row, max_size=6), separators=st.lists(st.sampled_from([",", ", ", "\n,", "", ",,", " "]),
                                                              min_size=6, max_size=6),
       tail=st.one_of(st.just(""), st.just("\n"), junk_line.map(lambda b: b.decode("utf-8", "replace"))),
       mode=st.sampled_from(["skip", "fail"]))
def test_json_reader(tmp_path, run_cli, rows, separators, tail, mode):
    workdir = workspace(tmp_path)
    body = "".join(json.dumps(r, allow_nan=True) + (separators[i] if i < len(rows) - 1 else "")
                   for i, r in enumerate(rows))
    source = workdir / "in" / "rows.json"
    source.write_text("[" + body + "]" + tail, encoding="utf-8", errors="surrogatepass")
    check_pool_build(run_cli, workdir, source, "--on-error", mode, "--allow-empty")


@SETTINGS
@given(columns=st.dictionaries(st.sampled_from(["instruction", "input", "output", "meta"]),
                               st.sampled_from(["text", "int", "null", "nested", "bytes"]), min_size=1, max_size=4),
       n=st.integers(0, 5), cut=st.one_of(st.none(), st.floats(0.05, 0.95)))
def test_parquet_reader(tmp_path, run_cli, columns, n, cut):
    workdir = workspace(tmp_path)
    values = {"text": lambda i: f"value {i}", "int": lambda i: i, "null": lambda i: None,
              "nested": lambda i: [[{"a": str(i)}]], "bytes": lambda i: bytes([i % 256]) * 3}
    table = pa.table({name: [values[kind](i) for i in range(n)] for name, kind in columns.items()}) if n else \
        pa.table({name: pa.array([], pa.string()) for name in columns})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    source = workdir / "in" / "rows.parquet"
    source.write_bytes(data if cut is None else data[: int(len(data) * cut)])
    check_pool_build(run_cli, workdir, source, "--on-error", "skip", "--allow-empty")


EXPERIMENT = (Path(__file__).parent / "fixtures" / "probe_experiment.yaml").read_text()  # a valid experiment file


@SETTINGS
@given(insert=st.lists(st.tuples(st.integers(0, 12), st.one_of(
    st.sampled_from(["strategies:\n  - name: random", "budgets: [-1]", "budgets: [10, 10.5]", "name: [", "  - name: x",
                     "seeds: {random: [-1]}", "training: {base_model: ./nope}", "pools: 3", "&a [*a]", "\t",
                     "judge: {spec: 'local:'}", "\ufeff", "benchmarks: [{name: ifeval, limit: 0}]", "a: " + "[" * 200]),
    st.text(max_size=20))), max_size=3))
def test_yaml_reader(tmp_path, run_cli, insert):
    workdir = workspace(tmp_path)
    lines = EXPERIMENT.splitlines()
    for position, text in insert:
        lines.insert(min(position, len(lines)), text)
    source = workdir / "in" / "e.yaml"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    before = snapshot(workdir)
    result = run_cli("run", source, "--dry-run")
    clean(result)
    assert snapshot(workdir) == before  # a dry run writes nothing


RESULT = {"pool": "p", "budget": 10, "strategy": "random", "seed": 0, "benchmark": "b", "metric": "m", "value": 0.5,
          "unit": "fraction", "higher_is_better": True,
          "per_prompt": {"a": 1.0, "b": 0.0}}
result_row = st.one_of(
    st.builds(lambda seed, strategy, value: dict(RESULT, seed=seed, strategy=strategy, value=value),
              st.integers(0, 2), st.sampled_from(["random", "longest"]),
              st.one_of(st.floats(0, 1), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308]))),
    row,
)


@SETTINGS
@given(rows=st.lists(st.one_of(result_row.map(lambda r: json.dumps(r, allow_nan=True).encode()), junk_line),
                     max_size=6))
def test_results_reader(tmp_path, run_cli, rows):
    workdir = workspace(tmp_path)
    run = workdir / "in" / "run"
    (run / "results").mkdir(parents=True)
    (run / "results" / "evaluations.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    before = snapshot(run / "results")
    result = run_cli("report", run, "--resamples", "20")
    clean(result)
    assert snapshot(run / "results") == before  # the report writes beside its inputs, never over them
    assert not [p for p in run.rglob("*") if p.name.endswith((".tmp", ".scratch"))]


def hostile_target(kind: str, workdir: Path, own_input: Path) -> Path:
    """A path a writer is asked to write to, made hostile in one of several ways."""
    inputs = workdir / "in"
    if kind == "fifo":
        os.mkfifo(inputs / "fifo")
        return inputs / "fifo"
    if kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(inputs / "sock"))
        sock.close()
        return inputs / "sock"
    if kind == "folder":
        (inputs / "folder.parquet").mkdir()
        return inputs / "folder.parquet"
    if kind == "input":
        return own_input
    if kind == "link-to-input":
        (inputs / "link.parquet").symlink_to(own_input)
        return inputs / "link.parquet"
    if kind == "under-a-file":
        return inputs / "rows.jsonl" / "p.parquet"
    if kind == "long-name":
        return workdir / "out" / ("x" * 300 + ".parquet")
    return workdir / "out" / kind  # a fresh name with odd characters


path_kind = st.one_of(st.sampled_from(["fifo", "socket", "folder", "input", "link-to-input", "under-a-file",
                                       "long-name"]),
                      st.text(st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/\x00"),
                              min_size=1, max_size=20).filter(lambda s: not s.startswith("-") and s not in (".", ".."))
                      .map(lambda s: s + ".parquet"))


@SETTINGS
@given(kind=path_kind, command=st.sampled_from(["build", "merge", "synth", "select"]))
def test_writers_refuse_hostile_paths(tmp_path, run_cli, kind, command):
    workdir = workspace(tmp_path)
    (workdir / "out").mkdir()
    rows = workdir / "in" / "rows.jsonl"
    rows.write_text(json.dumps(GOOD_ROW) + "\n")
    assert run_cli("pool", "build", "alpaca", rows, "--out", workdir / "in" / "pool.parquet").code == 0
    assume(command != "synth" or kind not in ("input", "link-to-input"))  # synth reads no file
    target = hostile_target(kind, workdir, rows if command == "build" else workdir / "in" / "pool.parquet")
    before = snapshot(workdir / "in")
    args = {"build": ("pool", "build", "alpaca", rows, "--out", target),
            "merge": ("pool", "merge", workdir / "in" / "pool.parquet", "--out", target),
            "synth": ("pool", "synth", "--n", "20", "--out", target),
            "select": ("select", "--pool", workdir / "in" / "pool.parquet", "--strategy", "random", "--budgets", "1",
                       "--out", target, "--store", workdir / "out" / "store")}[command]
    result = run_cli(*args)
    clean(result)
    after = snapshot(workdir / "in")
    if command == "select" and kind == "folder":  # select --out names a folder: writing into it is the job
        assert result.code == 0
        after = {name: data for name, data in after.items() if not name.startswith("folder.parquet/")}
    elif result.code == 0:  # otherwise only a fresh name under out/ may be written
        assert target.parent == workdir / "out"
    assert after == before
    leftovers = [p for p in workdir.rglob("*") if p.name.endswith((".tmp", ".scratch", ".rows"))]
    assert not leftovers, leftovers
