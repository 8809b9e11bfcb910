"""Bad input: clear errors naming file, line and field; quarantine with reconciling counts."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chasing_random.data.pool import build_pool, quarantine_path, read_pool
from chasing_random.store import jsonl_lines

GOOD = {"instruction": "Name a colour.", "input": "", "output": "Blue."}


def lines_file(path, lines: list[bytes]):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_fail_mode_names_file_line_field_and_writes_nothing(tmp_path, run_cli):
    src = lines_file(tmp_path / "bad.jsonl", [json.dumps(GOOD).encode(), b'{"instruction": 3, "output": "x"}'])
    out = tmp_path / "p.parquet"
    result = run_cli("pool", "build", "alpaca", src, "--out", out)
    assert result.code == 2
    assert "bad.jsonl:2: field 'instruction': expected a string, got int" in result.err
    assert not out.exists() and not quarantine_path(out).exists()


def test_each_kind_of_bad_line_is_located(tmp_path, run_cli):
    cases = {
        b'{"instruction": "x", "output": "y"': "malformed JSON",
        b'{"output": "y"}': "field 'instruction': missing",
        b'{"instruction": "  ", "output": "y"}': "field 'instruction': empty",
        b'{"instruction": "x", "output": ""}': "field 'output': empty",
        b'{"instruction": "x", "output": "\xff\xfe"}': "invalid UTF-8",
        b'[1, 2]': "expected a JSON object",
    }
    for raw, message in cases.items():
        src = lines_file(tmp_path / "case.jsonl", [json.dumps(GOOD).encode(), raw])
        result = run_cli("pool", "build", "alpaca", src, "--out", tmp_path / "p.parquet")
        assert result.code == 2, raw
        assert "case.jsonl:2:" in result.err and message in result.err, (raw, result.err)


def test_unknown_source_lists_valid_names(tmp_path, run_cli):
    src = lines_file(tmp_path / "a.jsonl", [json.dumps(GOOD).encode()])
    result = run_cli("pool", "build", "alpacca", src, "--out", tmp_path / "p.parquet")
    assert result.code == 2 and "unknown source 'alpacca'" in result.err and "dolly" in result.err


def test_malformed_json_list_names_line(tmp_path, run_cli):
    src = tmp_path / "a.json"
    src.write_text('[\n {"instruction": "a", "output": "b"},\n {"instruction": "c" "output": "d"}\n]\n')
    result = run_cli("pool", "build", "alpaca", src, "--out", tmp_path / "p.parquet")
    assert result.code == 2 and "a.json:3: malformed JSON" in result.err


def test_json_list_lines_point_at_the_bad_object(tmp_path, run_cli):
    src = tmp_path / "a.json"
    src.write_text('[\n  {"instruction": "a",\n   "output": "b"},\n  {"instruction": "c",\n   "output": ""}\n]\n')
    result = run_cli("pool", "build", "alpaca", src, "--out", tmp_path / "p.parquet")
    assert result.code == 2 and "a.json:4: field 'output': empty" in result.err


def test_skip_mode_quarantines_with_reasons(tmp_path, run_cli):
    lines = [json.dumps(GOOD).encode(), b"not json", json.dumps(GOOD).encode(),
             b'{"instruction": "x", "output": 5}', json.dumps({**GOOD, "output": "Red."}).encode()]
    src = lines_file(tmp_path / "mixed.jsonl", lines)
    out = tmp_path / "p.parquet"
    result = run_cli("pool", "build", "alpaca", src, "--out", out, "--on-error", "skip")
    assert result.code == 0, result.err
    assert len(read_pool(out)) == 2
    quarantined = [json.loads(line) for line in quarantine_path(out).read_text().splitlines()]
    assert [(q["line"], q["field"]) for q in quarantined] == [(2, "<json>"), (4, "output")]
    assert "read 5 = kept 2 + sampled out 0 + quarantined 2 + duplicates 1" in result.err


fragments = st.one_of(
    st.just(json.dumps(GOOD).encode()),
    st.builds(lambda s: json.dumps({"instruction": s, "output": "ok"}).encode(), st.text(max_size=8)),
    st.builds(lambda v: json.dumps({"instruction": "q", "output": v}).encode(),
              st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))),
    st.binary(max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.builds(json.dumps, st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)).map(str.encode),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(fragments, min_size=1, max_size=12))
def test_random_bad_lines_never_crash_and_counts_reconcile(tmp_path, lines):
    src = lines_file(tmp_path / "fuzz.jsonl", lines)
    out = tmp_path / "fuzz.parquet"
    report = build_pool("alpaca", str(src), out, on_error="skip", allow_empty=True)
    assert report.reconciles
    assert report.read == sum(not _blank(line) for line in lines)
    kept = len(read_pool(out))
    assert kept == report.kept
    quarantined = jsonl_lines(quarantine_path(out)) if quarantine_path(out).exists() else []
    assert len(quarantined) == report.quarantined


def _blank(line: bytes) -> bool:
    try:
        return not line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False
