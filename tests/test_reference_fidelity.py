"""``--reference``: the loss engine reproduces the authors' own IFD scripts on recorded rows.

``fixtures/reference_ifd.json`` holds the numbers Superfiltering's and Cherry's scripts printed for the
first 40 rows of the shared Alpaca sample with SmolLM2 (provenance inside); no code of theirs is here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chasing_random.data.pool import build_pool
from chasing_random.errors import ChaseError
from chasing_random.scoring.losses import ifd, loss_table
from chasing_random.scoring.reference import REFERENCE_IFD, REFERENCES, Original, originals, reference_rows
from chasing_random.selection.base import SelectOptions, select
from chasing_random.store import ArtifactStore

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "reference_ifd.json").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ArtifactStore:
    """One store for the module: the strategy test reuses the table the reference test made."""
    return ArtifactStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def alpaca40(shared_data, tmp_path_factory) -> Path:
    """The fixture's 40 rows as a pool built by the project's Alpaca adapter (meta keeps the original fields)."""
    folder = tmp_path_factory.mktemp("alpaca40")
    rows = json.loads((shared_data / "alpaca_random_9k.json").read_text())
    (folder / "alpaca40.json").write_text(json.dumps([rows[i] for i in FIXTURE["rows"]]))
    build_pool("alpaca", str(folder / "alpaca40.json"), folder / "alpaca40.parquet")
    return folder / "alpaca40.parquet"


@pytest.mark.slow
@pytest.mark.parametrize("reference", REFERENCES)
def test_reference_reproduces_the_authors_ifd(alpaca40, store, reference):
    expected = FIXTURE["methods"][reference]
    run = loss_table(alpaca40, "smollm2-135m-instruct", None, FIXTURE["max_length"], dtype=FIXTURE["dtype"],
                     store=store, reference=reference, device="cpu")
    frame = run.frame
    values = ifd(frame, REFERENCE_IFD[reference])
    assert run.manifest["config"]["reference"] == reference
    for row, (want, got, reason) in enumerate(zip(expected["ifd"], values, frame["excluded"])):
        if want is None:  # Superfiltering's NaN rows: a one-token response has no direct-pass target
            assert reason == "one_token_response" and math.isnan(got), row
        else:
            assert not isinstance(reason, str) and got == pytest.approx(want, abs=1e-3), row
    finite = [i for i, v in enumerate(expected["loss_direct"]) if v is not None]
    assert np.allclose(frame["loss_direct"].to_numpy()[finite], np.array(expected["loss_direct"], dtype=float)[finite], atol=1e-3)
    assert np.allclose(frame["loss_cond"], np.array(expected["loss_cond"], dtype=float), atol=1e-3)


def test_reference_texts_tokenization_and_exclusions(smollm2):
    """What each mode scores, read back as text: the authors' strings, slices and exclusions (no model)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    rows = [Original("Name a colour.", "", "Red is a colour."), Original("Classify.", "a serious joke", "Yes"),
            Original("Summarise:", "long " * 600, "Short.")]
    decode = lambda seq: tokenizer.decode(seq[0][seq[1]:seq[1] + seq[2]])  # noqa: E731
    before = lambda seq: tokenizer.decode(seq[0][:seq[1]])  # noqa: E731
    sf = reference_rows("superfiltering", rows, tokenizer, 512)
    assert before(sf[0].cond) == "Name a colour.\n" and decode(sf[0].cond) == "Red is a colour."
    assert before(sf[0].direct) == "Red" and decode(sf[0].direct) == " is a colour."  # first token never a target
    assert before(sf[1].cond) == "Classify.\na serious joke\n" and sf[1].excluded == "one_token_response"
    assert sf[2].excluded == "prompt_fills_max_length" and sf[2].truncated
    wiz = reference_rows("cherry-wiz", rows, tokenizer, 512)
    assert before(wiz[1].cond) == "Classify.\nInput:a serious joke\n\n### Response:" and decode(wiz[1].cond) == "Yes"
    assert before(wiz[0].direct) == "### Response:" and decode(wiz[0].direct) == "Red is a colour."
    shipped = reference_rows("cherry-wiz-as-shipped", rows, tokenizer, 512)
    assert shipped[0] == wiz[0]  # no input: the shipped script is right
    # with an input it averages the tokens at the offsets of the text without the input: here a word of the input
    assert decode(shipped[1].cond) == " joke" and shipped[1].cond[1] == len(tokenizer("Classify.\n\n### Response:")["input_ids"])
    # the bare instruction fits (Cherry's length check counts it alone), but the input pushes the response past L
    assert wiz[2].excluded == "no_response_tokens" and wiz[2].truncated
    alpaca = reference_rows("cherry-alpaca", rows, tokenizer, 512)
    assert before(alpaca[1].cond).endswith("### Instruction:\nClassify.\n\n### Input:\na serious joke\n\n### Response:")
    assert alpaca[2].excluded == "prompt_fills_max_length"
    near = reference_rows("cherry-wiz", [Original("Name a colour.", "", "Red " * 600)], tokenizer, 512)[0]
    assert near.excluded == "truncated"  # Cherry's own rule: instruction tokens + direct response tokens > L


