"""InFoBench (Qin et al. 2024; ``kqsong/InFoBench``): 500 instructions, each decomposed into yes/no
requirement questions that a judge answers about a model's output.

Metric: DRFR (Decomposed Requirements Following Ratio) = the share of answered requirement questions
the judge answers Yes, plus the per-instruction all-requirements rate (instructions whose every
question got Yes, among those whose every question was answered). A judge call that fails or a reply
that says neither Yes nor No is a recorded failure, never a No; the metrics say how many questions and
instructions they cover. Each question is asked on its own (InFoBench's script asks them one after
another in a growing conversation), so questions batch and cache independently.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chasing_random.errors import ChaseError
from chasing_random.evaluation.datafiles import hub_file, read_items, text_field
from chasing_random.evaluation.outputs import describe_prompt_difference, read_outputs
from chasing_random.judges.base import Judge, JudgeReply
from chasing_random.store import file_fingerprint, write_json_atomic, write_manifest, write_text_atomic

HUB_REPO, HUB_FILE = "kqsong/InFoBench", "InfoBench.json"
EXPECTED_SIZE = 500
CHOICES = ("Yes", "No")
PROTOCOLS = ("weighted", "discrete")
PROMPT_VERSION = "1"
ANSWER = re.compile(r"\b(yes|no)\b", re.IGNORECASE)

JUDGE_SYSTEM = (
    "You check whether a generated text meets one requirement of the instruction it answers. Answer Yes "
    "only if the text fully meets the requirement the question describes; any error, omission or "
    "deviation, or a text that gives no information to decide, means No."
)
JUDGE_USER = (
    "### Instruction\n{prompt}\n\n"
    "### Generated text\n{output}\n\n"
    "### Question\n{question}\n\n"
    "Reply with one word only: Yes or No."
)


@dataclass(frozen=True)
class InFoBenchItem:
    """One instruction with its optional input and its decomposed requirement questions."""

    id: str
    instruction: str
    input: str
    category: str
    subset: str
    questions: tuple[str, ...]

    @property
    def prompt(self) -> str:
        """What the evaluated model is asked: the instruction, then its input when there is one."""
        return f"{self.instruction}\n\n{self.input}" if self.input.strip() else self.instruction


def load_infobench(data: str | Path | None = None) -> list[InFoBenchItem]:
    """The items of a local InFoBench file (JSON list or JSONL in the hub's layout) or, for ``None``
    or ``"hub"``, of the hub's ``InfoBench.json``; a bad item names file, item and field."""
    path = hub_file(HUB_REPO, HUB_FILE) if data is None or str(data) == "hub" else Path(data)
    items, seen = [], {}
    for where, row in read_items(path):
        item_id = row.get("id")
        if not isinstance(item_id, (str, int)) or isinstance(item_id, bool) or str(item_id) == "":
            raise ChaseError(f"{path}: {where}: field 'id' is missing or not a string")
        if str(item_id) in seen:
            raise ChaseError(f"{path}: {where}: field 'id': duplicate of {seen[str(item_id)]}")
        seen[str(item_id)] = where
        questions = row.get("decomposed_questions")
        if not isinstance(questions, list) or not questions:
            raise ChaseError(f"{path}: {where}: field 'decomposed_questions' must be a non-empty list of strings")
        for k, question in enumerate(questions):
            if not isinstance(question, str) or not question.strip():
                raise ChaseError(f"{path}: {where}: field 'decomposed_questions[{k}]' must be a non-empty string")
        items.append(InFoBenchItem(str(item_id), text_field(path, where, row, "instruction"),
                                   text_field(path, where, row, "input", allow_empty=True) if "input" in row else "",
                                   str(row.get("category") or ""), str(row.get("subset") or ""), tuple(questions)))
    return items


def infobench_prompts(data: str | Path | None = None) -> list[dict]:
    """Generation prompts (``instruction`` = the item's prompt, ``key`` = its id) for ``generate_outputs``."""
    return [{"instruction": item.prompt, "dataset": "infobench", "key": item.id, "category": item.category}
            for item in load_infobench(data)]


def conversation(item: InFoBenchItem, output: str, question: str) -> list[dict]:
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_USER.format(prompt=item.prompt, output=output, question=question)}]


def read_answer(reply: JudgeReply, protocol: str) -> tuple[bool | None, float | None, str | None]:
    """(Yes?, p(Yes), failure) from one reply; a failure is never turned into a No."""
    if not reply.ok:
        return None, None, reply.failure
    if protocol == "weighted":
        probs = reply.choice_probs or {}
        if set(probs) != set(CHOICES):
            return None, None, f"judge returned no probabilities for {CHOICES}: {probs}"
        return probs["Yes"] >= 0.5, probs["Yes"], None
    found = {m.lower() for m in ANSWER.findall(reply.text or "")}
    if len(found) != 1:
        return None, None, f"reply names neither or both of Yes/No: {json.dumps(reply.text)[:200]}"
    return found.pop() == "yes", None, None


