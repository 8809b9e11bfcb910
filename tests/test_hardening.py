"""Hostile-but-fair inputs, paths and faults: one clear line (exit 2) or correct behaviour, nothing
destroyed, nothing left behind. One test (at least) per probe class of issue 14."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from chasing_random.data import readers
from chasing_random.data.pool import build_pool, quarantine_path, read_pool
from chasing_random.errors import ChaseError
from chasing_random.store import redact, write_manifest

GOOD = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
OTHER = {"instruction": "Name a fruit.", "input": "", "output": "Apple."}


def jsonl(path, *rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def listing(folder) -> dict:
    """Every file under a folder with its bytes (to prove nothing else changed and no side file is left)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and stat.S_ISREG(p.lstat().st_mode) else None)
            for p in sorted(folder.rglob("*"))}


# 1. one guarded writer ------------------------------------------------------------------------------

def test_output_that_is_a_fifo_socket_or_folder_is_refused_and_kept(tmp_path, run_cli):
    src = jsonl(tmp_path / "a.jsonl", GOOD)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    (tmp_path / "folder").mkdir()
    try:
        before = listing(tmp_path)
        for target, what in ((fifo, "not a regular file"), (tmp_path / "sock", "not a regular file"),
                             (tmp_path / "folder", "is a folder")):
            result = run_cli("pool", "build", "alpaca", src, "--out", target)
            assert result.code == 2 and what in result.err and "Traceback" not in result.err, result.err
            assert len(result.err.strip().splitlines()) == 1
        assert stat.S_ISFIFO(fifo.lstat().st_mode) and stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)
        assert listing(tmp_path) == before
    finally:
        sock.close()


def test_output_equal_to_an_input_is_refused(tmp_path, run_cli):
    src = jsonl(tmp_path / "a.jsonl", GOOD)
    before = (tmp_path / "a.jsonl").read_bytes()
    result = run_cli("pool", "build", "alpaca", src, "--out", src)
    assert result.code == 2 and "is an input of this command" in result.err
    assert (tmp_path / "a.jsonl").read_bytes() == before
    run_cli("pool", "build", "alpaca", src, "--out", tmp_path / "p.parquet")
    linked = tmp_path / "link.parquet"
    linked.symlink_to(tmp_path / "p.parquet")  # the same file under another name is still the input
    result = run_cli("pool", "merge", tmp_path / "p.parquet", "--out", linked)
    assert result.code == 2 and "is an input of this command" in result.err


def test_outputs_get_umask_permissions_and_no_side_files(tmp_path, run_cli):
    old = os.umask(0o022)
    try:
        src = jsonl(tmp_path / "a.jsonl", GOOD, {"instruction": 3})
        result = run_cli("pool", "build", "alpaca", src, "--out", tmp_path / "out" / "p.parquet", "--on-error", "skip")
        assert result.code == 0, result.err
        merged = run_cli("pool", "merge", tmp_path / "out" / "p.parquet", "--out", tmp_path / "out" / "m.parquet",
                         "--limit", "1")
        assert merged.code == 0, merged.err
    finally:
        os.umask(old)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["m.parquet", "m.parquet.manifest.json", "p.parquet", "p.parquet.manifest.json",
                     "p.quarantine.jsonl"]  # no POOL.parquet.rows, no temporary file
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (tmp_path / "out").iterdir())


def test_failed_build_leaves_nothing(tmp_path, run_cli):
    src = jsonl(tmp_path / "a.jsonl", GOOD, {"instruction": 3})
    before = listing(tmp_path)
    result = run_cli("pool", "build", "alpaca", src, "--out", tmp_path / "p.parquet")
    assert result.code == 2 and listing(tmp_path) == before


# 2. readers consume their whole input ---------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('[{"instruction": "a", "output": "b"}][{"instruction": "c", "output": "d"}]', "a.json:1: field '<json>': trailing "
                                                                                   "content after the JSON list (column 38)"),
    ('[{"instruction": "a", "output": "b"}]\n garbage', "a.json:2: field '<json>': trailing content"),
    ('[{"instruction": "a", "output": "b"}\n {"instruction": "c", "output": "d"}]', "a.json:2: malformed JSON: expected "
                                                                                   "',' or ']'"),
    ('[{"instruction": "a", "output": "b"},]', "trailing comma"),
])
def test_json_list_trailing_content_and_missing_commas_are_located(tmp_path, run_cli, text, message):
    (tmp_path / "a.json").write_text(text)
    result = run_cli("pool", "build", "alpaca", tmp_path / "a.json", "--out", tmp_path / "p.parquet")
    assert result.code == 2 and message in " ".join(result.err.split()), result.err