def test_reference_needs_the_original_fields_and_excludes_a_template(tmp_path):
    pool = tmp_path / "old.parquet"
    meta = json.dumps({"row": 1, "has_context": True})
    pq.write_table(pa.Table.from_pandas(pd.DataFrame([{"id": "a", "input": "Q\n\nctx", "target": "A", "source": "alpaca",
                                                      "meta": meta}]), preserve_index=False), pool)
    with pytest.raises(ChaseError, match="rebuild it"):
        originals(pd.read_parquet(pool), pool)
    with pytest.raises(ChaseError, match="exclude each other"):
        loss_table(pool, "smollm2-135m-instruct", "none", 512, store=ArtifactStore(tmp_path / "s"),
                   reference="superfiltering")
    with pytest.raises(ChaseError, match="unknown --reference"):
        loss_table(pool, "smollm2-135m-instruct", None, 512, store=ArtifactStore(tmp_path / "s"), reference="wiz")
    with pytest.raises(ChaseError, match="superfilter accepts --reference superfiltering"):
        select(pool, "superfilter", [1], tmp_path / "sel", SelectOptions(reference="cherry-wiz"),
               store=ArtifactStore(tmp_path / "s"))


def test_pool_meta_keeps_the_original_fields_only_for_rows_with_a_context(tmp_path):
    source = tmp_path / "a.json"
    source.write_text(json.dumps([{"instruction": "Q1", "input": "", "output": "A1"},
                                  {"instruction": "Q2", "input": "ctx", "output": "A2"}]))
    build_pool("alpaca", str(source), tmp_path / "a.parquet")
    frame = pd.read_parquet(tmp_path / "a.parquet")
    assert json.loads(frame["meta"][0]) == {"row": 1, "has_context": False}
    assert originals(frame, tmp_path / "a.parquet") == [Original("Q1", "", "A1"), Original("Q2", "ctx", "A2")]


@pytest.mark.slow
def test_superfilter_strategy_with_reference_ranks_the_authors_numbers(alpaca40, store, tmp_path):
    """The strategy option goes through the same table: the authors' exclusions with their reasons."""
    manifest = select(alpaca40, "superfilter", [10], tmp_path / "sel",
                      SelectOptions(reference="superfiltering", max_length=512), store=store)[0]
    expected = FIXTURE["methods"]["superfiltering"]["ifd"]
    assert manifest["excluded"]["one_token_response"] == sum(v is None for v in expected)
    assert manifest["excluded"].get("ifd_above_max", 0) == sum(v is not None and v >= 1 for v in expected)
    assert manifest["info"]["reference"] == "superfiltering" and manifest["reconciles"]
    ranking = [json.loads(line) for line in (tmp_path / "sel" / "alpaca40_superfilter.ranking.jsonl").read_text().splitlines()]
    top = sorted((v for v in expected if v is not None and v < 1), reverse=True)[:10]
    assert [r["score"] for r in ranking[:10]] == pytest.approx(top, abs=1e-3)


