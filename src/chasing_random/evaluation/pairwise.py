"""Pairwise win rate of a candidate's outputs against reference models' outputs, judged by an LLM.

The study's protocol: for each prompt the reference answer is drawn (seeded) from one of the
reference files (normally the random-seed models of the same pool and budget; one file is a plain
head-to-head). The judge sees the two answers in a seeded random order (or both orders) and names
the better one with one token. ``weighted`` reads the preference from the probabilities of that
token (AlpacaEval 2's protocol); ``discrete`` parses generated text, for judges without logprobs.
Annotations use AlpacaEval's layout: ``output_1`` = reference, ``output_2`` = candidate,
preference in [1, 2] (2 = the candidate is better).
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chasing_random.errors import ChaseError
from chasing_random.evaluation.outputs import (
    ModelOutput,
    describe_prompt_difference,
    read_outputs,
)
from chasing_random.evaluation.winrate import winrate_metrics
from chasing_random.judges.base import Judge, JudgeReply
from chasing_random.resume import ResumeLog
from chasing_random.store import (
    file_fingerprint,
    fingerprint,
    read_manifest,
    write_json_atomic,
    write_manifest,
)
from chasing_random.ui import console

PROTOCOLS = ("weighted", "discrete")
LABELS = ("A", "B")
PROMPT_VERSION = "1"

JUDGE_SYSTEM = (
    "You are an impartial reviewer of AI assistants. You read one user instruction and two candidate "
    "answers to it, and you decide which answer a careful human expert would rather receive: the one "
    "that is more helpful, correct, relevant and clear. The order in which the answers are shown "
    "means nothing, and a longer answer is not better for being longer."
)
JUDGE_USER = (
    "Two assistants answered the same instruction.\n\n"
    "### Instruction\n{instruction}\n\n"
    "### Answer A\n{answer_a}\n\n"
    "### Answer B\n{answer_b}\n\n"
    "Which answer is better? Reply with one character only: A if Answer A is better, "
    "B if Answer B is better."
)
DISCRETE_ANSWER = re.compile(r"(?<![A-Za-z])([AB])(?![A-Za-z])")


@dataclass(frozen=True)
class Pair:
    """One comparison: a prompt, the candidate's answer and the reference answer drawn for it."""

    index: int
    instruction: str
    candidate: ModelOutput
    reference: ModelOutput
    reference_file: int
    candidate_first: bool


def _prompt_rng(seed: int, instruction: str) -> random.Random:
    """A generator seeded by (seed, prompt text): draws do not depend on the order of the file."""
    return random.Random(fingerprint("pairwise", seed, instruction))


def build_pairs(candidate: list[ModelOutput], references: list[list[ModelOutput]], reference_paths: list[str],
                seed: int) -> list[Pair]:
    """Match every candidate prompt to one reference answer (seeded draw among the files) and a shown order.
    Reference files whose prompt set differs from the candidate's are an error listing the difference."""
    prompts = [o.instruction for o in candidate]
    wanted = set(prompts)
    tables = []
    for path, outputs in zip(reference_paths, references):
        table = {o.instruction: o for o in outputs}
        missing = [p for p in prompts if p not in table]
        extra = [o.instruction for o in outputs if o.instruction not in wanted]
        if missing or extra:
            raise ChaseError(f"reference {path}: its prompts differ from the candidate's "
                             f"({describe_prompt_difference(missing, extra)}); every reference file must answer "
                             f"exactly the candidate's {len(prompts)} prompts")
        tables.append(table)
    pairs = []
    for index, output in enumerate(candidate):
        rng = _prompt_rng(seed, output.instruction)
        chosen = rng.randrange(len(tables))
        pairs.append(Pair(index, output.instruction, output, tables[chosen][output.instruction], chosen,
                          candidate_first=rng.random() < 0.5))
    return pairs


def judge_conversation(instruction: str, answer_a: str, answer_b: str, max_output_chars: int | None) -> list[dict]:
    """The judge's chat: our system message and the instruction with the two answers labelled A and B."""
    def cut(text: str) -> str:
        return text if max_output_chars is None or len(text) <= max_output_chars else text[:max_output_chars] + " [...]"

    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_USER.format(instruction=instruction, answer_a=cut(answer_a),
                                                          answer_b=cut(answer_b))}]


