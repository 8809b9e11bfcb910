"""Generation in shards: byte-identical outputs for 1, 2 and 4 shards and the unsharded computation,
resume after an interruption between shards, the same file on a local Ray and resume across
executors (local then Ray, Ray then local), and a failing shard retried, then named, with the other
shards kept."""

from __future__ import annotations

import json
import os
import signal

import pyarrow.parquet as pq
import pytest
from hypothesis import given, strategies as st

from chasing_random.errors import ChaseError
from chasing_random.generation.decoding import Decoding
from chasing_random.generation.generate import generate_outputs
from chasing_random.generation.hf import length_sorted_batches
from chasing_random.generation.outputs import OutputShards, shards_folder
from chasing_random.generation.shards import ShardGenerator, generation_layout
from chasing_random.resume import ResumeLog
from chasing_random.sharding import LocalShards, using

N, BATCH, NEW = 12, 3, 8  # 12 prompts in 4 batches: shard sizes 12, 6, 3 give 1, 2, 4 shards


def generate(model, out, shard_prompts, **kw):
    return generate_outputs(model, "alpaca_eval", out, limit=N, max_new_tokens=NEW, batch_size=BATCH,
                            shard_prompts=shard_prompts, **kw)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, smollm2) -> str:
    """A tiny random Llama whose weights are large enough (init 0.2) to answer with varied text (the
    shared tiny model, at init 0.02, answers every prompt with the same newlines)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("varied-lm")
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True, initializer_range=0.2)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def reference(tiny_lm, tmp_path_factory):
    """The one-shard run's file."""
    out = tmp_path_factory.mktemp("reference") / "out.json"
    generate(tiny_lm, out, N)
    return out.read_bytes()


@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=50),
       st.integers(min_value=1, max_value=7), st.integers(min_value=1, max_value=40))