def test_cli_reference_table_matches_the_hf_loss_of_the_authors_text(tiny_lm, tmp_path, run_cli):
    """Fast join check with a tiny model: `chase score losses --reference` = HF's masked-label loss of the
    authors' one-string text (what their scripts call), and the CLI keeps --template and --reference apart."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = tmp_path / "rows.json"
    rows = [{"instruction": "Name a colour.", "input": "", "output": "Red is a colour."},
            {"instruction": "Classify the tone.", "input": "What a lovely day!", "output": "Positive, clearly."},
            {"instruction": "Is this an oxymoron?", "input": "a serious joke", "output": "Yes"}]
    source.write_text(json.dumps(rows))
    build_pool("alpaca", str(source), tmp_path / "rows.parquet")
    result = run_cli("score", "losses", "--pool", tmp_path / "rows.parquet", "--model", tiny_lm, "--reference",
                     "superfiltering", "--max-length", "64", "--store", tmp_path / "store", "--out", tmp_path / "t.parquet")
    assert result.code == 0, result.err
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert list(frame["excluded"].fillna("")) == ["", "", "one_token_response"]
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    for row, got_cond, got_direct in zip(rows[:2], frame["loss_cond"], frame["loss_direct"]):
        prompt = row["instruction"] + "\n" + (row["input"] + "\n" if row["input"] else "")
        ids = torch.tensor([tokenizer.encode(prompt + row["output"])])
        labels = ids.clone()
        labels[0, :len(tokenizer.encode(prompt))] = -100
        alone = torch.tensor([tokenizer.encode(row["output"])])
        with torch.no_grad():
            assert got_cond == pytest.approx(model(ids, labels=labels).loss.item(), abs=1e-5)
            assert got_direct == pytest.approx(model(alone, labels=alone).loss.item(), abs=1e-5)
    both = run_cli("score", "losses", "--pool", tmp_path / "rows.parquet", "--model", tiny_lm, "--reference",
                   "cherry-wiz", "--template", "cherry", "--max-length", "64", "--store", tmp_path / "store")
    assert both.code == 2 and "exclude each other" in both.err


def test_experiment_files_accept_the_reference_option():
    from chasing_random.config import StrategyConfig

    assert StrategyConfig(name="cherry", options={"reference": "cherry-wiz-as-shipped"}).options["reference"]


def test_direct_prefix_option_replaces_the_bos_fallback_and_keeps_default_keys(smollm2, tmp_path):
    from transformers import AutoTokenizer

    from chasing_random.scoring.losses import build_sequences, loss_key

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    _, default, _, _ = build_sequences(["Name a colour."], ["Red."], tokenizer, "none", 64)
    _, neutral, _, _ = build_sequences(["Name a colour."], ["Red."], tokenizer, "none", 64, "<|endoftext|>")
    assert default[0].ids[:1] == [tokenizer.bos_token_id] and tokenizer.bos_token == "<|im_start|>"
    assert neutral[0].ids == [tokenizer.convert_tokens_to_ids("<|endoftext|>")] + default[0].ids[1:]
    assert neutral[0].start == 1 and neutral[0].count == default[0].count
    pool = tmp_path / "p.parquet"
    pool.write_bytes(b"pool bytes")
    store = ArtifactStore(tmp_path / "store")
    keys = {loss_key(store, pool, "gpt2", "none", 64, "float32"), loss_key(store, pool, "gpt2", "none", 64, "float32", None, None),
            loss_key(store, pool, "gpt2", "none", 64, "float32", None, "<|endoftext|>"),
            loss_key(store, pool, "gpt2", None, 64, "float32", "superfiltering")}
    assert len(keys) == 3  # the default key is unchanged by the new arguments; each option gets its own table