def parse_discrete(text: str | None) -> str | None:
    """The label (A or B) a free-text verdict names, or None when it names neither or both."""
    found = set(DISCRETE_ANSWER.findall(text or ""))
    return found.pop() if len(found) == 1 else None


def shown_preference(reply: JudgeReply, protocol: str) -> tuple[float | None, str | None]:
    """Preference in the shown order (1 = answer A better, 2 = answer B better), or a failure reason."""
    if not reply.ok:
        return None, reply.failure
    if protocol == "weighted":
        probs = reply.choice_probs or {}
        if set(probs) != set(LABELS):
            return None, f"judge returned no probabilities for {LABELS}: {probs}"
        return 1.0 + probs["B"], None
    label = parse_discrete(reply.text)
    if label is None:
        return None, f"verdict names neither or both of A/B: {json.dumps(reply.text)[:200]}"
    return (1.0 if label == "A" else 2.0), None


def _ask(judge: Judge, conversations: list[list[dict]], protocol: str) -> list[JudgeReply]:
    if protocol == "weighted":
        return judge.choose(conversations, list(LABELS))
    return judge.complete(conversations, max_tokens=8, temperature=0)


def judge_pairs(pairs: list[Pair], judge: Judge, protocol: str, both_orders: bool,
                max_output_chars: int | None) -> list[dict]:
    """AlpacaEval-layout annotations of a list of pairs (one batched judge call per shown order)."""
    jobs = []  # (pair position, candidate shown first?)
    for position, pair in enumerate(pairs):
        for first in ((True, False) if both_orders else (pair.candidate_first,)):
            jobs.append((position, first))
    conversations = []
    for position, first in jobs:
        pair = pairs[position]
        a, b = ((pair.candidate.output, pair.reference.output) if first
                else (pair.reference.output, pair.candidate.output))
        conversations.append(judge_conversation(pair.instruction, a, b, max_output_chars))
    replies = _ask(judge, conversations, protocol)
    per_pair: dict[int, list[tuple[bool, JudgeReply]]] = {}
    for (position, first), reply in zip(jobs, replies):
        per_pair.setdefault(position, []).append((first, reply))
    annotations = []
    for position, pair in enumerate(pairs):
        preferences, failures, verdicts = [], [], []
        for first, reply in per_pair[position]:
            shown, failure = shown_preference(reply, protocol)
            # Shown preference counts toward B; map it back to "candidate (output_2) is better".
            canonical = None if shown is None else (3.0 - shown if first else shown)
            preferences.append(canonical)
            if failure:
                failures.append(failure)
            verdict = {"candidate_shown": "A" if first else "B", "choice_probs": reply.choice_probs,
                       "text": reply.text, "failure": failure, "cached": reply.cached,
                       "price": reply.price, "seconds": reply.seconds}
            if judge.is_api:  # what the call was billed, for the run's cost rows
                verdict.update(input_tokens=reply.prompt_tokens, output_tokens=reply.completion_tokens)
            verdicts.append(verdict)
        preference = None if failures else sum(preferences) / len(preferences)
        annotations.append({
            "instruction": pair.instruction,
            "output_1": pair.reference.output, "generator_1": pair.reference.generator,
            "output_2": pair.candidate.output, "generator_2": pair.candidate.generator,
            "dataset": pair.candidate.dataset,
            "annotator": judge.name, "protocol": protocol,
            "preference": preference,
            "price_per_example": sum(v["price"] for v in verdicts),
            "time_per_example": sum(v["seconds"] for v in verdicts),
            "reference_file": pair.reference_file,
            "failure": "; ".join(failures) or None,
            "raw_completion": verdicts,
        })
    return annotations


def api_tokens(annotations: list[dict], judge: Judge) -> dict[str, dict[str, int]]:
    """Input and output tokens billed for the annotations' verdicts, under the API judge's model."""
    if not judge.is_api:
        return {}
    verdicts = [v for a in annotations for v in a.get("raw_completion") or []]
    spent = {"input": sum(v.get("input_tokens", 0) for v in verdicts),
             "output": sum(v.get("output_tokens", 0) for v in verdicts)}
    return {judge.model: spent} if any(spent.values()) else {}


