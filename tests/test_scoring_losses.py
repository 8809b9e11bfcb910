"""The loss engine against a plain one-row-at-a-time computation of its semantics; batching, resume, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from chasing_random.data.pool import read_pool
from chasing_random.data.records import record_id
from chasing_random.data.templates import get_template
from chasing_random.errors import ChaseError
from chasing_random.scoring import losses as engine
from chasing_random.scoring.losses import ifd, loss_table, mostly_above_one
from chasing_random.store import ArtifactStore, read_manifest

ROWS = [
    {"instruction": "Give three tips for staying healthy.", "output": "Eat well, sleep enough and move every day."},
    {"instruction": "Translate to French: good morning", "output": "Bonjour"},
    {"instruction": "Write a long story about a dragon. " * 12, "output": "Once upon a time there was a dragon. " * 20},
    {"instruction": "Say nothing.", "output": ""},
    {"instruction": "What is 2+2?", "output": "4"},
    {"instruction": "List the primes below 20.", "output": "2, 3, 5, 7, 11, 13, 17, 19"},
    {"instruction": "Explain gravity " * 40, "output": "Mass attracts mass."},
]


def write_pool(rows, path):
    """A pool file written directly (pool builds reject empty targets; the engine must cope anyway)."""
    import pyarrow as pa

    records = [{"id": record_id(r["instruction"], r["output"]), "input": r["instruction"], "target": r["output"],
                "source": "test", "meta": "{}"} for r in rows]
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


@pytest.fixture
def pool(tmp_path):
    return write_pool(ROWS, tmp_path / "toy.parquet")


def reference_losses(model_dir, pool_path, template_name, max_length):
    """The semantics of the issue, one row at a time, with plain logits and cross-entropy."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    template = get_template(template_name)
    rows = []
    for record in read_pool(pool_path).to_dict("records"):
        prompt = tokenizer(template.prompt(record["input"]), add_special_tokens=True)["input_ids"]
        response = tokenizer(record["target"], add_special_tokens=False)["input_ids"]
        cond = (prompt + response)[:max_length]
        kept = max(0, len(cond) - len(prompt))
        direct_prefix = tokenizer(template.direct_prefix, add_special_tokens=True)["input_ids"]
        if not direct_prefix:
            direct_prefix = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
        direct = direct_prefix + response[:kept]

        def mean_loss(ids, start):
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0]
            return torch.nn.functional.cross_entropy(logits[start - 1:-1], torch.tensor(ids[start:])).item()

        rows.append({"id": record["id"], "n": kept, "truncated": kept < len(response),
                     "cond": mean_loss(cond, len(prompt)) if kept else None,
                     "direct": mean_loss(direct, len(direct_prefix)) if kept else None})
    return rows


@pytest.mark.parametrize("template,max_length", [("none", 64), ("cherry", 48), ("paper", 96), ("alpaca", 40)])
def test_matches_unbatched_reference(pool, tmp_path, tiny_lm, template, max_length):
    run = loss_table(pool, tiny_lm, template, max_length, store=ArtifactStore(tmp_path / "store"), batch_size=3)
    table = run.frame.set_index("id")
    reference = reference_losses(tiny_lm, pool, template, max_length)
    assert list(run.frame["id"]) == [r["id"] for r in reference]
    assert any(r["truncated"] for r in reference) and any(r["n"] == 0 for r in reference)
    for row in reference:
        got = table.loc[row["id"]]
        assert got["n_response_tokens"] == row["n"] and bool(got["truncated"]) == row["truncated"]
        if row["n"] == 0:
            assert math.isnan(got["loss_cond"]) and math.isnan(got["loss_direct"])
        else:
            assert abs(got["loss_cond"] - row["cond"]) < 1e-4 and abs(got["loss_direct"] - row["direct"]) < 1e-4
    raw = pq.read_table(run.path)
    assert raw.column("loss_cond").null_count == sum(r["n"] == 0 for r in reference)


def test_prompt_longer_than_l_and_empty_target_have_no_response_tokens(pool, tmp_path, tiny_lm):
    frame = loss_table(pool, tiny_lm, "none", 32, store=ArtifactStore(tmp_path / "s")).frame
    empty = frame.iloc[3]
    assert empty["n_response_tokens"] == 0 and not empty["truncated"]
    too_long = frame.iloc[6]
    assert too_long["n_response_tokens"] == 0 and too_long["truncated"]


def test_batch_size_does_not_change_results(pool, tmp_path, tiny_lm):
    frames = [loss_table(pool, tiny_lm, "cherry", 80, store=ArtifactStore(tmp_path / f"s{b}"), batch_size=b).frame
              for b in (1, 2, 5, 16)]
    for frame in frames[1:]:
        assert np.allclose(frame["loss_cond"], frames[0]["loss_cond"], atol=1e-4, equal_nan=True)
        assert np.allclose(frame["loss_direct"], frames[0]["loss_direct"], atol=1e-4, equal_nan=True)


