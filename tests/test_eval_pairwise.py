"""Pairwise win rate: seeded reference draws, order mapping through a real HTTP judge, the local judge, resume."""

from __future__ import annotations

import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chasing_random.errors import ChaseError
from chasing_random.evaluation.outputs import read_outputs
from chasing_random.evaluation.pairwise import build_pairs, parse_discrete, run_pairwise
from chasing_random.evaluation.winrate import winrate_metrics
from chasing_random.judges.factory import make_judge
from chasing_random.judges.local import LocalJudge

PROMPTS = [f"Question {i}: explain topic number {i} in a sentence or two." for i in range(12)]


def _write_outputs(path, generator, make_output, prompts=PROMPTS):
    path.write_text(json.dumps([{"instruction": p, "output": make_output(i, p), "generator": generator,
                                 "dataset": "test"} for i, p in enumerate(prompts)], indent=1))
    return path


@pytest.fixture
def files(tmp_path):
    candidate = _write_outputs(tmp_path / "cand.json", "candidate", lambda i, p: f"GOOD answer {i}: topic {i} is fine.")
    references = [_write_outputs(tmp_path / f"ref{s}.json", f"random-seed{s}",
                                 lambda i, p, s=s: f"plain reply {i} from seed {s}" + " filler" * (i % 4))
                  for s in range(3)]
    return candidate, references


