"""LLMBar (Zeng et al., ICLR 2024): the evaluated model, used as a judge, picks the output that
follows the instruction; 419 pairs in five subsets (Natural and four Adversarial ones).

Data: the shared flat layout (``Natural.json``, ``Adversarial_Neighbor.json``, ...), the
``princeton-nlp/LLMBar`` repository layout (``Dataset/LLMBar/Natural/dataset.json``,
``Dataset/LLMBar/Adversarial/{Neighbor,...}/dataset.json``) or, with ``hub``, that repository's
files downloaded once. Every item is ``{input, output_1, output_2, label}`` with label 1 or 2.

Protocol: each pair is judged in both orders (output_1 shown as A, then as B) through the
project's judges: ``weighted`` reads the choice from the probabilities of the one-token answers
(``Judge.choose``), ``discrete`` parses generated text. Combination rule (LLMBar's paper): an
item's score is the mean correctness of its judged orders (1, 0.5 or 0); accuracy is the mean
over items; positional agreement is the share of items, judged in both orders, whose two verdicts
name the same output. A failed or unparseable order is a recorded failure and counts in neither.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chasing_random.errors import ChaseError
from chasing_random.evaluation.datafiles import read_items, seeded_sample, text_field, url_file
from chasing_random.evaluation.infobench import billed_tokens
from chasing_random.evaluation.pairwise import LABELS, parse_discrete
from chasing_random.judges.base import Judge, JudgeReply
from chasing_random.store import fingerprint, read_manifest, write_json_atomic, write_manifest, write_text_atomic

NATURAL = "Natural"
ADVERSARIAL = ("Adversarial_Neighbor", "Adversarial_GPTInst", "Adversarial_GPTOut", "Adversarial_Manual")
SUBSETS = (NATURAL, *ADVERSARIAL)
EXPECTED_SIZES = {NATURAL: 100, "Adversarial_Neighbor": 134, "Adversarial_GPTInst": 92,
                  "Adversarial_GPTOut": 47, "Adversarial_Manual": 46}
# Where each subset lives in the princeton-nlp/LLMBar repository, below Dataset/LLMBar/.
REPO_PATHS = {NATURAL: "Natural/dataset.json", **{s: f"Adversarial/{s.split('_', 1)[1]}/dataset.json"
                                                  for s in ADVERSARIAL}}
REPO_URL = "https://raw.githubusercontent.com/princeton-nlp/LLMBar/main/Dataset/LLMBar/"
FIELDS = ("input", "output_1", "output_2", "label")
PROTOCOLS = ("weighted", "discrete")
PROMPT_VERSION = "1"
COMBINATION_RULE = ("item score = mean correctness over its judged orders (both orders judged: 1, 0.5 or 0); "
                    "accuracy = mean item score; failed orders excluded and counted")

JUDGE_SYSTEM = (
    "You judge how well AI assistants follow instructions. You read one instruction and two outputs "
    "written for it, and you pick the output that does what the instruction asks: first whether it "
    "executes the instruction honestly, precisely and completely, then helpfulness, accuracy and "
    "harmlessness. An output that is fluent or detailed but answers a different request is worse. "
    "The order of the outputs and their length mean nothing."
)
JUDGE_USER = (
    "### Instruction\n{instruction}\n\n"
    "### Output A\n{output_a}\n\n"
    "### Output B\n{output_b}\n\n"
    "Which output follows the instruction better? Reply with one character only: A or B."
)


@dataclass(frozen=True)
class LLMBarItem:
    """One LLMBar pair; ``id`` = ``SUBSET/position`` (0-based, in its file) is stable across runs."""

    id: str
    subset: str
    input: str
    output_1: str
    output_2: str
    label: int


def subset_files(folder: str | Path) -> dict[str, Path]:
    """Each subset's file under ``folder``, in the flat or the repository layout (either the
    repository root, its ``Dataset/LLMBar`` folder, or a folder of ``SUBSET.json`` files)."""
    folder = Path(folder)
    if folder.is_file():
        subset = folder.stem if folder.stem in SUBSETS else None
        if subset is None:
            raise ChaseError(f"{folder}: not an LLMBar subset file (expected one of "
                             f"{', '.join(s + '.json' for s in SUBSETS)}) or a folder")
        return {subset: folder}
    if not folder.is_dir():
        raise ChaseError(f"{folder}: no such LLMBar folder")
    flat = {s: folder / f"{s}.json" for s in SUBSETS if (folder / f"{s}.json").is_file()}
    for root in (folder, folder / "LLMBar", folder / "Dataset" / "LLMBar"):
        repo = {s: root / REPO_PATHS[s] for s in SUBSETS if (root / REPO_PATHS[s]).is_file()}
        if repo and flat:
            raise ChaseError(f"{folder}: holds both the flat layout ({', '.join(sorted(flat))}) and the repository "
                             "layout; point at one of them")
        if repo:
            return repo
    if flat:
        return flat
    raise ChaseError(f"{folder}: no LLMBar files found; expected the flat layout ({', '.join(s + '.json' for s in SUBSETS)})"
                     f" or the repository layout (Dataset/LLMBar/{REPO_PATHS[NATURAL]}, "
                     f"Dataset/LLMBar/{REPO_PATHS['Adversarial_Neighbor']}, ...)")


def read_subset(path: Path, subset: str) -> list[LLMBarItem]:
    """The items of one subset file; a missing field or a label other than 1/2 names file, item and field."""
    items = []
    for position, (where, row) in enumerate(read_items(path)):
        texts = {f: text_field(path, where, row, f, allow_empty=f != "input") for f in FIELDS[:3]}
        if "label" not in row:
            raise ChaseError(f"{path}: {where}: field 'label' is missing")
        label = row["label"]
        if isinstance(label, bool) or label not in (1, 2):
            raise ChaseError(f"{path}: {where}: field 'label' must be 1 or 2, got {json.dumps(label)}")
        items.append(LLMBarItem(f"{subset}/{position}", subset, texts["input"], texts["output_1"],
                                texts["output_2"], int(label)))
    return items


def hub_folder() -> Path:
    """The repository's five subset files, downloaded once into ``$CHASE_HOME/benchmarks/llmbar``."""
    files = [url_file(REPO_URL + REPO_PATHS[s], f"llmbar/{REPO_PATHS[s]}") for s in SUBSETS]
    return files[0].parents[1]


