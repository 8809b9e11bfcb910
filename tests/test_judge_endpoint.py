"""The endpoint judge against a real HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import json

import pytest

from chasing_random.errors import ChaseError
from chasing_random.judges.factory import make_judge
from chasing_random.selection.base import SelectOptions, select
from chasing_random.store import ArtifactStore
from judge_server import JudgeServer

KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"
ENV = "CHASE_TEST_JUDGE_KEY"
MARKERS = ["", "", "", "[429x2]", "[500x1]", "[timeoutx1]", "[malformedx1]", "[always500]", "[garbage]", "", "", ""]


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    with JudgeServer() as running:
        yield running


@pytest.fixture
def pool(pool_from_rows):
    return pool_from_rows([{"instruction": f"Question {i} {marker}", "output": f"Answer number {i}."}
                           for i, marker in enumerate(MARKERS)], "faulty")


def options(server, **extra) -> SelectOptions:
    return SelectOptions(judge="openai:judge-model", judge_options=[
        f"base_url={server.base_url}", f"api_key_env={ENV}", "retry_base_delay=0.001", "timeout=0.5",
        "max_retries=3", "max_concurrency=4", "price_per_million_input=2", "price_per_million_output=8"], **extra)


def files_text(folder) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_every_row_scored_or_failed_cached_and_no_key_leaks(server, pool, tmp_path, capsys, caplog):
    store = ArtifactStore(tmp_path / "store")
    manifest = select(pool, "alpagasus", [3, 20], tmp_path / "sel", options(server, max_failure_rate=0.5, parse="first-number"),
                      store=store)[0]
    assert manifest["info"]["rating_mode"] == "generate" and manifest["reconciles"] is True
    assert manifest["excluded"] == {"judge failed: call failed after 4 attempt(s)": 1, "judge failed: unparseable rating": 1}
    assert manifest["ranked"] == 10 and manifest["info"]["failed"] == 2
    assert manifest["cost"]["api_tokens"] == {"judge-model": {"input": 110, "output": 22}}  # 11 answered calls
    assert manifest["cost"]["api_price_usd"] == pytest.approx((110 * 2 + 22 * 8) / 1e6)
    calls = {next((m for m in MARKERS if m and m in p), "plain"): n for p, n in server.calls.items()}
    assert calls == {"plain": 1, "[429x2]": 3, "[500x1]": 2, "[timeoutx1]": 2, "[malformedx1]": 2,
                     "[always500]": 4, "[garbage]": 1}  # retried exactly as injected, nothing judged twice
    assert all({k.lower(): v for k, v in h.items()}.get("authorization") == f"Bearer {KEY}" for h in server.headers)

    # A rerun with another threshold reuses the table; a new judge object on the same cache calls nothing.
    before = sum(server.calls.values())
    select(pool, "alpagasus", [3], tmp_path / "sel2", options(server, max_failure_rate=0.5, threshold=5), store=store)
    assert sum(server.calls.values()) == before
    judge = make_judge("openai:judge-model", base_url=server.base_url, api_key_env=ENV,
                       cache_dir=str(store.root / "judge-responses"), retry_base_delay=0.001)
    from chasing_random.scoring.ratings import alpagasus_conversation
    from chasing_random.data.pool import read_pool

    rows = [r for _, r in read_pool(pool).iterrows() if "always500" not in r["input"]]
    replies = judge.complete([alpagasus_conversation("study", r) for r in rows], max_tokens=3, temperature=None)
    assert all(r.cached for r in replies) and sum(server.calls.values()) == before

    written = files_text(tmp_path) + capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert KEY not in written and "DO-NOT-LEAK" not in written
    assert f"api_key_env={ENV}" in (tmp_path / "sel" / "faulty_alpagasus.manifest.json").read_text()  # the name only


def test_failure_rate_above_the_limit_is_an_error(server, pool, tmp_path, run_cli):
    with pytest.raises(ChaseError, match=r"2 of 12 rows failed \(16.7%\), above --max-failure-rate 5.0%"):
        select(pool, "alpagasus", [3], tmp_path / "sel", options(server), store=ArtifactStore(tmp_path / "store"))
    result = run_cli("score", "judge", "--pool", pool, "--judge", "openai:judge-model", "--store", tmp_path / "store",
                     "--judge-option", f"base_url={server.base_url}", "--judge-option", f"api_key_env={ENV}",
                     "--judge-option", "retry_base_delay=0.001", "--max-failure-rate", "0.5")
    assert result.code == 0, result.err
    assert "2 of 12 rows failed (16.7%)" in result.err and json.loads(result.out)["failed"] == 2
    assert KEY not in result.out + result.err


def test_choose_reads_logprobs_and_missing_key_is_a_clear_error(server, monkeypatch):
    judge = make_judge("openai:judge-model", base_url=server.base_url, api_key_env=ENV, retry_base_delay=0.001)
    ok, bad = judge.choose([[{"role": "user", "content": "rate"}], [{"role": "user", "content": "x [garbage]"}]],
                           ["1", "2", "3", "4", "5"])
    import math
    total = math.exp(-0.2) + math.exp(-2.0) + math.exp(-3.0)
    assert ok.choice_probs["4"] == pytest.approx(math.exp(-0.2) / total)
    assert ok.choice_probs["3"] == pytest.approx(math.exp(-3.0) / total) and ok.choice_probs["1"] == 0
    assert bad.failure and "not among" in bad.failure
    monkeypatch.delenv(ENV)
    with pytest.raises(ChaseError, match=ENV):
        judge.choose([[{"role": "user", "content": "rate"}]], ["1"])
    with pytest.raises(ChaseError, match="unknown option"):
        make_judge("openai:m", batch_size=3)
    with pytest.raises(ChaseError, match="expected local:NAME"):
        make_judge("gpt-4o")


def test_deita_through_the_endpoint(server, pool, tmp_path):
    manifest = select(pool, "deita", [4], tmp_path / "sel", options(server, max_failure_rate=0.5, score="evol"),
                      store=ArtifactStore(tmp_path / "store"))[0]
    assert manifest["info"]["quality_scorer"] == "openai:judge-model" and manifest["reconciles"] is True
    assert manifest["subsets"]["4"]["rows"] == 4
    assert set(manifest["excluded"]) >= {"complexity judge failed: call failed after 4 attempt(s)"}


def test_an_interrupted_table_resumes_without_rejudging(server, pool, tmp_path, monkeypatch):
    from chasing_random.judges.base import Judge
    from chasing_random.scoring import ratings

    monkeypatch.setattr(ratings, "JUDGE_SHARD_ROWS", 4)
    store = ArtifactStore(tmp_path / "store")
    real = make_judge("openai:judge-model", base_url=server.base_url, api_key_env=ENV, retry_base_delay=0.001,
                      timeout=0.5, max_retries=3)

    class CrashesOnSecondShard(Judge):
        backend, model, describe, shards = real.backend, real.model, real.describe, 0

        def choose(self, conversations, choices):
            raise NotImplementedError

        def complete(self, conversations, **kw):
            self.shards += 1
            if self.shards == 2:
                raise KeyboardInterrupt
            return real.complete(conversations, **kw)

    with pytest.raises(KeyboardInterrupt):
        ratings.alpagasus_ratings(pool, CrashesOnSecondShard(), mode="generate", store=store)
    table = ratings.alpagasus_ratings(pool, real, mode="generate", store=store)
    assert len(table.frame) == 12 and table.run.computed_shards == [1, 2]  # shard 0 was kept
    judged_once = [n for p, n in server.calls.items() if not any(m in p for m in MARKERS if m)]
    assert judged_once and all(n == 1 for n in judged_once)


def test_retry_failed_calls_again_only_for_failed_rows(server, tmp_path, monkeypatch, run_cli, pool_from_rows):
    from chasing_random.scoring import ratings

    monkeypatch.setattr(ratings, "JUDGE_SHARD_ROWS", 4)
    markers = ["", "", "", "", "", "[500x5]", "", "[garbage]"]  # shard 0 clean; shard 1 holds both failures
    rows = [{"instruction": f"Retry {i} {m}", "output": f"Answer {i}."} for i, m in enumerate(markers)]
    retry_pool = pool_from_rows(rows, "retry")
    store = ArtifactStore(tmp_path / "store")
    judge = make_judge("openai:judge-model", base_url=server.base_url, api_key_env=ENV, retry_base_delay=0.001,
                       timeout=0.5, max_retries=3, cache_dir=str(tmp_path / "cache"))
    first = ratings.alpagasus_ratings(retry_pool, judge, mode="generate", store=store)
    assert first.frame["failure"].notna().sum() == 2
    calls = sum(server.calls.values())
    assert ratings.alpagasus_ratings(retry_pool, judge, mode="generate", store=store).run.reused
    assert sum(server.calls.values()) == calls  # without the flag the stored table is reused as it is

    again = ratings.alpagasus_ratings(retry_pool, judge, mode="generate", store=store,
                                      retry_failed=True)
    assert again.run.computed_shards == [1]  # the clean shard is kept
    failed = again.frame[again.frame["failure"].notna()]
    assert list(failed["id"]) == [first.frame["id"][7]] and "unparseable" in failed["failure"].iloc[0]
    assert again.frame["score"][5] == 4  # the 500s stopped after 5 calls: the retry's second attempt answered
    assert sum(server.calls.values()) == calls + 2  # only the failed call was made again (twice); the rest cached
    cli = ["score", "judge", "--pool", retry_pool, "--judge", "openai:judge-model", "--store",
           tmp_path / "cli-store", "--judge-option", f"base_url={server.base_url}", "--judge-option",
           f"api_key_env={ENV}", "--judge-option", "retry_base_delay=0.001", "--max-failure-rate", "0.5"]
    made, reused = (json.loads(run_cli(*cli).out) for _ in range(2))
    result = run_cli(*cli, "--retry-failed")
    retried = json.loads(result.out)
    assert "1 shard(s) of judge-ratings hold failed rows" in " ".join(result.err.split())
    assert (made["reused"], reused["reused"], retried["reused"]) == (False, True, False)
    assert made["failed"] == retried["failed"] == 1  # the garbage reply is cached, so it fails the same way
