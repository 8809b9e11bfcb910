"""LLMBar: both data layouts, located errors, the both-orders combination through a real judge server,
a real local model as judge, and the CLI on SmolLM2."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from chasing_random.errors import ChaseError
from chasing_random.evaluation.llmbar import (EXPECTED_SIZES, REPO_PATHS, SUBSETS, load_llmbar, per_item_path,
                                              run_llmbar)
from choice_server import ChoiceServer

ENV = "CHASE_TEST_JUDGE_KEY"


@pytest.fixture
def llmbar_dir(shared_data):
    if not (shared_data / "llmbar" / "Natural.json").exists():
        pytest.skip("../shared/data/llmbar is not present")
    return shared_data / "llmbar"


def test_flat_and_repository_layouts_give_the_same_items(llmbar_dir, tmp_path):
    flat = load_llmbar(llmbar_dir)
    assert {s: sum(i.subset == s for i in flat) for s in SUBSETS} == EXPECTED_SIZES
    repo = tmp_path / "LLMBar-main"
    for subset in SUBSETS:
        target = repo / "Dataset" / "LLMBar" / REPO_PATHS[subset]
        target.parent.mkdir(parents=True)
        shutil.copy(llmbar_dir / f"{subset}.json", target)
    assert load_llmbar(repo) == flat
    assert load_llmbar(repo / "Dataset" / "LLMBar") == flat
    sample = load_llmbar(llmbar_dir, limit=40, seed=3)
    assert len(sample) == 40 and sample == load_llmbar(repo, limit=40, seed=3)
    assert [i.id for i in sample] == [i.id for i in flat if i in sample]  # file order kept
    assert load_llmbar(llmbar_dir / "Adversarial_GPTOut.json")[0].id == "Adversarial_GPTOut/0"


@pytest.mark.parametrize("row, message", [
    ({"input": "x", "output_1": "a", "output_2": "b", "label": 3}, "item 2: field 'label' must be 1 or 2, got 3"),
    ({"input": "x", "output_1": "a", "output_2": "b", "label": "1"}, "item 2: field 'label' must be 1 or 2, got \"1\""),
    ({"input": "x", "output_1": "a", "label": 1}, "item 2: field 'output_2' is missing"),
    ({"input": "x", "output_1": "a", "output_2": 7, "label": 1}, "item 2: field 'output_2' must be a string, got int"),
    ({"output_1": "a", "output_2": "b", "label": 2}, "item 2: field 'input' is missing"),
])
def test_bad_items_name_file_item_and_field(tmp_path, row, message):
    good = {"input": "Say hi.", "output_1": "hi", "output_2": "bye", "label": 1}
    (tmp_path / "Natural.json").write_text(json.dumps([good, row]))
    with pytest.raises(ChaseError, match=re.escape(f"{tmp_path / 'Natural.json'}: {message}")):
        load_llmbar(tmp_path)


def test_wrong_layouts_are_errors(tmp_path):
    with pytest.raises(ChaseError, match="no LLMBar files found; expected the flat layout"):
        load_llmbar(tmp_path)
    (tmp_path / "other.json").write_text("[]")
    with pytest.raises(ChaseError, match="not an LLMBar subset file"):
        load_llmbar(tmp_path / "other.json")
    (tmp_path / "Natural.json").write_text(json.dumps({"input": "x"}))
    with pytest.raises(ChaseError, match="line 1: field 'output_1' is missing"):
        load_llmbar(tmp_path)
    (tmp_path / "Natural.json").write_text(json.dumps([{"input": "x", "output_1": "a", "output_2": "b", "label": 1}]))
    with pytest.raises(ChaseError, match=r"subset\(s\) \['Adversarial_Manual'\] not found"):
        load_llmbar(tmp_path, subsets=["Adversarial_Manual"])


def _fixture(tmp_path, n=6):
    """Pairs whose better output is marked; item 5 carries a fault marker so the server fails on it."""
    rows = [{"input": f"Task {i}" + (" [always500]" if i == 5 else ""), "output_1": f"answer {i}" + (" ✓" if i % 2 else ""),
             "output_2": f"answer {i}" + ("" if i % 2 else " ✓"), "label": 1 if i % 2 else 2} for i in range(n)]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "Natural.json").write_text(json.dumps(rows[:3]))
    (tmp_path / "Adversarial_Manual.json").write_text(json.dumps(rows[3:]))
    return tmp_path


def _marked(prompt: str) -> str:
    """A perfect judge: the shown output that carries the mark."""
    a = prompt.split("### Output A", 1)[1].split("### Output B", 1)[0]
    return "A" if "✓" in a else "B"


@pytest.mark.parametrize("protocol", ["weighted", "discrete"])
def test_both_orders_combination_through_a_real_server(tmp_path, monkeypatch, protocol):
    monkeypatch.setenv(ENV, "none")
    data = _fixture(tmp_path / "data")
    options = {"api_key_env": ENV, "retry_base_delay": 0.001, "max_retries": 1}
    with ChoiceServer(_marked, ("A", "B")) as server:
        perfect = run_llmbar("openai:judge", tmp_path / "perfect", data=data, protocol=protocol,
                             judge_options={**options, "base_url": server.base_url})
    with ChoiceServer(lambda prompt: "A", ("A", "B")) as server:
        biased = run_llmbar("openai:judge", tmp_path / "biased", data=data, protocol=protocol,
                            judge_options={**options, "base_url": server.base_url})
    # The faulty item fails in both orders: recorded, counted, in no accuracy.
    for metrics in (perfect, biased):
        assert metrics["n_items"] == 6 and metrics["n_items_scored"] == 5
        assert metrics["n_unparseable"] == 2 and metrics["unparseable_rate"] == pytest.approx(2 / 12)
    assert perfect["accuracy"] == 1.0 and perfect["positional_agreement"] == 1.0
    assert perfect["natural_accuracy"] == 1.0 and perfect["per_subset"]["Adversarial_Manual"]["n_scored"] == 2
    # Always "A": each item right in exactly one order -> 0.5, and the two orders never agree.
    assert biased["accuracy"] == 0.5 and biased["positional_agreement"] == 0.0
    rows = [json.loads(line) for line in per_item_path(tmp_path / "biased").read_text().splitlines()]
    assert [(r["id"], r["prediction_order1"], r["prediction_order2"]) for r in rows[:2]] == [
        ("Natural/0", 1, 2), ("Natural/1", 1, 2)]
    assert rows[-1]["score"] is None and "call failed" in rows[-1]["orders"][0]["failure"]


def test_a_real_local_model_judges_and_per_item_rows_reconcile(tiny_lm, llmbar_dir, tmp_path):
    metrics = run_llmbar(tiny_lm, tmp_path / "out", data=llmbar_dir, limit=10, seed=1, max_output_chars=200)
    rows = [json.loads(line) for line in per_item_path(tmp_path / "out").read_text().splitlines()]
    assert [r["id"] for r in rows] == [i.id for i in load_llmbar(llmbar_dir, limit=10, seed=1)]
    assert metrics["n_items_scored"] == 10 and metrics["unparseable_rate"] == 0.0
    assert metrics["accuracy"] == pytest.approx(sum(r["score"] for r in rows) / 10)
    for r in rows:
        probs = [o["prob_output_1"] for o in r["orders"]]
        assert r["prediction_order1"] == (1 if probs[0] >= 0.5 else 2)
        assert r["score"] == ((r["prediction_order1"] == r["label"]) + (r["prediction_order2"] == r["label"])) / 2
    assert 0 < metrics["mean_choice_mass"] <= 1 and metrics["template"] == "chat"
    again = run_llmbar(tiny_lm, tmp_path / "out", data=llmbar_dir, limit=10, seed=1, max_output_chars=200)
    assert again["accuracy"] == metrics["accuracy"]  # from the judge cache
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "METRICS.json").write_text("{}")
    with pytest.raises(ChaseError, match="was not written by an LLMBar run"):
        run_llmbar(tiny_lm, tmp_path / "foreign", data=llmbar_dir, limit=2)


@pytest.mark.slow
def test_cli_with_smollm2_on_a_slice(smollm2, llmbar_dir, tmp_path, run_cli):
    result = run_cli("evaluate", "llmbar", "--model", "smollm2-135m-instruct", "--data", llmbar_dir,
                     "--limit", "3", "--max-output-chars", "300", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert shown["n_items"] == 3 and 0 <= shown["accuracy"] <= 1 and shown["positional_agreement"] is not None
    assert len(per_item_path(tmp_path / "out").read_text().splitlines()) == 3
    assert run_cli("evaluate", "llmbar", "--model", "smollm2-135m-instruct", "--data", tmp_path).code == 2