def judge_outputs(items: list[InFoBenchItem], outputs: dict[str, str], judge: Judge,
                  protocol: str = "weighted") -> list[dict]:
    """One row per requirement question: the judge's answer about the item's output (one batched call)."""
    if protocol not in PROTOCOLS:
        raise ChaseError(f"unknown protocol '{protocol}'; valid: {', '.join(PROTOCOLS)}")
    jobs = [(item, k, q) for item in items for k, q in enumerate(item.questions)]
    conversations = [conversation(item, outputs[item.id], q) for item, _, q in jobs]
    replies = (judge.choose(conversations, list(CHOICES)) if protocol == "weighted"
               else judge.complete(conversations, max_tokens=4, temperature=0))
    rows = []
    for (item, k, question), reply in zip(jobs, replies):
        yes, p_yes, failure = read_answer(reply, protocol)
        rows.append({"id": item.id, "question_index": k, "subset": item.subset, "question": question,
                     "answer": None if yes is None else ("Yes" if yes else "No"), "p_yes": p_yes,
                     "failure": failure, "text": reply.text, "cached": reply.cached, "price": reply.price,
                     "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens})
    return rows


def _drfr(rows: list[dict]) -> dict[str, Any]:
    answered = [r for r in rows if r["answer"] is not None]
    by_item: dict[str, list[dict]] = {}
    for row in rows:
        by_item.setdefault(row["id"], []).append(row)
    complete = [qs for qs in by_item.values() if all(r["answer"] is not None for r in qs)]
    return {"drfr": sum(r["answer"] == "Yes" for r in answered) / len(answered) if answered else None,
            "all_requirements_rate": (sum(all(r["answer"] == "Yes" for r in qs) for qs in complete) / len(complete)
                                      if complete else None),
            "n_questions": len(rows), "n_answered": len(answered), "n_failed": len(rows) - len(answered),
            "n_instructions": len(by_item), "n_instructions_complete": len(complete)}


def infobench_metrics(rows: list[dict]) -> dict[str, Any]:
    """DRFR and the all-requirements rate overall and per subset (Easy_set / Hard_set), with coverage."""
    metrics = _drfr(rows)
    metrics["coverage"] = metrics["n_answered"] / metrics["n_questions"] if rows else None
    metrics["per_subset"] = {s: _drfr([r for r in rows if r["subset"] == s])
                             for s in sorted({r["subset"] for r in rows if r["subset"]})}
    reasons: dict[str, int] = {}
    for row in rows:
        if row["failure"]:
            key = row["failure"].split(":", 1)[0][:80]
            reasons[key] = reasons.get(key, 0) + 1
    metrics["failure_reasons"] = reasons
    metrics["price"] = sum(r["price"] or 0 for r in rows)
    metrics["tokens"] = {"input": sum(r["prompt_tokens"] for r in rows if not r["cached"]),
                         "output": sum(r["completion_tokens"] for r in rows if not r["cached"])}
    return metrics


def match_outputs(items: list[InFoBenchItem], outputs_path: str | Path, allow_partial: bool) -> tuple[list, dict]:
    """Each item's output (matched by prompt text); missing or foreign prompts are an error unless partial."""
    by_prompt = {o.instruction: o.output for o in read_outputs(outputs_path)}
    prompts = {item.prompt for item in items}
    missing = [item.prompt for item in items if item.prompt not in by_prompt]
    extra = [p for p in by_prompt if p not in prompts]
    if (missing or extra) and not allow_partial:
        raise ChaseError(f"{outputs_path}: its prompts differ from InFoBench's ({describe_prompt_difference(missing, extra)})"
                         "; pass --allow-partial to score the prompts that are there")
    kept = [item for item in items if item.prompt in by_prompt]
    if not kept:
        raise ChaseError(f"{outputs_path}: none of its prompts is an InFoBench prompt")
    return kept, {item.id: by_prompt[item.prompt] for item in kept}


def billed_tokens(judge: Judge, tokens: dict[str, int]) -> dict[str, dict[str, int]]:
    """Tokens an API judge billed, keyed by its model as the results contract keys them (none for a local one)."""
    return {judge.model: dict(tokens)} if judge.is_api and any(tokens.values()) else {}


def per_question_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / "per_question.jsonl"


def run_infobench(outputs_path: str | Path, judge: Judge, out_dir: str | Path, *, data: str | Path | None = None,
                  protocol: str = "weighted", allow_partial: bool = False) -> dict[str, Any]:
    """Judge every requirement question about the outputs; writes ``METRICS.json``, ``per_question.jsonl``
    and a manifest into ``out_dir`` and returns the metrics."""
    started = time.time()
    out_dir = Path(out_dir)
    items = load_infobench(data)
    kept, outputs = match_outputs(items, outputs_path, allow_partial)
    rows = judge_outputs(kept, outputs, judge, protocol)
    metrics = infobench_metrics(rows)
    metrics.update({"judge": judge.name, "protocol": protocol, "n_missing": len(items) - len(kept),
                    "api_tokens": billed_tokens(judge, metrics["tokens"])})
    write_text_atomic(per_question_path(out_dir), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_json_atomic(out_dir / "METRICS.json", metrics)
    describe = getattr(judge, "describe", None)
    write_manifest(out_dir / "METRICS.json", kind="infobench", started=started,
                   inputs={"outputs": str(outputs_path), "outputs_sha": file_fingerprint(outputs_path),
                           "data": str(data) if data is not None else "hub",
                           "items": len(items)},
                   config={"judge": describe() if callable(describe) else judge.name, "protocol": protocol,
                           "allow_partial": allow_partial, "prompt_version": PROMPT_VERSION})
    return metrics

