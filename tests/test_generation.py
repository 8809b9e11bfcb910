"""Benchmark loaders, batched greedy generation, the AlpacaEval layout and resume, on real tiny models."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from chasing_random.errors import ChaseError
from chasing_random.generation.benchmarks import load_benchmark
from chasing_random.generation.decoding import Decoding, resolve_decoding
from chasing_random.generation.generate import generate_outputs
from chasing_random.generation.hf import generate_hf, length_sorted_batches
from chasing_random.generation.outputs import read_model_outputs, shards_folder
from chasing_random.resume import ResumeLog


@pytest.mark.parametrize("name,size", [("ifeval", 541), ("alpaca_eval", 805), ("mt_bench", 80), ("ifbench", 300)])
def test_packaged_benchmarks_have_their_published_sizes(name, size):
    prompts = load_benchmark(name)
    assert len(prompts) == size
    assert all(p["instruction"].strip() and p["dataset"] for p in prompts)
    assert [p["benchmark_index"] for p in prompts] == list(range(size))


def test_ifeval_keeps_what_the_checker_needs():
    first = load_benchmark("ifeval")[0]
    assert first["key"] == 1000 and first["instruction_id_list"][0] == "punctuation:no_comma"
    assert first["kwargs"][2] == {"relation": "at least", "num_words": 300}


def test_alpaca_eval_subsets_and_seeded_samples():
    sizes = {s: len(load_benchmark("alpaca_eval", subset=s)) for s in ("vicuna", "koala", "selfinstruct")}
    assert sizes == {"vicuna": 80, "koala": 156, "selfinstruct": 252}
    a, b = load_benchmark("ifeval", limit=20, seed=1), load_benchmark("ifeval", limit=20, seed=1)
    assert a == b and len(a) == 20
    assert a != load_benchmark("ifeval", limit=20, seed=2)
    with pytest.raises(ChaseError, match="valid: vicuna, koala"):
        load_benchmark("alpaca_eval", subset="lima")
    with pytest.raises(ChaseError, match="unknown benchmark 'mmlu'"):
        load_benchmark("mmlu")


def test_hub_copy_fails_with_one_clear_line_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ChaseError, match="cannot reach the Hugging Face hub"):
        load_benchmark("ifeval@hub")


@given(st.lists(st.text(min_size=1).filter(lambda t: t.strip()), min_size=1, max_size=20))
def test_file_benchmarks_round_trip(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("bench") / "mine.jsonl"
    path.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
    prompts = load_benchmark(f"file:{path}")
    assert [p["instruction"] for p in prompts] == texts and {p["dataset"] for p in prompts} == {"mine"}


def test_file_benchmark_errors_name_line_and_field(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"instruction": "hi"}\n{"text": "no instruction"}\n')
    with pytest.raises(ChaseError, match=r"p.jsonl, line 2, field instruction"):
        load_benchmark(f"file:{path}")
    with pytest.raises(ChaseError, match="does not exist"):
        load_benchmark(f"file:{tmp_path / 'none.jsonl'}")


@given(st.lists(st.integers(min_value=1, max_value=500), max_size=60), st.integers(min_value=1, max_value=17))
def test_length_sorted_batches_cover_every_prompt_once(lengths, batch_size):
    batches = length_sorted_batches(lengths, batch_size)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(len(b) <= batch_size for b in batches)
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_decoding_defaults_and_paper_sampling():
    assert resolve_decoding(device_type="cpu").max_new_tokens == 256
    assert resolve_decoding(device_type="cuda").max_new_tokens == 1024
    assert resolve_decoding(device_type="cpu").greedy
    paper = resolve_decoding(device_type="cpu", sampling="paper")
    assert paper.temperature == 1.0 and not paper.greedy
    with pytest.raises(ChaseError, match="valid: greedy, paper"):
        resolve_decoding(device_type="cpu", sampling="hot")


def _generate_all(model, tokenizer, prompts, decoding, batch_size):
    got = {}
    generate_hf(model, tokenizer, prompts, decoding, batch_size=batch_size,
                on_batch=lambda idx, texts, counts: got.update(zip(idx, zip(texts, counts))))
    return [got[i] for i in range(len(prompts))]


def test_batched_greedy_equals_one_at_a_time_on_tiny_model(tiny_lm):
    from chasing_random.data.templates import get_template
    from chasing_random.models.loading import load_causal_lm

    model, tokenizer = load_causal_lm(tiny_lm)
    prompts = [get_template("paper").prompt(p["instruction"]) for p in load_benchmark("alpaca_eval", limit=10, seed=4)]
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts}) > 3  # real padding happens
    decoding = Decoding(max_new_tokens=12)
    assert _generate_all(model, tokenizer, prompts, decoding, 10) == _generate_all(model, tokenizer, prompts, decoding, 1)


@pytest.mark.slow
def test_batched_greedy_equals_one_at_a_time_on_smollm2(smollm2):
    from chasing_random.data.templates import get_template
    from chasing_random.models.loading import load_causal_lm

    model, tokenizer = load_causal_lm(smollm2)
    prompts = [get_template("chat").prompt(p["instruction"], tokenizer) for p in load_benchmark("ifeval", limit=3, seed=0)]
    decoding = Decoding(max_new_tokens=12)
    batched = _generate_all(model, tokenizer, prompts, decoding, 3)
    assert batched == _generate_all(model, tokenizer, prompts, decoding, 1)
    assert all(text for text, _ in batched)


def test_outputs_layout_template_and_seeded_sampling(tmp_path, tiny_lm):
    out = tmp_path / "tiny_ifeval.json"
    records = generate_outputs(tiny_lm, "ifeval", out, limit=5, max_new_tokens=6)
    assert read_model_outputs(out) == records and len(records) == 5
    assert {r["generator"] for r in records} == {"tiny-lm0"} and {r["dataset"] for r in records} == {"ifeval"}
    assert all("instruction_id_list" in r for r in records)
    manifest = json.loads((tmp_path / "tiny_ifeval.json.manifest.json").read_text())
    assert manifest["config"]["template"] == "chat"  # no training manifest, tokenizer has a chat template
    assert manifest["config"]["decoding"]["greedy"]
    sampled = [generate_outputs(tiny_lm, "ifeval", tmp_path / f"s{i}.json", limit=4, max_new_tokens=6,
                                sampling="paper", seed=7, template="paper") for i in range(2)]
    assert [r["output"] for r in sampled[0]] == [r["output"] for r in sampled[1]]


def test_interrupted_run_keeps_finished_prompts(tmp_path, tiny_lm, monkeypatch):
    reference = generate_outputs(tiny_lm, "alpaca_eval", tmp_path / "ref.json", limit=9, max_new_tokens=5, batch_size=3)
    calls = {"n": 0}
    original = ResumeLog.append

    def append_then_crash(self, records):
        original(self, records)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ResumeLog, "append", append_then_crash)
    out = tmp_path / "run.json"
    with pytest.raises(KeyboardInterrupt):
        generate_outputs(tiny_lm, "alpaca_eval", out, limit=9, max_new_tokens=5, batch_size=3)
    (sidecar,) = shards_folder(out).glob("*/00000.partial.jsonl")  # one shard, two of its three batches done
    assert not out.exists() and len(sidecar.read_text().splitlines()) == 1 + 6
    monkeypatch.setattr(ResumeLog, "append", original)
    resumed = generate_outputs(tiny_lm, "alpaca_eval", out, limit=9, max_new_tokens=5, batch_size=3)
    assert json.loads((tmp_path / "run.json.manifest.json").read_text())["n_generated_now"] == 3
    assert [r["output"] for r in resumed] == [r["output"] for r in reference]
    assert not shards_folder(out).exists()


def test_trained_model_answers_with_its_training_template(tmp_path, tiny_lm, shared_data, run_cli):
    from chasing_random.training.sft import train_model

    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())[:8]
    subset = [{"id": str(i), "input": r["instruction"], "target": r["output"]} for i, r in enumerate(rows)]
    model_dir = tmp_path / "model"
    train_model(subset, tiny_lm, model_dir, overrides={"max_length": 48, "max_steps": 1, "template": "alpaca"})
    result = run_cli("generate", "--model", model_dir, "--benchmark", "mt_bench", "--limit", "4",
                     "--max-new-tokens", "4", "--out", tmp_path / "mt.json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["template"] == "alpaca" and json.loads(result.out)["n_outputs"] == 4
    assert len(read_model_outputs(tmp_path / "mt.json")) == 4


def test_cli_generate_bad_input_is_one_line(run_cli, tmp_path, tiny_lm):
    result = run_cli("generate", "--model", tiny_lm, "--benchmark", "hellaswag", "--out", tmp_path / "x.json")
    assert result.code == 2 and "unknown benchmark 'hellaswag'" in result.err and "Traceback" not in result.err
    result = run_cli("generate", "--model", tiny_lm, "--benchmark", "ifeval", "--limit", "1", "--backend", "vllm",
                     "--out", tmp_path / "x.json")
    assert result.code == 2 and "vllm" in result.err.lower()
