"""InFoBench (fixture in the dataset's layout; the loopback judge server and a tiny local judge) and
LIMA's test prompts (fixture in the hub's layout)."""

from __future__ import annotations

import json
import re

import pytest

from chasing_random.errors import ChaseError
from chasing_random.evaluation.infobench import load_infobench, per_question_path, run_infobench
from chasing_random.generation.benchmarks import load_benchmark
from chasing_random.judges.factory import make_judge
from choice_server import ChoiceServer

ENV = "CHASE_TEST_JUDGE_KEY"
ITEMS = [
    {"id": "domain_oriented_task_0", "input": "", "category": "Food", "subset": "Easy_set",
     "instruction": "Write one sentence about apples and pears.",
     "decomposed_questions": ["Does the generated text mention 'apple'?", "Does the generated text mention 'pear'?"],
     "question_label": [["Content"], ["Content"]]},
    {"id": "domain_oriented_task_1", "input": "Plums are purple.", "category": "Food", "subset": "Hard_set",
     "instruction": "Rewrite the sentence below in capitals.",
     "decomposed_questions": ["Does the generated text mention 'plum'?", "Is the text in capitals? [always500]",
                              "Does the generated text mention 'grape'?"],
     "question_label": [["Content"], ["Format"], ["Content"]]},
    {"id": "domain_oriented_task_2", "input": "", "category": "Food", "subset": "Hard_set",
     "instruction": "Name a fruit.", "decomposed_questions": ["Does the generated text mention 'kiwi'?",
                                                             "Is the reply unclear? [garbage]"],
     "question_label": [["Content"], ["Style"]]},
]
OUTPUTS = {"domain_oriented_task_0": "An apple and a pear.", "domain_oriented_task_1": "plums are purple",
           "domain_oriented_task_2": "A kiwi."}


def _decide(prompt: str):
    """A judge that checks the quoted word against the generated text; says nothing usable on [garbage]."""
    if "[garbage]" in prompt:
        return None
    text = prompt.split("### Generated text\n", 1)[1].split("### Question", 1)[0]
    word = re.search(r"'(\w+)'", prompt.split("### Question", 1)[1]).group(1)
    return "Yes" if word in text.lower() else "No"


@pytest.fixture
def infobench_files(tmp_path):
    data = tmp_path / "InfoBench.json"
    data.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))  # the hub file is JSON lines
    prompts = load_benchmark(f"infobench@{data}")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps([{"instruction": p["instruction"], "output": OUTPUTS[p["key"]], "generator": "m"}
                                   for p in prompts]))
    return data, outputs


@pytest.mark.parametrize("protocol", ["weighted", "discrete"])
def test_drfr_through_the_loopback_server_with_failures_recorded(infobench_files, tmp_path, monkeypatch, protocol):
    data, outputs = infobench_files
    monkeypatch.setenv(ENV, "none")
    with ChoiceServer(_decide, ("Yes", "No")) as server:
        judge = make_judge("openai:judge", base_url=server.base_url, api_key_env=ENV, retry_base_delay=0.001,
                           max_retries=1, cache_dir=str(tmp_path / "cache"))
        metrics = run_infobench(outputs, judge, tmp_path / "out", data=data, protocol=protocol)
    # 7 questions: apple Y, pear Y | plum Y, [always500] failed, grape N | kiwi Y, [garbage] failed.
    assert (metrics["n_questions"], metrics["n_answered"], metrics["n_failed"]) == (7, 5, 2)
    assert metrics["drfr"] == pytest.approx(4 / 5) and metrics["coverage"] == pytest.approx(5 / 7)
    # Only task 0 has every question answered, and all of them Yes.
    assert metrics["n_instructions_complete"] == 1 and metrics["all_requirements_rate"] == 1.0
    assert metrics["per_subset"]["Hard_set"]["drfr"] == pytest.approx(2 / 3)
    # 6 replies billed (5 answers of 1 token, the [garbage] reply of 2), the failed calls not
    assert metrics["api_tokens"] == {"judge": {"input": 60, "output": 7}}
    rows = [json.loads(line) for line in per_question_path(tmp_path / "out").read_text().splitlines()]
    failed = [r for r in rows if r["failure"]]
    assert [r["answer"] for r in failed] == [None, None]  # failures are never a No
    assert any("call failed" in r["failure"] for r in failed)


def test_a_tiny_local_judge_answers_every_question(infobench_files, tiny_lm, tmp_path):
    data, outputs = infobench_files
    judge = make_judge(f"local:{tiny_lm}", cache_dir=str(tmp_path / "cache"))
    metrics = run_infobench(outputs, judge, tmp_path / "out", data=data)
    rows = [json.loads(line) for line in per_question_path(tmp_path / "out").read_text().splitlines()]
    assert metrics["n_answered"] == 7 and all(0 <= r["p_yes"] <= 1 for r in rows)
    assert metrics["drfr"] == sum(r["p_yes"] >= 0.5 for r in rows) / 7


def test_bad_infobench_input_names_file_item_and_field(infobench_files, tmp_path):
    data, outputs = infobench_files
    bad = dict(ITEMS[0], decomposed_questions=[])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([ITEMS[1], bad]))
    with pytest.raises(ChaseError, match=re.escape(f"{path}: item 2: field 'decomposed_questions' must be")):
        load_infobench(path)
    path.write_text(json.dumps([{k: v for k, v in ITEMS[0].items() if k != "instruction"}]))
    with pytest.raises(ChaseError, match="item 1: field 'instruction' is missing"):
        load_infobench(path)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(json.loads(outputs.read_text())[:2]))
    with pytest.raises(ChaseError, match="1 missing"):
        run_infobench(partial, make_judge("openai:x"), tmp_path / "o", data=data)


def test_lima_test_prompts_in_the_hub_layout(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [{"conversations": [f"Prompt number {i}?"], "source": "multitask"} for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = load_benchmark(f"lima@{path}", limit=3, seed=0)
    assert len(prompts) == 3 and all(p["dataset"] == "lima" and p["instruction"].startswith("Prompt") for p in prompts)
    assert [p["benchmark_index"] for p in prompts] == sorted(p["benchmark_index"] for p in prompts)
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"conversations": [], "source": "x"}) + "\n")
    with pytest.raises(ChaseError, match=re.escape(f"{path}: line 2: field 'conversations'")):
        load_benchmark(f"lima@{path}")
    with pytest.raises(ChaseError, match="lima and infobench also take @PATH"):
        load_benchmark(f"ifeval@{path}")