def load_llmbar(data: str | Path | None = None, *, subsets: list[str] | None = None, limit: int | None = None,
                seed: int = 0) -> list[LLMBarItem]:
    """LLMBar items from a folder or file (``None`` or ``"hub"``: the repository's files), optionally some
    subsets and a seeded sample of ``limit`` items (kept in file order)."""
    folder = hub_folder() if data is None or str(data) == "hub" else Path(data)
    files = subset_files(folder)
    wanted = list(subsets or files)
    unknown = [s for s in wanted if s not in SUBSETS]
    if unknown:
        raise ChaseError(f"unknown LLMBar subset(s) {unknown}; valid: {', '.join(SUBSETS)}")
    missing = [s for s in wanted if s not in files]
    if missing:
        raise ChaseError(f"{folder}: LLMBar subset(s) {missing} not found there")
    items = [item for subset in SUBSETS if subset in wanted for item in read_subset(files[subset], subset)]
    return seeded_sample(items, limit, seed)


def _cut(text: str, max_chars: int | None) -> str:
    return text if max_chars is None or len(text) <= max_chars else text[:max_chars] + " [...]"


def judge_text(item: LLMBarItem, output_1_first: bool, max_output_chars: int | None = None) -> tuple[str, str]:
    """System and user text of one order of one item."""
    a, b = (item.output_1, item.output_2) if output_1_first else (item.output_2, item.output_1)
    return JUDGE_SYSTEM, JUDGE_USER.format(instruction=item.input, output_a=_cut(a, max_output_chars),
                                           output_b=_cut(b, max_output_chars))


