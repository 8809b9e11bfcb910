"""``generate_outputs``: a model answers a benchmark's prompts, written in AlpacaEval's layout, resumably.

The prompt template is the one the model was trained with (``template`` in its manifest); a model
without a manifest gets ``chat`` when its tokenizer has a chat template, else ``paper``.
"""

from __future__ import annotations

import time
from pathlib import Path

from chasing_random.data.templates import get_template
from chasing_random.errors import ChaseError
from chasing_random.generation.benchmarks import load_benchmark
from chasing_random.generation.decoding import resolve_decoding
from chasing_random.generation.outputs import ResumableOutputs
from chasing_random.models.precision import resolve_precision
from chasing_random.store import fingerprint, read_manifest, write_manifest
from chasing_random.ui import console, progress_bar

BACKENDS = ("hf", "vllm")
CPU_BATCH_SIZE = 16
GPU_BATCH_SIZE = 64
EXTRA_FIELDS = ("key", "instruction_id_list", "kwargs", "question_id", "category")


def model_template(model_path: str, tokenizer, template: str | None) -> str:
    """The template name: explicit, else the model manifest's, else chat (if the tokenizer has one) or paper."""
    if template is not None:
        return get_template(template).name
    manifest = read_manifest(model_path) if Path(model_path).is_dir() else None
    if manifest and manifest.get("template"):
        return manifest["template"]
    return "chat" if getattr(tokenizer, "chat_template", None) else "paper"


def _model_identity(model_path: str) -> str:
    """What identifies a model's weights in a run key: its training key, else its path."""
    manifest = read_manifest(model_path) if Path(model_path).is_dir() else None
    return (manifest or {}).get("train_key") or str(Path(model_path).resolve() if Path(model_path).exists() else model_path)


def generate_outputs(model: str, benchmark: str, out, *, subset=None, limit=None, seed=0, template=None,
                     max_new_tokens=None, temperature=None, top_p=None, sampling=None, batch_size=None,
                     backend="hf", trust_remote_code: bool = False) -> list[dict]:
    """Answer ``benchmark``'s prompts with ``model``; write ``out`` (a model_outputs.json list) and return it."""
    started = time.time()
    if backend not in BACKENDS:
        raise ChaseError(f"unknown backend '{backend}'; valid: {', '.join(BACKENDS)}")
    import torch

    from chasing_random.models.loading import load_tokenizer, resolve_model

    prompts = load_benchmark(benchmark, subset=subset, limit=limit, seed=seed)
    path = resolve_model(model)
    tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code)
    template_name = model_template(path, tokenizer, template)
    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    decoding = resolve_decoding(device_type=device_type if backend == "hf" else "cuda", max_new_tokens=max_new_tokens,
                                temperature=temperature, top_p=top_p, sampling=sampling, seed=seed)
    precision = resolve_precision("auto", device_type)  # bf16 on GPUs and CPUs with native bf16, else fp32
    batch_size = batch_size or (CPU_BATCH_SIZE if device_type == "cpu" else GPU_BATCH_SIZE)
    if batch_size < 1:
        raise ChaseError(f"--batch-size must be at least 1, got {batch_size}")
    generator = Path(model).name if Path(model).exists() else model
    out = Path(out)
    run_key = fingerprint("generate", _model_identity(path), benchmark, subset, template_name, decoding.as_dict(),
                          backend, *([precision.dtype] if backend == "hf" and precision.dtype != "float32" else []))
    outputs = ResumableOutputs(out, run_key)
    previous = read_manifest(out) if out.exists() else None
    if previous and previous.get("run_key") == run_key:
        import json

        for record in json.loads(out.read_text(encoding="utf-8")):
            outputs.done.setdefault(record["benchmark_index"], record)
    todo = [p for p in prompts if p["benchmark_index"] not in outputs.done]
    if len(todo) < len(prompts):
        console.print(f"resuming: {len(prompts) - len(todo)} of {len(prompts)} prompts already answered")

    tmpl = get_template(template_name)
    texts = [tmpl.prompt(p["instruction"], tokenizer) for p in todo]
    new_tokens = 0
    gen_started = time.time()
    if todo:
        with progress_bar(f"generating {benchmark}", len(todo)) as advance:
            def on_batch(indices: list[int], answers: list[str], counts: list[int]) -> None:
                nonlocal new_tokens
                records = []
                for i, answer, count in zip(indices, answers, counts):
                    prompt = todo[i]
                    records.append({"instruction": prompt["instruction"], "output": answer, "generator": generator,
                                    "dataset": prompt["dataset"], "benchmark_index": prompt["benchmark_index"],
                                    **{f: prompt[f] for f in EXTRA_FIELDS if f in prompt},
                                    "n_new_tokens": count})
                outputs.append(records)
                new_tokens += sum(counts)
                advance(len(indices))

            if backend == "hf":
                from chasing_random.generation.hf import generate_hf
                from chasing_random.models.loading import load_causal_lm

                lm, _ = load_causal_lm(model, trust_remote_code=trust_remote_code, device=device_type,
                                       dtype=precision.dtype)
                generate_hf(lm, tokenizer, texts, decoding, batch_size=batch_size, on_batch=on_batch)
            else:
                from chasing_random.generation.vllm_backend import generate_vllm

                generate_vllm(path, texts, decoding, on_batch=on_batch, trust_remote_code=trust_remote_code)
    gen_seconds = time.time() - gen_started
    records = outputs.finalize([p["benchmark_index"] for p in prompts])
    write_manifest(out, kind="generations",
                   inputs={"model": model, "benchmark": benchmark},
                   config={"subset": subset, "limit": limit, "seed": seed, "template": template_name,
                           "decoding": decoding.as_dict(), "batch_size": batch_size, "backend": backend},
                   started=started,
                   extra={"run_key": run_key, "n_prompts": len(records), "n_generated_now": len(todo),
                          "new_tokens_now": new_tokens, "tokens_per_s": new_tokens / max(gen_seconds, 1e-9),
                          "device_type": device_type, "generator": generator,
                          "precision": precision.as_dict() if backend == "hf" else None})
    return records