def test_shards_are_whole_batches_of_the_unsharded_run(lengths, batch_size, shard_prompts):
    layout = generation_layout(lengths, batch_size, shard_prompts, 16)
    flat = [int(i) for shard in layout for i in shard]
    batches = length_sorted_batches(lengths, batch_size)
    assert flat == [i for batch in batches for i in batch]  # shards hold consecutive batches, in order
    per_shard = -(-shard_prompts // batch_size)
    assert len(layout) == -(-len(batches) // per_shard) and all(len(s) for s in layout)
    starts = {batch[0] for batch in batches}
    assert all(int(shard[0]) in starts for shard in layout)  # every shard starts a batch: same batches


def test_one_two_four_shards_write_the_bytes_of_the_unsharded_computation(tiny_lm, tmp_path, reference):
    from chasing_random.data.templates import get_template
    from chasing_random.generation.benchmarks import load_benchmark
    from chasing_random.generation.hf import generate_hf
    from chasing_random.models.loading import load_causal_lm

    for shard_prompts, shards in ((6, 2), (3, 4), (4, 2)):  # 4 prompts round up to 2 whole batches
        out = tmp_path / f"s{shard_prompts}.json"
        generate(tiny_lm, out, shard_prompts)
        assert out.read_bytes() == reference, shard_prompts
        manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
        assert manifest["shards"] == shards and manifest["n_generated_now"] == N
        assert not shards_folder(out).exists()
    model, tokenizer = load_causal_lm(tiny_lm)  # the whole benchmark in one generate_hf call, as before shards
    prompts = load_benchmark("alpaca_eval", limit=N)
    got = {}
    generate_hf(model, tokenizer, [get_template("chat").prompt(p["instruction"], tokenizer) for p in prompts],
                Decoding(max_new_tokens=NEW), batch_size=BATCH, on_batch=lambda i, t, c: got.update(zip(i, zip(t, c))))
    records = json.loads(reference)
    assert [(r["output"], r["n_new_tokens"]) for r in records] == [got[i] for i in range(N)]
    assert len({r["output"] for r in records}) == N and all(r["output"] for r in records)  # varied, real text


def test_an_interrupted_run_resumes_without_redoing_finished_shards(tiny_lm, tmp_path, reference, monkeypatch):
    calls = []
    original = ShardGenerator.__call__

    def counted(self, positions):
        calls.append(int(positions[0]))
        if len(calls) == 3:
            raise KeyboardInterrupt  # stopped in the third shard, before any of its batches finished
        return original(self, positions)

    monkeypatch.setattr(ShardGenerator, "__call__", counted)
    out = tmp_path / "out.json"
    with pytest.raises(KeyboardInterrupt):
        generate(tiny_lm, out, BATCH)
    (layout,) = [p for p in shards_folder(out).iterdir() if p.is_dir()]
    assert sorted(p.name for p in layout.glob("*.parquet")) == ["00000.parquet", "00001.parquet"]
    first_two = list(calls[:2])
    calls.clear()
    generate(tiny_lm, out, BATCH)
    assert len(calls) == 2 and not set(calls) & set(first_two)  # only the two unfinished shards ran
    assert out.read_bytes() == reference
    assert json.loads(out.with_name("out.json.manifest.json").read_text())["n_generated_now"] == 6


def test_a_failing_shard_is_retried_then_named_and_the_others_kept(tiny_lm, tmp_path, reference, monkeypatch):
    import chasing_random.generation.hf as hf

    real, attempts = hf.generate_hf, []

    def flaky(model, tokenizer, prompts, decoding, **kw):
        if max(len(p) for p in prompts) == longest:  # the shard with the longest prompt always fails
            attempts.append(1)
            raise RuntimeError("out of memory (simulated)")
        return real(model, tokenizer, prompts, decoding, **kw)

    from chasing_random.data.templates import get_template
    from chasing_random.generation.benchmarks import load_benchmark
    from chasing_random.models.loading import load_tokenizer

    tokenizer = load_tokenizer(tiny_lm)
    longest = max(len(get_template("chat").prompt(p["instruction"], tokenizer))
                  for p in load_benchmark("alpaca_eval", limit=N))
    monkeypatch.setattr(hf, "generate_hf", flaky)
    out = tmp_path / "out.json"
    with using(LocalShards(retries=1)), pytest.raises(
            ChaseError, match=r"(?s)1 shard\(s\) failed after 2 attempt\(s\).*out\.json\.shards/b3-s3-\w+/00000"
                              r"\.parquet: RuntimeError: out of memory"):
        generate(tiny_lm, out, BATCH)
    assert len(attempts) == 2 and not out.exists()
    (layout,) = [p for p in shards_folder(out).iterdir() if p.is_dir()]
    assert sorted(p.name for p in layout.glob("*.parquet")) == ["00001.parquet", "00002.parquet", "00003.parquet"]
    monkeypatch.setattr(hf, "generate_hf", real)
    generate(tiny_lm, out, BATCH)
    assert json.loads(out.with_name("out.json.manifest.json").read_text())["n_generated_now"] == BATCH
    assert out.read_bytes() == reference


@pytest.mark.slow  # starts a local Ray (about 15 s) and loads the model in each worker
def test_on_a_local_ray_the_shards_write_the_same_file_and_resume_across_executors(tiny_lm, tmp_path, reference,
                                                                                    ray_local, monkeypatch):
    import chasing_random.generation.generate as generation
    from chasing_random.pipeline.ray_executor import RayShards

    ray_shards = RayShards({"generation": {"num_cpus": 1.0, "num_gpus": 0.0, "concurrency": None}})
    out = tmp_path / "ray.json"
    with using(ray_shards):
        generate(tiny_lm, out, BATCH)
    assert out.read_bytes() == reference
    assert json.loads(out.with_name("ray.json.manifest.json").read_text())["shards"] == 4

    original, calls = ShardGenerator.__call__, []

    def stop_in_third_shard(self, positions):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, positions)

    monkeypatch.setattr(ShardGenerator, "__call__", stop_in_third_shard)
    out = tmp_path / "local-then-ray.json"
    with pytest.raises(KeyboardInterrupt):
        generate(tiny_lm, out, BATCH)  # two shards finished in this process
    monkeypatch.setattr(ShardGenerator, "__call__", original)
    with using(ray_shards):
        generate(tiny_lm, out, BATCH)
    assert out.read_bytes() == reference
    assert json.loads(out.with_name("local-then-ray.json.manifest.json").read_text())["n_generated_now"] == 6

    real_run_shards = generation.run_shards

    def stop_after_first_shard(*args, **kw):
        def on_shard(done, total):
            if done == 1:
                raise KeyboardInterrupt

        return real_run_shards(*args, **kw, on_shard=on_shard)

    monkeypatch.setattr(generation, "run_shards", stop_after_first_shard)
    out = tmp_path / "ray-then-local.json"
    with using(RayShards({"generation": {"num_cpus": 1.0, "num_gpus": 0.0, "concurrency": 1}})), \
            pytest.raises(KeyboardInterrupt):
        generate(tiny_lm, out, BATCH)  # one shard finished on a Ray worker
    monkeypatch.setattr(generation, "run_shards", real_run_shards)
    generate(tiny_lm, out, BATCH)
    assert out.read_bytes() == reference
    assert json.loads(out.with_name("ray-then-local.json.manifest.json").read_text())["n_generated_now"] == 9


class DyingSidecar(ResumeLog):
    """A shard sidecar whose worker process dies right after its first batch is safely written."""

    def append(self, records):
        super().append(records)
        marker = self.sidecar.with_suffix(".killed")
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


class DyingShards(OutputShards):
    def sidecar(self, index):
        return DyingSidecar(self.folder / f"{index:05d}.partial.jsonl", self.run_key, "benchmark_index")


@pytest.mark.slow  # a local Ray (about 15 s to start) whose workers are killed
def test_a_worker_killed_mid_shard_loses_only_the_unfinished_batches(tiny_lm, tmp_path, reference, ray_local):
    import sys

    from chasing_random.data.templates import get_template
    from chasing_random.generation.benchmarks import load_benchmark
    from chasing_random.models.loading import LazyCausalLM, load_tokenizer
    from chasing_random.pipeline.ray_executor import RayShards
    from chasing_random.sharding import run_shards

    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this module
    try:
        tokenizer = load_tokenizer(tiny_lm)
        prompts = load_benchmark("alpaca_eval", limit=N)
        texts = [get_template("chat").prompt(p["instruction"], tokenizer) for p in prompts]
        indices = [p["benchmark_index"] for p in prompts]
        layout = generation_layout([len(ids) for ids in tokenizer(texts)["input_ids"]], BATCH, 2 * BATCH, NEW)
        shards = DyingShards(tmp_path / "out.json", "key", "layout")
        compute = ShardGenerator(texts, indices, {int(s[0]): n for n, s in enumerate(layout)}, shards,
                                 Decoding(max_new_tokens=NEW), BATCH, "hf",
                                 LazyCausalLM(tiny_lm, dtype="float32", device="cpu", trust_remote_code=False))
        with using(RayShards({"generation": {"num_cpus": 1.0, "num_gpus": 0.0, "concurrency": None}})):
            run_shards(layout, [shards.shard_path(n) for n in range(len(layout))], compute, label="out",
                       work="generation", description="test")
    finally:
        ray_local.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert len(layout) == 2 and len(list(shards.folder.glob("*.killed"))) == 2  # each shard's worker died once
    assert sorted(len(shard) // BATCH for shard in layout) == [1, 3]  # balanced by length: 1 long batch, 3 short
    for n in range(2):  # the retry kept the batch written before the kill: every prompt once, none generated twice
        lines = [json.loads(line) for line in (shards.folder / f"{n:05d}.partial.jsonl").read_text().splitlines()]
        assert sorted(r["benchmark_index"] for r in lines[1:]) == sorted(indices[p] for p in layout[n])
    answers = {row["benchmark_index"]: row["output"] for n in range(2)
               for row in pq.read_table(shards.shard_path(n)).to_pylist()}
    assert [answers[r["benchmark_index"]] for r in json.loads(reference)] == [r["output"] for r in json.loads(reference)]
