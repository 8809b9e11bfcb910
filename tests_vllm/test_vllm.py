"""vLLM exercised on this CPU, against the HF engines and through the project's ``openai:`` judge.

Runs in the main environment; vLLM itself runs in ``.venv-vllm`` (``make test-vllm`` builds it): the
offline engine in a worker script (model loaded once for the module), ``vllm serve`` as a real server
on 127.0.0.1. Not collected by ``make test`` (slow: two model loads of ~40 s on a quiet machine).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = Path(os.environ.get("CHASE_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
WORKER = Path(__file__).with_name("vllm_worker.py")
# VLLM_CPU_KVCACHE_SPACE is the KV cache in GiB; the default would take more memory than a test needs
ENGINE_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": str(ROOT / "src"), "TOKENIZERS_PARALLELISM": "false"}
MAX_MODEL_LEN = 512
MAX_NEW_TOKENS = 48
SHARD_PROMPTS = 2  # the worker's generation runs in 3 shards (of one batch each) on one engine
MAX_LENGTH = 128  # loss sequences; the last row is cut to it
LOSS_TOLERANCE = 2e-3  # nats: |vLLM - HF| of a row's mean response loss, both in float32
NEAR_TIE = 0.05  # nats: a greedy divergence counts as explained when HF's top two tokens are this close
API_KEY_ENV = "CHASE_VLLM_TEST_KEY"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not VLLM_PYTHON.exists(), reason=f"no vLLM environment at {VLLM_PYTHON} (`make test-vllm` builds it)")]

INSTRUCTIONS = [
    "What is the capital of France?",
    "Give three tips for staying healthy.",
    "Write a haiku about the sea.",
    "Explain what a prime number is in one sentence.",
    "Translate 'good morning' into Spanish.",
    "List the planets of the solar system.",
]
ROWS = [
    ("Name a primary color.", "Red is a primary color."),
    ("What is 2 + 2?", "2 + 2 = 4."),
    ("Summarize: The cat sat on the mat all day.", "A cat spent the day on a mat."),
    ("Give a synonym for happy.", "Joyful."),
    ("Describe the water cycle briefly.",
     "Water evaporates, condenses into clouds, falls as precipitation and collects in rivers and oceans."),
    ("Write a sentence about autumn.", "In autumn the leaves turn gold and fall from the trees."),
    ("Why is the sky blue?", "Sunlight is scattered by the air, and blue light is scattered the most."),
    ("Tell a long story about a robot.", " ".join(f"The robot walked to place number {i}." for i in range(40))),
]


@pytest.fixture(scope="module")
def smollm2():
    """The cached SmolLM2 folder and its HF model and tokenizer (float32, CPU)."""
    from chasing_random.models.loading import load_causal_lm, smollm2_folder

    folder = smollm2_folder()
    model, tokenizer = load_causal_lm(str(folder), dtype="float32")
    return folder, model, tokenizer


@pytest.fixture(scope="module")
def prompts(smollm2):
    from chasing_random.data.templates import get_template

    return [get_template("chat").prompt(text, smollm2[2]) for text in INSTRUCTIONS]


@pytest.fixture(scope="module")
def vllm_result(smollm2, tmp_path_factory):
    """Greedy answers (``generate_outputs(backend="vllm")``, in shards) and IFD losses from one vLLM
    engine in .venv-vllm."""
    folder = tmp_path_factory.mktemp("vllm")
    request = {"model": str(smollm2[0]), "max_new_tokens": MAX_NEW_TOKENS, "shard_prompts": SHARD_PROMPTS,
               "instructions": INSTRUCTIONS, "inputs": [r[0] for r in ROWS], "targets": [r[1] for r in ROWS],
               "template": "chat", "max_length": MAX_LENGTH}
    (folder / "request.json").write_text(json.dumps(request))
    started = time.perf_counter()
    done = subprocess.run([str(VLLM_PYTHON), str(WORKER), "request.json", "result.json"], cwd=folder,
                          env={**os.environ, **ENGINE_ENV}, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((folder / "result.json").read_text())
    print(f"\nvLLM worker: {time.perf_counter() - started:.0f} s in all; LLM load {result['load_s']:.1f} s, "
          f"greedy generation {result['generate_s']:.1f} s, prompt_logprobs scoring {result['score_s']:.1f} s")
    return result


def test_vllm_greedy_generation_matches_hf(smollm2, prompts, vllm_result):
    """Same greedy answers as the HF backend, or the first differing token is a near-tie under HF."""
    import torch

    from chasing_random.generation.decoding import Decoding
    from chasing_random.generation.hf import generate_hf

    assert vllm_result["shards"] == -(-len(INSTRUCTIONS) // SHARD_PROMPTS)  # one engine answered every shard
    _, model, tokenizer = smollm2
    hf: dict[int, tuple[str, int]] = {}
    generate_hf(model, tokenizer, prompts, Decoding(max_new_tokens=MAX_NEW_TOKENS), batch_size=8,
                on_batch=lambda idx, texts, counts: hf.update(zip(idx, zip(texts, counts))))
    identical, explained = 0, []
    for i, prompt in enumerate(prompts):
        hf_text, vllm_text = hf[i][0], vllm_result["texts"][i]
        if hf_text == vllm_text:
            identical += 1
            assert hf[i][1] == vllm_result["counts"][i]  # same token count, EOS included when reached
            continue
        hf_ids = tokenizer(hf_text, add_special_tokens=False)["input_ids"]
        vllm_ids = tokenizer(vllm_text, add_special_tokens=False)["input_ids"]
        at = next(k for k in range(min(len(hf_ids), len(vllm_ids)) + 1)
                  if k == min(len(hf_ids), len(vllm_ids)) or hf_ids[k] != vllm_ids[k])
        context = tokenizer(prompt)["input_ids"] + hf_ids[:at]
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(torch.tensor([context])).logits[0, -1].float(), -1)
        ending = tokenizer.eos_token_id
        pick = lambda ids: ids[at] if at < len(ids) else ending  # noqa: E731
        gap = float(logprobs[pick(hf_ids)] - logprobs[pick(vllm_ids)])
        explained.append((i, at, gap))
        assert abs(gap) < NEAR_TIE, f"prompt {i}: answers part at token {at}, HF prefers its token by {gap:.3f} nats"
    print(f"\ngreedy agreement: {identical}/{len(prompts)} answers identical ({MAX_NEW_TOKENS} new tokens max); "
          f"differences (prompt, token, HF log-prob gap): {explained}")
    assert identical >= len(prompts) // 2


def test_vllm_prompt_logprobs_losses_match_the_hf_loss_engine(smollm2, vllm_result):
    """IFD losses from vLLM's prompt_logprobs equal the HF loss engine's within LOSS_TOLERANCE."""
    from chasing_random.scoring.losses import build_sequences, sequence_losses

    _, model, tokenizer = smollm2
    cond, direct, kept, truncated = build_sequences([r[0] for r in ROWS], [r[1] for r in ROWS], tokenizer, "chat",
                                                    MAX_LENGTH)
    losses = sequence_losses(model, cond + direct, batch_size=8, pad_id=tokenizer.pad_token_id)
    hf_cond, hf_direct = losses[:len(ROWS)], losses[len(ROWS):]
    # the join: both environments built the same sequences (same kept response tokens, same truncation)
    assert vllm_result["n_response_tokens"] == [float(k) for k in kept]
    assert vllm_result["truncated"] == [float(t) for t in truncated] and truncated[-1] and not truncated[0]
    cond_gap = np.abs(np.array(vllm_result["loss_cond"]) - hf_cond)
    direct_gap = np.abs(np.array(vllm_result["loss_direct"]) - hf_direct)
    ifd_gap = np.abs(np.array(vllm_result["loss_cond"]) / np.array(vllm_result["loss_direct"]) - hf_cond / hf_direct)
    print(f"\nIFD losses, vLLM prompt_logprobs vs HF loss engine over {len(ROWS)} rows: max |diff| loss_cond "
          f"{cond_gap.max():.2e}, loss_direct {direct_gap.max():.2e} nats, cherry IFD {ifd_gap.max():.2e}")
    assert cond_gap.max() < LOSS_TOLERANCE and direct_gap.max() < LOSS_TOLERANCE
    assert list(np.argsort(hf_cond / hf_direct)) == list(np.argsort(np.array(vllm_result["loss_cond"])
                                                                    / np.array(vllm_result["loss_direct"])))


@pytest.fixture(scope="module")
def vllm_server(smollm2, tmp_path_factory):
    """vLLM's OpenAI-compatible server with SmolLM2 on 127.0.0.1; yields its base URL and stops it afterwards."""
    folder = tmp_path_factory.mktemp("serve")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(folder / "serve.log", "w")
    # `vllm serve` itself: vllm-cpu 0.32's `vllm` script looks up the version of a distribution named
    # "vllm" and fails (this one is "vllm-cpu"), so the same server is started through its module
    command = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(smollm2[0]),
               "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", str(MAX_MODEL_LEN),
               "--enforce-eager", "--served-model-name", "smollm2"]
    started = time.perf_counter()
    server = subprocess.Popen(command, env={**os.environ, **ENGINE_ENV}, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        while True:
            if server.poll() is not None:
                pytest.fail(f"vllm serve exited with {server.returncode}:\n{(folder / 'serve.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.perf_counter() - started < 900, "vllm serve did not answer within 900 s"
            time.sleep(2)
        print(f"\nvllm serve ready after {time.perf_counter() - started:.0f} s", file=sys.stderr)
        yield base_url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def served_judge(base_url, cache_dir):
    from chasing_random.judges.factory import make_judge

    return make_judge("openai:smollm2", base_url=base_url, api_key_env=API_KEY_ENV, cache_dir=str(cache_dir),
                      timeout=300.0, max_retries=1, max_concurrency=2)


def test_alpagasus_ratings_through_vllm_serve(vllm_server, tmp_path, monkeypatch):
    """AlpaGasus ratings from the served model's first-token log-probabilities, end to end through select."""
    from chasing_random.data.pool import build_pool, read_pool
    from chasing_random.scoring.ratings import ALPAGASUS_CHOICES, alpagasus_conversation
    from chasing_random.selection.base import SelectOptions, select
    from chasing_random.store import ArtifactStore

    monkeypatch.setenv(API_KEY_ENV, "none")
    (tmp_path / "rows.json").write_text(json.dumps([{"instruction": q, "output": a} for q, a in ROWS[:4]]))
    build_pool("alpaca", str(tmp_path / "rows.json"), tmp_path / "rated.parquet")
    store = ArtifactStore(tmp_path / "store")
    # threshold 0 keeps every rated row: SmolLM2 rates below the study's 4.5
    options = SelectOptions(judge="openai:smollm2", rating_mode="forward", threshold=0.0, max_failure_rate=0.0, judge_options=[
        f"base_url={vllm_server}", f"api_key_env={API_KEY_ENV}", "timeout=300", "max_retries=1", "max_concurrency=2"])
    manifest = select(tmp_path / "rated.parquet", "alpagasus", [2], tmp_path / "sel", options, store=store)[0]
    assert manifest["info"]["scored"] == 4 and manifest["info"]["failed"] == 0
    assert manifest["ranked"] == 4 and manifest["reconciles"]
    tokens = manifest["cost"]["api_tokens"]["smollm2"]  # the server's usage counts, one answer token per row
    assert tokens["input"] > 0 and tokens["output"] == 4
    ranking = [json.loads(line) for line in (tmp_path / "sel" / "rated_alpagasus.ranking.jsonl").read_text().splitlines()]
    assert all(0.0 <= row["score"] <= 5.0 for row in ranking)
    # the scores come from log-probabilities over the six answers, not from parsed text
    judge = served_judge(vllm_server, tmp_path / "cache")
    replies = judge.choose([alpagasus_conversation("study", row) for _, row in read_pool(tmp_path / "rated.parquet").iterrows()],
                           ALPAGASUS_CHOICES)
    assert all(r.ok and not r.extra.get("from_text") and r.extra["choice_mass"] > 0 for r in replies)
    assert all(abs(sum(r.choice_probs.values()) - 1) < 1e-9 for r in replies)
    print(f"\nAlpaGasus through vllm serve: scores {[round(row['score'], 3) for row in ranking]}; probability mass on "
          f"'0'..'5' among the top-20 first tokens {[round(r.extra['choice_mass'], 3) for r in replies]}")


def test_pairwise_comparison_through_vllm_serve(vllm_server, tmp_path, monkeypatch):
    """A weighted pairwise comparison judged by the served model, preferences from log-probabilities."""
    from chasing_random.evaluation.pairwise import run_pairwise

    monkeypatch.setenv(API_KEY_ENV, "none")
    questions = INSTRUCTIONS[:3]
    answers = {"candidate": ["Paris.", "Sleep well, eat vegetables and exercise.", "Waves roll in / salt wind over "
                             "the grey sea / gulls cry at the shore"],
               "reference": ["I do not know.", "Eat cake.", "The sea."]}
    paths = []
    for generator, outputs in answers.items():
        path = tmp_path / f"{generator}.json"
        path.write_text(json.dumps([{"instruction": q, "output": a, "generator": generator, "dataset": "test"}
                                    for q, a in zip(questions, outputs)]))
        paths.append(path)
    metrics = run_pairwise(paths[0], [paths[1]], served_judge(vllm_server, tmp_path / "cache"), tmp_path / "out",
                           protocol="weighted")
    assert metrics["n_total"] == 3 and metrics["n_judge_failures"] == 0
    annotations = json.loads((tmp_path / "out" / "annotations.json").read_text())
    preferences = [a["preference"] for a in annotations]
    assert all(1.0 <= p <= 2.0 for p in preferences) and any(1.0 < p < 2.0 for p in preferences)
    print(f"\npairwise through vllm serve: win rate {metrics['win_rate']:.1f}, preferences {preferences}")