def test_resume_skips_finished_shards_and_cache_is_reused(pool, tmp_path, tiny_lm):
    store = ArtifactStore(tmp_path / "store")

    def interrupt(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loss_table(pool, tiny_lm, "none", 64, store=store, shard_rows=2, on_shard=interrupt)
    resumed = loss_table(pool, tiny_lm, "none", 64, store=store, shard_rows=2)
    assert resumed.computed_shards == [2, 3] and not resumed.reused
    assert resumed.manifest["shards"] == 4 and resumed.manifest["cost"]["device_hours"] > resumed.cost["device_hours"]
    again = loss_table(pool, tiny_lm, "none", 64, store=store, shard_rows=2)
    assert again.reused and again.cost["device_hours"] == 0 and again.computed_shards == []
    fresh = loss_table(pool, tiny_lm, "none", 64, store=ArtifactStore(tmp_path / "fresh"))
    assert np.allclose(fresh.frame["loss_cond"], resumed.frame["loss_cond"], atol=1e-6, equal_nan=True)


def test_ifd_ratios_and_warning(pool, tmp_path, tiny_lm):
    frame = loss_table(pool, tiny_lm, "cherry", 64, store=ArtifactStore(tmp_path / "s")).frame
    cherry, superfilter = ifd(frame, "cherry"), ifd(frame, "superfilter")
    ok = np.isfinite(cherry)
    assert np.allclose(cherry[ok], frame["loss_cond"][ok] / frame["loss_direct"][ok])
    assert np.array_equal(cherry[ok] < 1, superfilter[ok] < 1)
    assert mostly_above_one(np.array([1.2, 1.5, 0.5, np.nan])) and not mostly_above_one(np.array([0.2, 1.5, 0.5]))


def test_bad_options_are_clear_errors(pool, tmp_path, tiny_lm, run_cli):
    with pytest.raises(ChaseError, match="valid templates: .*none"):
        loss_table(pool, tiny_lm, "wiz", 64, store=ArtifactStore(tmp_path))
    with pytest.raises(ChaseError, match="valid: float32, bfloat16"):
        loss_table(pool, tiny_lm, "none", 64, dtype="float16", store=ArtifactStore(tmp_path))
    result = run_cli("score", "losses", "--pool", pool, "--model", tiny_lm, "--template", "nope",
                     "--max-length", "64", "--store", tmp_path)
    assert result.code == 2 and "valid templates" in result.err


def test_cli_writes_out_file_with_manifest(pool, tmp_path, tiny_lm, run_cli):
    out = tmp_path / "losses.parquet"
    result = run_cli("score", "losses", "--pool", pool, "--model", tiny_lm, "--template", "none",
                     "--max-length", "64", "--store", tmp_path / "store", "--out", out, "--batch-size", "4")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["rows"] == len(ROWS) and not summary["reused"]
    assert pq.read_table(out).column_names == ["id", "loss_cond", "loss_direct", "n_response_tokens", "truncated"]
    manifest = read_manifest(out)
    assert manifest["config"]["template"] == "none" and manifest["cost"]["device"] == "cpu"
    again = json.loads(run_cli("score", "losses", "--pool", pool, "--model", tiny_lm, "--template", "none",
                               "--max-length", "64", "--store", tmp_path / "store").out)
    assert again["reused"] and again["cost_this_run"]["device_hours"] == 0


@pytest.mark.slow
def test_smollm2_matches_reference_on_a_few_rows(tmp_path, smollm2):
    pool = write_pool(ROWS[:2] + ROWS[4:6], tmp_path / "few.parquet")
    run = loss_table(pool, "smollm2-135m-instruct", "none", 48, store=ArtifactStore(tmp_path / "s"), batch_size=4)
    table = run.frame.set_index("id")
    for row in reference_losses(smollm2, pool, "none", 48):
        assert abs(table.loc[row["id"], "loss_cond"] - row["cond"]) < 1e-4
        assert abs(table.loc[row["id"], "loss_direct"] - row["direct"]) < 1e-4


def test_every_head_path_gives_the_same_losses(pool, tiny_lm, monkeypatch):
    """Fast path (reused buffer, several chunks), a head that is not a float32 Linear, and the full forward."""
    from chasing_random.models.loading import load_causal_lm

    model, tokenizer = load_causal_lm(tiny_lm)
    frame = read_pool(pool)
    cond, direct, _, _ = engine.build_sequences(list(frame["input"]), list(frame["target"]), tokenizer, "cherry", 80)
    sequences = cond + direct

    def run():
        return engine.sequence_losses(model, sequences, batch_size=3, pad_id=tokenizer.pad_token_id)

    fast = run()
    vocab = model.get_output_embeddings().out_features
    monkeypatch.setattr(engine, "HEAD_BUFFER_BYTES", 4 * vocab * 16)  # 16-row chunks: many per batch
    chunked = run()
    monkeypatch.setattr(engine.ResponseHead, "__init__", lambda self, head: (
        setattr(self, "head", head), setattr(self, "fast", False), setattr(self, "rows", 7)) and None)
    generic = run()
    monkeypatch.setattr(engine, "_split_model", lambda m: None)
    full = run()
    assert np.isnan(fast).sum() == 6  # in both passes: the empty target and the two prompts that reach L
    for other in (chunked, generic, full):
        np.testing.assert_allclose(other, fast, atol=1e-5, equal_nan=True)
