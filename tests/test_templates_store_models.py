"""Templates, the artifact store, and the model loaders (with the packaged models)."""

from __future__ import annotations

import json

import pytest

from chasing_random.data.templates import TEMPLATES, get_template
from chasing_random.errors import ChaseError
from chasing_random.store import ArtifactStore, fingerprint, read_manifest, redact, write_manifest


def test_paper_template_keeps_the_study_typos():
    paper = get_template("paper")
    text = paper.text("Do X", "Done")
    assert text == ("Below is an instruction that is optionally paired with some additional context. Respond "
                    "appropriately follows using the context (if any) \n \n ### Instruction: Do X \n ### Response: Done")
    assert paper.prompt("Do X").endswith("### Response:")


def test_cherry_and_none_templates():
    assert get_template("cherry").text("Q", "A") == "Q\n\n### Response:A"
    assert get_template("cherry").direct_prefix == "### Response:"
    assert get_template("none").prompt("Q") == "Q\n" and get_template("none").direct_prefix == ""


def test_unknown_template_lists_names():
    with pytest.raises(ChaseError) as info:
        get_template("wizard")
    assert all(name in str(info.value) for name in TEMPLATES)


def test_chat_template_uses_tokenizer(smollm2):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    prompt = get_template("chat").prompt("Hello?", tokenizer)
    assert "Hello?" in prompt and prompt.rstrip().endswith("assistant")
    with pytest.raises(ChaseError):
        get_template("chat").prompt("Hello?")


def test_fingerprint_is_order_independent_for_dicts():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_manifest_never_holds_secrets(tmp_path):
    artifact = tmp_path / "scores.parquet"
    artifact.write_text("x")
    write_manifest(artifact, kind="scores", inputs={"pool": "p"}, started=0.0,
                   config={"api_key": "sk-abcdefghijklmnop1234", "api_key_env": "OPENAI_API_KEY",
                           "note": "key sk-abcdefghijklmnop1234 inline", "n_tokens": 5})
    manifest = read_manifest(artifact)
    text = json.dumps(manifest)
    assert "sk-abcdefghijklmnop1234" not in text
    assert manifest["config"]["api_key_env"] == "OPENAI_API_KEY" and manifest["config"]["n_tokens"] == 5
    assert redact({"authorization": "Bearer x"}) == {"authorization": "<redacted>"}


def test_store_keys_and_done(tmp_path):
    store = ArtifactStore(tmp_path)
    key = store.key("scores", {"pool": "abc"}, code_version="2")
    assert key != store.key("scores", {"pool": "abc"}, code_version="3")
    target = store.path("scores", key, "table.parquet")
    assert not store.done("scores", key, "table.parquet")
    target.parent.mkdir(parents=True)
    target.write_text("x")
    write_manifest(target, kind="scores", inputs={}, config={}, started=0.0)
    assert store.done("scores", key, "table.parquet")


@pytest.mark.slow
def test_smollm2_loads_from_package(smollm2):
    from chasing_random.models.loading import load_causal_lm

    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    assert model.config.num_hidden_layers == 30 and tokenizer.eos_token == "<|im_end|>"
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)


def test_minilm_embedder():
    from chasing_random.models.loading import load_embedder

    vectors = load_embedder("minilm").encode(["a cat", "a dog"], normalize_embeddings=True)
    assert vectors.shape == (2, 384)


def test_missing_model_is_one_clear_line(tmp_path):
    from chasing_random.models.loading import load_causal_lm

    with pytest.raises(ChaseError, match="no such folder"):
        load_causal_lm(str(tmp_path / "nope"))
    with pytest.raises(ChaseError, match="could not be loaded"):
        load_causal_lm("nobody/no-such-model-xyz")


def test_jsonl_lines_split_on_newline_only(tmp_path):
    import json

    from chasing_random.store import jsonl_lines

    path = tmp_path / "rows.jsonl"
    rows = [{"input": "a\u2028b", "target": "c\x85d"}, {"input": "e", "target": "f"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "\n", encoding="utf-8")
    assert [(n, json.loads(line)) for n, line in jsonl_lines(path)] == [(1, rows[0]), (2, rows[1])]