def run_pairwise(candidate_path: str | Path, reference_paths: list[str | Path], judge: Judge | str,
                 out_dir: str | Path, seed: int = 0, both_orders: bool = False, protocol: str = "weighted", *,
                 max_output_chars: int | None = None, chunk_size: int = 64) -> dict[str, Any]:
    """Judge the candidate against the references; writes ``annotations.json``, ``METRICS.json`` and a
    manifest in ``out_dir`` and returns the metrics. Finished chunks are kept in
    ``annotations.partial.jsonl`` so an interrupted run resumes where it stopped."""
    if protocol not in PROTOCOLS:
        raise ChaseError(f"unknown protocol '{protocol}'; valid: {', '.join(PROTOCOLS)}")
    if not reference_paths:
        raise ChaseError("at least one reference outputs file is needed")
    if isinstance(judge, str):
        from chasing_random.judges.factory import make_judge

        judge = make_judge(judge, cache_dir=str(Path(out_dir) / "judge_cache"))
    started = time.time()
    out_dir = Path(out_dir)
    candidate = read_outputs(candidate_path)
    references = [read_outputs(p) for p in reference_paths]
    pairs = build_pairs(candidate, references, [str(p) for p in reference_paths], seed)
    inputs = {"candidate": str(candidate_path), "candidate_sha": file_fingerprint(candidate_path),
              "references": [str(p) for p in reference_paths],
              "references_sha": [file_fingerprint(p) for p in reference_paths]}
    config = {"judge": judge.describe(), "protocol": protocol, "seed": seed, "both_orders": both_orders,
              "max_output_chars": max_output_chars, "prompt_version": PROMPT_VERSION}
    run_key = fingerprint(inputs["candidate_sha"], inputs["references_sha"], config)
    annotations_path, metrics_path = out_dir / "annotations.json", out_dir / "METRICS.json"
    manifest = read_manifest(annotations_path)
    if manifest and manifest.get("run_key") == run_key and metrics_path.exists():
        console.print(f"pairwise: {annotations_path} is already complete for this configuration")
        return json.loads(metrics_path.read_text(encoding="utf-8"))
    log = ResumeLog(out_dir / "annotations.partial.jsonl", run_key, "index")
    remaining = [p for p in pairs if p.index not in log.done]
    if log.done:
        console.print(f"pairwise: resuming, {len(log.done)} of {len(pairs)} prompts already judged")
    for start in range(0, len(remaining), chunk_size):
        chunk = remaining[start:start + chunk_size]
        log.append([{"index": pair.index, "annotation": annotation} for pair, annotation
                    in zip(chunk, judge_pairs(chunk, judge, protocol, both_orders, max_output_chars))])
    annotations = [log.done[p.index]["annotation"] for p in pairs]
    metrics = pairwise_metrics(annotations, reference_paths)
    metrics.update({"judge": judge.name, "protocol": protocol, "seed": seed, "both_orders": both_orders})
    if judge.is_api:
        metrics["api_tokens"] = api_tokens(annotations, judge)
    write_json_atomic(annotations_path, annotations)
    write_json_atomic(metrics_path, metrics)
    write_manifest(annotations_path, kind="pairwise", inputs=inputs, config=config, started=started,
                   extra={"run_key": run_key, "n_judge_failures": metrics["n_judge_failures"]})
    log.close()
    return metrics


def pairwise_metrics(annotations: list[dict], reference_paths: list[str | Path]) -> dict[str, Any]:
    """Win-rate metrics overall and against each reference file, plus the judge failure count."""
    metrics = winrate_metrics(annotations)
    metrics["n_judge_failures"] = sum(1 for a in annotations if a.get("failure"))
    metrics["per_reference"] = {}
    for index, path in enumerate(reference_paths):
        subset = [a for a in annotations if a.get("reference_file") == index]
        if subset:
            sub = winrate_metrics(subset)
            metrics["per_reference"][str(path)] = {k: sub[k] for k in ("win_rate", "standard_error", "n_total",
                                                                       "n_wins", "n_wins_base", "n_draws")}
    metrics["price"] = sum(a.get("price_per_example") or 0 for a in annotations)
    return metrics