def test_trailing_list_is_quarantined_in_skip_mode_and_counts_reconcile(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([GOOD]) + json.dumps([OTHER]))
    report = build_pool("alpaca", str(tmp_path / "a.json"), tmp_path / "p.parquet", on_error="skip")
    assert (report.read, report.kept, report.quarantined) == (2, 1, 1) and report.reconciles
    (row,) = [json.loads(line) for line in quarantine_path(tmp_path / "p.parquet").read_text().splitlines()]
    assert "trailing content" in row["reason"] and "Apple" in row["raw"]


def test_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + (json.dumps(GOOD) + "\n" + json.dumps(OTHER) + "\n").encode())
    (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([GOOD, OTHER]).encode())
    for name in ("a.jsonl", "a.json"):
        report = build_pool("alpaca", str(tmp_path / name), tmp_path / f"{name}.parquet", on_error="skip")
        assert (report.kept, report.quarantined) == (2, 0)


def test_deep_nesting_lone_surrogates_and_limits_are_quarantined_not_crashes(tmp_path, monkeypatch, run_cli):
    monkeypatch.setattr(readers, "MAX_FIELD_CHARS", 50)
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 400)
    lines = [json.dumps(GOOD), "[" * 50000 + "]" * 50000, '{"instruction": "x\\ud800", "output": "y"}',
             json.dumps({"instruction": "n", "output": "o", "meta": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
             json.dumps({"instruction": "a" * 60, "output": "b"}), json.dumps({"instruction": "c", "output": "d" * 500})]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    result = run_cli("pool", "build", "alpaca", tmp_path / "a.jsonl", "--out", tmp_path / "p.parquet",
                     "--on-error", "skip")
    assert result.code == 0 and "Traceback" not in result.err, result.err
    reasons = [json.loads(line)["reason"] for line in quarantine_path(tmp_path / "p.parquet").read_text().splitlines()]
    assert len(reasons) == 5 and len(read_pool(tmp_path / "p.parquet")) == 1
    text = " | ".join(reasons)
    for expected in ("nested deeper", "lone surrogate", "nested deeper than the limit of 32", "over the limit of 50",
                     "longer than the limit of 400 bytes"):
        assert expected in text, text
    failed = run_cli("pool", "build", "alpaca", tmp_path / "a.jsonl", "--out", tmp_path / "q.parquet")
    assert failed.code == 2 and "a.jsonl:2:" in failed.err


def test_input_that_is_a_folder_or_unknown(tmp_path, run_cli):
    (tmp_path / "in.jsonl").mkdir()
    result = run_cli("pool", "build", "alpaca", tmp_path / "in.jsonl", "--out", tmp_path / "p.parquet")
    assert result.code == 2 and "is a folder" in result.err


# 3. stale judge failures: tests/test_judge_endpoint.py and tests/test_hardening_faults.py -----------

# 4. errors, interrupts, debug, markup ----------------------------------------------------------------

def test_markup_in_paths_prints_as_is(tmp_path, run_cli):
    folder = tmp_path / "[/bold]x[red]"
    folder.mkdir(parents=True)
    src = jsonl(folder / "a.jsonl", GOOD)
    result = run_cli("pool", "build", "alpaca", src, "--out", folder / "[/bold].parquet")
    assert result.code == 0 and "[/bold].parquet" in result.err.replace("\n", ""), result.err
    missing = run_cli("pool", "info", folder / "[/]missing.parquet")
    assert missing.code == 2 and "[/]missing.parquet" in missing.err


def test_interrupt_says_what_finished_and_how_to_resume(tmp_path, run_cli, monkeypatch):
    from chasing_random.cli import pool as pool_cli

    def interrupted(*args, **kwargs):
        from chasing_random.ui import note_finished

        note_finished("stage", 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(pool_cli, "build_pool", interrupted)
    result = run_cli("pool", "build", "alpaca", tmp_path / "a.jsonl", "--out", tmp_path / "p.parquet")
    text = " ".join(result.err.split())
    assert result.code == 130 and "interrupted: finished before the interrupt: 2 stages" in text
    assert "run the same command again to resume: chase pool build alpaca" in text


def test_debug_shows_the_traceback(tmp_path, run_cli, monkeypatch):
    args = ("pool", "info", tmp_path / "missing.parquet")
    assert run_cli(*args).code == 2
    with pytest.raises(ChaseError):
        run_cli(*args, "--debug")
    monkeypatch.setenv("CHASE_DEBUG", "1")
    with pytest.raises(ChaseError):
        run_cli(*args)


def test_tracebacks_become_one_line_messages(tmp_path, run_cli):
    src = jsonl(tmp_path / "a.jsonl", GOOD, OTHER)
    pool = tmp_path / "p.parquet"
    assert run_cli("pool", "build", "alpaca", src, "--out", pool).code == 0
    (tmp_path / "afile").write_text("x")
    cases = [
        (("pool", "build", "alpaca", src, "--out", tmp_path / "afile" / "p.parquet"), "afile/p.parquet"),
        (("select", "--pool", pool, "--strategy", "random", "--budgets", "1", "--out", tmp_path / "afile"), "afile"),
        (("select", "--pool", pool, "--strategy", "random", "--budgets", "1", "--store", tmp_path / "afile",
          "--out", tmp_path / "sel"), "the artifact store (--store) is a file"),
        (("pool", "build", "alpaca", src, "--out", tmp_path / "q.parquet", "--limit", "1", "--seed", "-1"), "--seed"),
        (("select", "--pool", pool, "--strategy", "random", "--budgets", "1", "--seeds", "0,-2"), "non-negative"),
        (("train", "--subset", src, "--model", "smollm2-135m-instruct", "--out", tmp_path / "model",
          "--learning-rate", "-0.1"), "learning_rate"),
        (("train", "--subset", src, "--model", "smollm2-135m-instruct", "--out", tmp_path / "model",
          "--set", "learning_rate=nan"), "learning_rate"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.code == 2 and message in result.err and "Traceback" not in result.err, (args, result.err)
    assert not (tmp_path / "model").exists()  # the invalid learning rate left no checkpoint behind


def test_garbage_and_truncated_weights_are_one_line_errors(tmp_path, tiny_lm, run_cli):
    import shutil

    src = jsonl(tmp_path / "a.jsonl", GOOD, OTHER)
    pool = tmp_path / "p.parquet"
    assert run_cli("pool", "build", "alpaca", src, "--out", pool).code == 0
    for damage in ("truncated", "garbage"):
        model = tmp_path / damage
        shutil.copytree(tiny_lm, model)
        weights = model / "model.safetensors"
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else os.urandom(4096))
        result = run_cli("select", "--pool", pool, "--strategy", "superfilter", "--model", model, "--budgets", "1",
                         "--out", tmp_path / "sel", "--store", tmp_path / "store")
        assert result.code == 2 and "could not be loaded" in result.err and "damaged" in result.err, result.err


# 5. experiment files -----------------------------------------------------------------------------

EXPERIMENT = (Path(__file__).parent / "fixtures" / "probe_experiment.yaml").read_text()  # a valid experiment file


def test_duplicate_yaml_keys_name_both_lines(tmp_path, run_cli):
    (tmp_path / "e.yaml").write_text(EXPERIMENT + "strategies:\n  - name: random\n")
    result = run_cli("run", tmp_path / "e.yaml", "--dry-run")
    assert result.code == 2 and "e.yaml:12: duplicate key 'strategies' (first at line 5)" in result.err, result.err


@pytest.mark.parametrize("old, new, message", [
    ("name: longest", "name: longestt", "strategies[0].name: unknown strategy 'longestt'"),
    ("source: synth, n: 50", "source: alpacca, path: x.json", "pools[0].source: unknown source 'alpacca'"),
    ("source: synth, n: 50", "source: alpaca, path: missing.json", "pools[0].path: 'missing.json': no such file"),
    ("name: longest", "name: superfilter\n    options: {template: nope}", "options.template: unknown template 'nope'"),
    ("base_model: smollm2-135m-instruct", "base_model: smollm2-135m\n  preset: cpu-lora",
     "training.base_model: unknown model 'smollm2-135m'"),
    ("base_model: smollm2-135m-instruct", "base_model: smollm2-135m-instruct\n  preset: cpu-loraa",
     "unknown preset 'cpu-loraa'"),
    ("name: longest", "name: alpagasus\n    options: {judge: 'local:nomodel'}", "options.judge: unknown model 'nomodel'"),
    ("limit: 3", "limit: 3\n  - name: ifevall", "benchmarks.1.name"),
])
def test_dry_run_resolves_every_name(tmp_path, run_cli, old, new, message):
    (tmp_path / "e.yaml").write_text(EXPERIMENT.replace(old, new))
    result = run_cli("run", tmp_path / "e.yaml", "--dry-run")
    assert result.code == 2 and message in " ".join(result.err.split()), result.err
    ok = tmp_path / "ok.yaml"
    ok.write_text(EXPERIMENT)
    assert run_cli("run", ok, "--dry-run").code == 0


# 6. results files --------------------------------------------------------------------------------

def results_folder(tmp_path, rows: list[str]):
    (tmp_path / "run" / "results").mkdir(parents=True)
    (tmp_path / "run" / "results" / "evaluations.jsonl").write_text("\n".join(rows) + "\n")
    return tmp_path / "run"


ROW = {"pool": "p", "budget": 10, "strategy": "longest", "seed": None, "benchmark": "b", "metric": "m", "value": 0.5,
       "unit": "fraction", "higher_is_better": True}


def test_duplicated_result_rows_name_both_lines(tmp_path, run_cli):
    other = dict(ROW, strategy="random", seed=0)
    run = results_folder(tmp_path, [json.dumps(ROW), json.dumps(other), json.dumps(dict(ROW, value=0.9))])
    result = run_cli("report", run)
    assert result.code == 2 and "evaluations.jsonl:3: duplicates line 1" in " ".join(result.err.split()), result.err


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinities_are_rejected_with_file_and_line(tmp_path, run_cli, bad):
    run = results_folder(tmp_path, [json.dumps(dict(ROW, strategy="random", seed=0)),
                                    json.dumps(ROW).replace("0.5", bad)])
    result = run_cli("report", run)
    assert result.code == 2 and "evaluations.jsonl:2:" in result.err and bad in result.err, result.err


# 7. secrets ---------------------------------------------------------------------------------------

def test_credentials_in_urls_are_redacted(tmp_path, run_cli):
    secret = {"base_url": "https://bob:hunter2pass@api.example.com/v1?key=querysecret1&x=1",
              "judge_options": ["api_key=inlinesecret2", "api_key_env=MY_KEY_VAR", "base_url=http://u:pw3x@h/v1?token=tok4"]}
    write_manifest(tmp_path / "a.parquet", kind="t", inputs={}, config=secret, started=0.0)
    text = (tmp_path / "a.parquet.manifest.json").read_text()
    for leaked in ("hunter2pass", "querysecret1", "inlinesecret2", "pw3x", "tok4"):
        assert leaked not in text
    assert "MY_KEY_VAR" in text and "api.example.com" in text and "x=1" in text
    assert redact("https://example.com/a@b") == "https://example.com/a@b"  # not a credential
    result = run_cli("pool", "build", "alpaca", "https://bob:hunter2pass@host/x.json", "--out", tmp_path / "p.parquet")
    assert result.code == 2 and "hunter2pass" not in result.err and "<redacted>" in result.err


# 8. empty results ----------------------------------------------------------------------------------

def test_empty_build_and_empty_selection_need_allow_empty(tmp_path, run_cli):
    src = jsonl(tmp_path / "a.jsonl", {"instruction": 3}, {"output": "x"})
    out = tmp_path / "p.parquet"
    result = run_cli("pool", "build", "alpaca", src, "--out", out, "--on-error", "skip")
    assert result.code == 2 and "no row kept (read 2, quarantined 2" in " ".join(result.err.split())
    assert not out.exists() and not quarantine_path(out).exists()
    assert run_cli("pool", "build", "alpaca", src, "--out", out, "--on-error", "skip", "--allow-empty").code == 0
    assert len(read_pool(out)) == 0
    select = ("select", "--pool", out, "--strategy", "longest", "--budgets", "5", "--out", tmp_path / "sel")
    result = run_cli(*select)
    assert result.code == 2 and "selected no row of 0" in " ".join(result.err.split())
    assert not (tmp_path / "sel").exists() or not any((tmp_path / "sel").iterdir())
    assert run_cli(*select, "--allow-empty").code == 0
