"""Ask-LLM through the judge machinery: a local judge's one forward, and an endpoint's logprobs on 127.0.0.1."""

from __future__ import annotations

import json
import math

import pytest
from judge_server import JudgeServer

from chasing_random.data.pool import build_pool
from chasing_random.scoring.ratings import ASKLLM_PROMPT
from chasing_random.selection.base import SelectOptions, select
from chasing_random.store import ArtifactStore


@pytest.fixture
def pool(tmp_path, shared_data):
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:12]
    rows.append({"instruction": "Marked [always500]", "input": "", "output": "x"})
    (tmp_path / "src.json").write_text(json.dumps(rows))
    build_pool("alpaca", str(tmp_path / "src.json"), tmp_path / "alp.parquet", on_error="skip")
    return tmp_path / "alp.parquet"


def test_askllm_local_judge_scores_log_p_yes(pool, tmp_path, tiny_lm):
    import torch

    from chasing_random.judges.local import LocalJudge

    store = ArtifactStore(tmp_path / "store")
    m = select(pool, "askllm", [5], tmp_path / "sel", SelectOptions(judge=f"local:{tiny_lm}", batch_size=4),
               store=store)[0]
    assert m["reconciles"] and m["ranked"] == 13 and m["targeted"] is False
    ranking = [json.loads(line) for line in (tmp_path / "sel" / "alp_askllm.ranking.jsonl").read_text().splitlines()]
    assert [r["score"] for r in ranking] == sorted((r["score"] for r in ranking), reverse=True)
    # the stored score is log softmax over the yes/no logits at the answer position
    judge = LocalJudge(tiny_lm)
    model, tok = judge._load()
    row = json.loads((tmp_path / "sel" / "alp_askllm_5.jsonl").read_text().splitlines()[0])
    ids = judge.encode([[{"role": "user", "content": ASKLLM_PROMPT.format(input=row["input"], target=row["target"])}]])[0]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    pair = logits[judge.choice_token_ids(["yes", "no"])]
    assert ranking[0]["score"] == pytest.approx(float(torch.log_softmax(pair, 0)[0]), abs=1e-4)
    again = select(pool, "askllm", [5], tmp_path / "sel2", SelectOptions(judge=f"local:{tiny_lm}", batch_size=4),
                   store=store)[0]
    assert again["info"]["score_table"] == m["info"]["score_table"]


def test_askllm_endpoint_reads_logprobs_and_records_failures(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("CHASE_TEST_KEY", "sk-test-abc")
    with JudgeServer() as server:
        opts = SelectOptions(judge="openai:judge", max_failure_rate=0.5, judge_options=[
            f"base_url={server.base_url}", "api_key_env=CHASE_TEST_KEY", "retry_base_delay=0.001", "max_retries=1"])
        m = select(pool, "askllm", [5], tmp_path / "sel", opts, store=ArtifactStore(tmp_path / "store"))[0]
    assert m["ranked"] == 12 and sum(m["excluded"].values()) == 1 and m["reconciles"]
    expected = math.log(math.exp(-0.3) / (math.exp(-0.3) + math.exp(-1.5)))
    scores = [json.loads(line)["score"] for line in (tmp_path / "sel" / "alp_askllm.ranking.jsonl").read_text().splitlines()]
    assert scores == pytest.approx([expected] * 12)
    assert m["info"]["yes_share"] == 1.0 and sum(t["input"] for t in m["cost"]["api_tokens"].values()) > 0
