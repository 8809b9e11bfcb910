"""``generate_outputs``: a model answers a benchmark's prompts, written in AlpacaEval's layout, resumably,
in shards (``generation.shards``) that run in this process or on Ray workers.

The prompt template is the one the model was trained with (``template`` in its manifest); a model
without a manifest gets ``chat`` when its tokenizer has a chat template, else ``paper``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


from chasing_random.data.templates import get_template, model_template
from chasing_random.errors import ChaseError
from chasing_random.generation.benchmarks import load_benchmark
from chasing_random.generation.decoding import resolve_decoding
from chasing_random.generation.outputs import OutputShards
from chasing_random.generation.shards import DEFAULT_SHARD_PROMPTS, ShardGenerator, generation_layout, layout_name
from chasing_random.models.precision import resolve_precision
from chasing_random.sharding import current_executor, run_shards
from chasing_random.store import fingerprint, read_manifest, write_json_atomic, write_manifest
from chasing_random.ui import console

BACKENDS = ("hf", "vllm")
CPU_BATCH_SIZE = 16
GPU_BATCH_SIZE = 64
EXTRA_FIELDS = ("key", "instruction_id_list", "kwargs", "question_id", "category")


def _model_identity(model_path: str) -> str:
    """What identifies a model's weights in a run key: its training key, else its path."""
    manifest = read_manifest(model_path) if Path(model_path).is_dir() else None
    return (manifest or {}).get("train_key") or str(Path(model_path).resolve() if Path(model_path).exists() else model_path)


def generate_outputs(model: str, benchmark: str, out, *, subset=None, limit=None, seed=0, template=None,
                     max_new_tokens=None, temperature=None, top_p=None, sampling=None, batch_size=None,
                     backend="hf", trust_remote_code: bool = False,
                     shard_prompts: int = DEFAULT_SHARD_PROMPTS) -> list[dict]:
    """Answer ``benchmark``'s prompts with ``model``; write ``out`` (a model_outputs.json list) and return it.

    The prompts are cut into shards of about ``shard_prompts`` (whole batches) that run on the current
    shard executor (in this process, or Ray workers under ``chase run --executor ray``).
    """
    started = time.time()
    if backend not in BACKENDS:
        raise ChaseError(f"unknown backend '{backend}'; valid: {', '.join(BACKENDS)}")
    if shard_prompts < 1:
        raise ChaseError(f"the generation shard size must be at least 1 prompt, got {shard_prompts}")
    import torch

    from chasing_random.models.loading import LazyCausalLM, load_tokenizer, resolve_model

    prompts = load_benchmark(benchmark, subset=subset, limit=limit, seed=seed)
    path = resolve_model(model)
    tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code)
    template_name = model_template(path, tokenizer, template)
    # the shards' device: a Ray executor's workers', else this process's
    device_type = current_executor().device("generation") or ("cuda" if torch.cuda.is_available() else "cpu")
    decoding = resolve_decoding(device_type=device_type, max_new_tokens=max_new_tokens,
                                temperature=temperature, top_p=top_p, sampling=sampling, seed=seed)
    precision = resolve_precision("auto", device_type)  # bf16 on GPUs and CPUs with native bf16, else fp32
    batch_size = batch_size or (CPU_BATCH_SIZE if device_type == "cpu" else GPU_BATCH_SIZE)
    if batch_size < 1:
        raise ChaseError(f"--batch-size must be at least 1, got {batch_size}")
    generator = Path(model).name if Path(model).exists() else model
    out = Path(out)
    run_key = fingerprint("generate", _model_identity(path), benchmark, subset, template_name, decoding.as_dict(),
                          backend, *([precision.dtype] if backend == "hf" and precision.dtype != "float32" else []))

    tmpl = get_template(template_name)
    texts = [tmpl.prompt(p["instruction"], tokenizer) for p in prompts]
    indices = [p["benchmark_index"] for p in prompts]
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    layout = generation_layout(lengths, batch_size, shard_prompts, decoding.max_new_tokens)
    shards = OutputShards(out, run_key, layout_name(indices, lengths, batch_size, shard_prompts))
    _keep_previous_answers(out, run_key, shards, layout, indices)
    before = {i: r for n in range(len(layout)) for i, r in shards.answered(n).items()}
    if before:
        console.print(f"resuming: {len(before)} of {len(prompts)} prompts already answered")
    lm = LazyCausalLM(path, dtype=precision.dtype, device=device_type, trust_remote_code=trust_remote_code)
    compute = ShardGenerator(texts, indices, {int(rows[0]): n for n, rows in enumerate(layout)}, shards, decoding,
                             batch_size, backend, lm if backend == "hf" else path, trust_remote_code)
    gen_started = time.time()
    run_shards(layout, [shards.shard_path(n) for n in range(len(layout))], compute,
               label=str(shards.root), work="generation", description=f"generating {benchmark}")
    gen_seconds = time.time() - gen_started
    answers = {i: r for n in range(len(layout)) for i, r in shards.answered(n).items()}
    records = [{"instruction": p["instruction"], "output": answers[p["benchmark_index"]]["output"],
                "generator": generator, "dataset": p["dataset"], "benchmark_index": p["benchmark_index"],
                **{f: p[f] for f in EXTRA_FIELDS if f in p},
                "n_new_tokens": answers[p["benchmark_index"]]["n_new_tokens"]} for p in prompts]
    write_json_atomic(out, records)
    shards.close()
    new_tokens = sum(row["n_new_tokens"] for index, row in answers.items() if index not in before)
    write_manifest(out, kind="generations",
                   inputs={"model": model, "benchmark": benchmark},
                   config={"subset": subset, "limit": limit, "seed": seed, "template": template_name,
                           "decoding": decoding.as_dict(), "batch_size": batch_size, "backend": backend},
                   started=started,
                   extra={"run_key": run_key, "n_prompts": len(records), "n_generated_now": len(prompts) - len(before),
                          "new_tokens_now": new_tokens, "tokens_per_s": new_tokens / max(gen_seconds, 1e-9),
                          "shards": len(layout), "shard_prompts": shard_prompts,
                          "device_type": device_type, "generator": generator,
                          "precision": precision.as_dict() if backend == "hf" else None})
    return records


def _keep_previous_answers(out: Path, run_key: str, shards: OutputShards, layout, indices: list[int]) -> None:
    """A finished output of the same run key (another ``--limit`` of the same benchmark, say): its
    answers go into the sidecars of the unfinished shards, so they are not generated again."""
    previous = read_manifest(out) if out.exists() else None
    if not previous or previous.get("run_key") != run_key:
        return
    known = {r["benchmark_index"]: r for r in json.loads(out.read_text(encoding="utf-8"))}
    for number, positions in enumerate(layout):
        if shards.shard_path(number).exists():
            continue
        log = shards.sidecar(number)
        new = [{"benchmark_index": indices[p], "output": known[indices[p]]["output"],
                "n_new_tokens": known[indices[p]]["n_new_tokens"]}
               for p in positions if indices[p] in known and indices[p] not in log.done]
        if new:
            log.append(new)