class _JudgeHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible judge that prefers the answer containing 'GOOD' (probability 0.9 when logprobs)."""

    with_logprobs = True
    calls = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls += 1
        user = body["messages"][-1]["content"]
        answer_a = re.search(r"### Answer A\n(.*?)\n\n### Answer B", user, re.DOTALL).group(1)
        label = "A" if "GOOD" in answer_a else "B"
        other = "B" if label == "A" else "A"
        choice = {"index": 0, "finish_reason": "length",
                  "message": {"role": "assistant", "content": label if self.with_logprobs else f"Answer: {label}"}}
        if self.with_logprobs and body.get("logprobs"):
            top = [{"token": label, "logprob": math.log(0.9), "bytes": None},
                   {"token": other, "logprob": math.log(0.1), "bytes": None}]
            choice["logprobs"] = {"content": [{"token": label, "logprob": math.log(0.9), "bytes": None,
                                               "top_logprobs": top}]}
        payload = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": 1,
                                                             "total_tokens": 101}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def judge_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "none")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JudgeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _JudgeHandler.calls = 0
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_reference_draws_are_seeded_spread_and_order_independent(files, tmp_path):
    candidate, references = files
    outputs = read_outputs(candidate)
    refs = [read_outputs(r) for r in references]
    pairs = build_pairs(outputs, refs, [str(r) for r in references], seed=0)
    assert pairs == build_pairs(outputs, refs, [str(r) for r in references], seed=0)
    assert len({p.reference_file for p in pairs}) == 3
    assert {p.candidate_first for p in pairs} == {True, False}
    assert all(p.reference.instruction == p.instruction for p in pairs)
    reversed_pairs = build_pairs(list(reversed(outputs)), refs, [str(r) for r in references], seed=0)
    by_prompt = {p.instruction: (p.reference_file, p.candidate_first) for p in reversed_pairs}
    assert all(by_prompt[p.instruction] == (p.reference_file, p.candidate_first) for p in pairs)
    other = build_pairs(outputs, refs, [str(r) for r in references], seed=1)
    assert [p.reference_file for p in other] != [p.reference_file for p in pairs]


def test_reference_with_other_prompts_is_an_error_listing_them(files, tmp_path):
    candidate, references = files
    odd = _write_outputs(tmp_path / "odd.json", "odd", lambda i, p: "x", PROMPTS[:-1] + ["A prompt nobody asked"])
    with pytest.raises(ChaseError, match=r"odd.json: its prompts differ .*1 missing: 'Question 11.*1 extra: 'A prompt"):
        run_pairwise(candidate, [references[0], odd], "local:unused", tmp_path / "out")


def test_outputs_file_in_wrong_layout_names_first_bad_record(files, tmp_path):
    _, references = files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"instruction": "q", "output": "a"}, {"prompt": "q2", "output": "b"}], indent=1))
    with pytest.raises(ChaseError, match=r"bad.json:\d+: field 'instruction' is missing"):
        run_pairwise(bad, references, "local:unused", tmp_path / "out")


@given(st.text(max_size=40))
def test_discrete_parser_names_one_label_or_none(text):
    label = parse_discrete(text)
    assert label in (None, "A", "B")
    if label is not None:
        assert re.search(rf"(?<![A-Za-z]){label}(?![A-Za-z])", text)


def test_discrete_parser_examples():
    assert parse_discrete("B") == "B" and parse_discrete("Answer: A") == "A" and parse_discrete("**(B)**") == "B"
    assert parse_discrete("A or B") is None and parse_discrete("Both are bad") is None and parse_discrete(None) is None


@pytest.mark.parametrize("protocol,with_logprobs,expected", [("weighted", True, 90.0), ("discrete", False, 100.0)])
def test_http_judge_preferences_map_back_to_the_candidate(files, tmp_path, judge_server, protocol, with_logprobs,
                                                          expected, monkeypatch):
    monkeypatch.setattr(_JudgeHandler, "with_logprobs", with_logprobs)
    candidate, references = files
    judge = make_judge("openai:judge-model", base_url=judge_server, cache_dir=str(tmp_path / "cache"),
                       price_per_million_input=10.0, max_retries=0)
    metrics = run_pairwise(candidate, references, judge, tmp_path / "out", protocol=protocol)
    assert metrics["win_rate"] == pytest.approx(expected)
    assert metrics["n_total"] == 12 and metrics["n_judge_failures"] == 0
    assert metrics["price"] == pytest.approx(12 * 100 * 10.0 / 1e6)
    annotations = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert {a["generator_2"] for a in annotations} == {"candidate"}
    assert {a["generator_1"] for a in annotations} == {"random-seed0", "random-seed1", "random-seed2"}
    assert all(a["output_2"].startswith("GOOD") for a in annotations)
    assert winrate_metrics(annotations)["win_rate"] == metrics["win_rate"]
    assert sum(v["n_total"] for v in metrics["per_reference"].values()) == 12
    # The shown order really varies and is undone: the candidate was shown as A and as B.
    assert {a["raw_completion"][0]["candidate_shown"] for a in annotations} == {"A", "B"}


def test_failed_verdicts_are_recorded_as_null_preferences(files, tmp_path, judge_server, monkeypatch):
    monkeypatch.setattr(_JudgeHandler, "with_logprobs", False)
    candidate, references = files
    judge = make_judge("openai:judge-model", base_url=judge_server, max_retries=0)
    # weighted on a text-only server: the answer text is still one of the labels, so probabilities come from it
    metrics = run_pairwise(candidate, references, judge, tmp_path / "w", protocol="weighted")
    assert metrics["n_judge_failures"] == 12  # "Answer: A" is not a bare label
    assert metrics["n_total"] == 0 and metrics["bad_preferences"]["null"] == 12


class _CountingJudge(LocalJudge):
    """The real local judge, counting the conversations it is asked about; optionally interrupted
    (as by Ctrl-C) on a given batch of pairs."""

    def __init__(self, *args, interrupt_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.chunks, self.asked, self.interrupt_at = 0, 0, interrupt_at

    def choose(self, conversations, choices):
        self.chunks += 1
        if self.chunks == self.interrupt_at:
            raise KeyboardInterrupt
        self.asked += len(conversations)
        return super().choose(conversations, choices)


def test_local_judge_run_resumes_after_interruption(files, tmp_path, tiny_lm, run_cli):
    candidate, references = files
    out = tmp_path / "run"
    judge = _CountingJudge(tiny_lm, batch_size=4, cache_dir=str(out / "judge_cache"), interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_pairwise(candidate, references, judge, out, seed=3, chunk_size=5)
    partial = (out / "annotations.partial.jsonl").read_text().splitlines()
    assert len(partial) == 1 + 5 and not (out / "annotations.json").exists()  # the run key, then 5 prompts

    resumed = _CountingJudge(tiny_lm, batch_size=4, cache_dir=str(out / "judge_cache"))
    run_pairwise(candidate, references, resumed, out, seed=3, chunk_size=5)
    assert resumed.asked == 7  # only the unfinished prompts were judged

    result = run_cli("evaluate", "pairwise", "--outputs", candidate, "--reference", *references, "--judge",
                     f"local:{tiny_lm}", "--out", out, "--seed", "3", "--batch-size", "4")
    assert result.code == 0, result.err
    annotations = json.loads((out / "annotations.json").read_text())
    assert len(annotations) == 12 and not (out / "annotations.partial.jsonl").exists()
    assert all(1 <= a["preference"] <= 2 for a in annotations)
    assert "already complete" in result.err
    for a in annotations:
        verdict = a["raw_completion"][0]
        p_b = verdict["choice_probs"]["B"]
        assert a["preference"] == pytest.approx(2 - p_b if verdict["candidate_shown"] == "A" else 1 + p_b)
    metrics = json.loads((out / "METRICS.json").read_text())
    assert metrics["win_rate"] == pytest.approx(winrate_metrics(annotations)["win_rate"])
    assert json.loads(result.out)["n_total"] == 12

    fresh = run_pairwise(candidate, references, LocalJudge(tiny_lm, batch_size=4), tmp_path / "fresh", seed=3)
    assert fresh["win_rate"] == pytest.approx(metrics["win_rate"], abs=1e-4)

    both = run_pairwise(candidate, references, LocalJudge(tiny_lm, batch_size=8), tmp_path / "both", seed=3,
                        both_orders=True)
    both_annotations = json.loads((tmp_path / "both" / "annotations.json").read_text())
    assert all(len(a["raw_completion"]) == 2 for a in both_annotations)
    assert both["n_total"] == 12