@dataclass
class JudgeFormat:
    """How the judge sees a prompt: as chat messages (endpoints, chat models) or as one text in the
    evaluated model's training template, with the answer tokens it was trained to start with."""

    template: Any = None  # a chasing_random.data.templates.Template, or None for chat messages
    tokenizer: Any = None
    answer_prefix: str = ""

    def conversation(self, system: str, user: str) -> list[dict]:
        if self.template is None:
            return [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return [{"role": "user", "content": self.template.prompt(f"{system}\n\n{user}", self.tokenizer)}]

    @property
    def choices(self) -> list[str]:
        return [self.answer_prefix + label for label in LABELS]


def model_judge(model: str, *, cache_dir: str | Path | None, batch_size: int = 8, dtype: str = "float32",
                device: str = "cpu", template: str | None = None, trust_remote_code: bool = False,
                judge_options: dict | None = None) -> tuple[Judge, JudgeFormat]:
    """The evaluated model as a judge: ``openai:MODEL`` is an endpoint judge fed chat messages; anything
    else (alias, folder, hub id) is a local judge fed its own training template (from its manifest, else
    its chat template, else the study's), answering with that template's separator + A/B."""
    from chasing_random.judges.factory import make_judge

    options = {"cache_dir": str(cache_dir) if cache_dir else None, **(judge_options or {})}
    if model.startswith("openai:"):
        return make_judge(model, **options), JudgeFormat()
    from chasing_random.data.templates import get_template, model_template
    from chasing_random.models.loading import load_tokenizer, resolve_model

    name = model.split(":", 1)[1] if model.startswith("local:") else model
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    tmpl = get_template(model_template(resolve_model(name), tokenizer, template))
    judge = make_judge(f"local:{name}", batch_size=batch_size, dtype=dtype, device=device, chat_template=False,
                       trust_remote_code=trust_remote_code, **options)
    return judge, JudgeFormat(tmpl, tokenizer, answer_prefix=tmpl.separator if tmpl.separator.isspace() else "")


def _verdict(reply: JudgeReply, protocol: str, fmt: JudgeFormat, output_1_first: bool) -> dict:
    """One order's verdict: the output (1 or 2) it picks, the probability of output 1, or a failure."""
    shown = prob_a = None
    failure = reply.failure
    if failure is None and protocol == "weighted":
        probs = reply.choice_probs or {}
        if set(probs) != set(fmt.choices):
            failure = f"judge returned no probabilities for {fmt.choices}: {probs}"
        else:
            prob_a = probs[fmt.choices[0]]
            shown = "A" if prob_a >= 0.5 else "B"
    elif failure is None:
        shown = parse_discrete(reply.text)
        if shown is None:
            failure = f"reply names neither or both of A/B: {json.dumps(reply.text)[:200]}"
    prediction = None if shown is None else (1 if (shown == "A") == output_1_first else 2)
    prob_1 = None if prob_a is None else (prob_a if output_1_first else 1 - prob_a)
    return {"prediction": prediction, "prob_output_1": prob_1, "failure": failure, "text": reply.text,
            "choice_mass": reply.extra.get("choice_mass"), "cached": reply.cached, "price": reply.price,
            "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens}


def judge_items(items: list[LLMBarItem], judge: Judge, fmt: JudgeFormat, protocol: str = "weighted",
                max_output_chars: int | None = None) -> list[dict]:
    """Per-item results: both orders judged in one batched call (order 1 shows output_1 as A)."""
    if protocol not in PROTOCOLS:
        raise ChaseError(f"unknown protocol '{protocol}'; valid: {', '.join(PROTOCOLS)}")
    conversations = [fmt.conversation(*judge_text(item, first, max_output_chars))
                     for item in items for first in (True, False)]
    if protocol == "weighted":
        replies = judge.choose(conversations, fmt.choices)
    else:
        replies = judge.complete(conversations, max_tokens=8, temperature=0)
    rows = []
    for index, item in enumerate(items):
        orders = [_verdict(replies[2 * index + k], protocol, fmt, first) for k, first in enumerate((True, False))]
        correct = [float(o["prediction"] == item.label) for o in orders if o["prediction"] is not None]
        both = all(o["prediction"] is not None for o in orders)
        rows.append({"id": item.id, "subset": item.subset, "label": item.label,
                     "prediction_order1": orders[0]["prediction"], "prediction_order2": orders[1]["prediction"],
                     "score": sum(correct) / len(correct) if correct else None,
                     "agree": (orders[0]["prediction"] == orders[1]["prediction"]) if both else None,
                     "orders": orders})
    return rows


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _summary(rows: list[dict]) -> dict[str, Any]:
    scored = [r["score"] for r in rows if r["score"] is not None]
    agreed = [float(r["agree"]) for r in rows if r["agree"] is not None]
    return {"n": len(rows), "n_scored": len(scored), "accuracy": _mean(scored),
            "positional_agreement": _mean(agreed), "n_both_orders": len(agreed)}


def llmbar_metrics(rows: list[dict]) -> dict[str, Any]:
    """Overall, Natural, Adversarial (pooled and the mean of its subsets, as LLMBar's tables) and
    per-subset accuracy; positional agreement; unparseable share of all judged orders."""
    overall = _summary(rows)
    per_subset = {s: _summary([r for r in rows if r["subset"] == s]) for s in SUBSETS
                  if any(r["subset"] == s for r in rows)}
    adversarial = [r for r in rows if r["subset"] in ADVERSARIAL]
    orders = [o for r in rows for o in r["orders"]]
    failed = [o for o in orders if o["failure"]]
    masses = [o["choice_mass"] for o in orders if o["choice_mass"] is not None]
    reasons: dict[str, int] = {}
    for order in failed:
        key = order["failure"].split(":", 1)[0][:80]
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "accuracy": overall["accuracy"], "positional_agreement": overall["positional_agreement"],
        "natural_accuracy": per_subset.get(NATURAL, {}).get("accuracy"),
        "adversarial_accuracy": _summary(adversarial)["accuracy"] if adversarial else None,
        "adversarial_subset_mean": _mean([per_subset[s]["accuracy"] for s in ADVERSARIAL
                                          if s in per_subset and per_subset[s]["accuracy"] is not None]),
        "per_subset": per_subset,
        "n_items": overall["n"], "n_items_scored": overall["n_scored"], "n_both_orders": overall["n_both_orders"],
        "n_orders": len(orders), "n_unparseable": len(failed),
        "unparseable_rate": len(failed) / len(orders) if orders else None, "failure_reasons": reasons,
        "mean_choice_mass": _mean(masses), "price": sum(o["price"] or 0 for o in orders),
        "tokens": {"input": sum(o["prompt_tokens"] for o in orders if not o["cached"]),
                   "output": sum(o["completion_tokens"] for o in orders if not o["cached"])},
        "combination_rule": COMBINATION_RULE,
    }


def per_item_path(out_dir: str | Path) -> Path:
    """The per-item JSONL beside METRICS.json (id, subset, label, prediction per order, score)."""
    return Path(out_dir) / "per_item.jsonl"


def run_llmbar(model: str, out_dir: str | Path, *, data: str | Path | None = None, limit: int | None = None,
               seed: int = 0, subsets: list[str] | None = None, protocol: str = "weighted",
               max_output_chars: int | None = None, batch_size: int = 8, dtype: str = "float32",
               device: str = "cpu", template: str | None = None, trust_remote_code: bool = False,
               judge_options: dict | None = None) -> dict[str, Any]:
    """Evaluate ``model`` as an LLMBar judge; writes ``METRICS.json``, ``per_item.jsonl`` and a manifest
    into ``out_dir`` (judge replies cached in ``out_dir/judge_cache``) and returns the metrics."""
    started = time.time()
    out_dir = Path(out_dir)
    metrics_path = out_dir / "METRICS.json"
    previous = read_manifest(metrics_path) if metrics_path.exists() else None
    if metrics_path.exists() and (previous or {}).get("kind") != "llmbar":
        raise ChaseError(f"{metrics_path} exists and was not written by an LLMBar run; choose another --out")
    items = load_llmbar(data, subsets=subsets, limit=limit, seed=seed)
    judge, fmt = model_judge(model, cache_dir=out_dir / "judge_cache", batch_size=batch_size, dtype=dtype,
                             device=device, template=template, trust_remote_code=trust_remote_code,
                             judge_options=judge_options)
    rows = judge_items(items, judge, fmt, protocol, max_output_chars)
    metrics = llmbar_metrics(rows)
    metrics.update({"model": model, "judge": judge.name, "protocol": protocol, "limit": limit, "seed": seed,
                    "template": getattr(fmt.template, "name", "chat messages"),
                    "api_tokens": billed_tokens(judge, metrics["tokens"])})
    write_text_atomic(per_item_path(out_dir), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_json_atomic(metrics_path, metrics)
    describe = getattr(judge, "describe", None)
    write_manifest(metrics_path, kind="llmbar", started=started,
                   inputs={"model": model, "data": str(data) if data is not None else "hub",
                           "items": fingerprint([asdict(i) for i in items])},
                   config={"judge": describe() if callable(describe) else judge.name, "protocol": protocol,
                           "limit": limit, "seed": seed, "subsets": subsets, "max_output_chars": max_output_chars,
                           "prompt_version": PROMPT_VERSION, "template": metrics["template"]})
    return metrics
