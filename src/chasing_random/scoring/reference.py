"""The authors' own IFD inputs (``--reference``): their texts, tokenization, slicing and exclusions.

Each mode rebuilds, from a row's original instruction / context / output, the one string the
original script tokenizes, finds where the response starts from the token count of the text before
it (as the script does, so a merge at the boundary shifts the slice as it shifts theirs), truncates
and excludes as the script does, and returns sequences for the loss engine; the method's usual IFD
formula on the resulting losses gives the authors' number (see docs/scoring.md, "Reference modes").

- ``superfiltering``: Superfiltering ``code_ifd/data_analysis.py`` (prompt ``none``): conditioned text
  ``{instruction}\\n[{input}\\n]{output}`` cut at L; direct text = the output alone, cut at
  L - len(prompt) + 1 tokens, its first token never a target.
- ``cherry-wiz``: Cherry_LLM ``data_analysis.py`` + ``data_by_IFD.py`` with ``--prompt wiz``, each input
  row sliced on the text its losses were computed on (``{instruction}\\nInput:{input}\\n\\n### Response:``).
- ``cherry-wiz-as-shipped``: the same, with the shipped ``data_by_IFD.py`` defect: on rows with an input
  it slices the losses of the text *with* the input by the token offsets of the text *without* it.
- ``cherry-alpaca``: ``--prompt alpaca`` (the full Alpaca preamble, with or without an ``### Input:``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chasing_random.errors import ChaseError

SUPERFILTERING = "superfiltering"
CHERRY_WIZ = "cherry-wiz"
CHERRY_WIZ_AS_SHIPPED = "cherry-wiz-as-shipped"
CHERRY_ALPACA = "cherry-alpaca"
REFERENCES = (SUPERFILTERING, CHERRY_WIZ, CHERRY_WIZ_AS_SHIPPED, CHERRY_ALPACA)
# The IFD formula (``scoring.losses.ifd`` kind) each reference's number is computed with.
REFERENCE_IFD = {SUPERFILTERING: "superfilter", CHERRY_WIZ: "cherry", CHERRY_WIZ_AS_SHIPPED: "cherry",
                 CHERRY_ALPACA: "cherry"}

CHERRY_DIRECT_PREFIX = "### Response:"
CHERRY_SLACK = 4  # Cherry cuts the direct text at max_length - len(instruction tokens) + 4
ALPACA_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.\n\n"
                "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.\n\n"
                   "### Instruction:\n{instruction}\n\n### Response:")

# Exclusion reasons (the row is not scored by the authors' code, so it is not ranked here either).
ONE_TOKEN_RESPONSE = "one_token_response"  # Superfiltering's direct pass has no target token (NaN upstream)
PROMPT_FILLS_MAX_LENGTH = "prompt_fills_max_length"  # no response token fits after the prompt
NO_RESPONSE_TOKENS = "no_response_tokens"  # Cherry: len_1 <= 0 or len_2 <= 0
TRUNCATED = "truncated"  # Cherry: instruction tokens + direct response tokens > max_length


@dataclass(frozen=True)
class Original:
    """A row's fields as the source gave them: the authors' scripts read these, not the joined input."""

    instruction: str
    context: str
    output: str


@dataclass(frozen=True)
class ReferenceRow:
    """One row's two sequences (ids, first scored position, scored count) and the authors' verdict.

    ``truncated``: the conditioned text did not fit in L (as in the default tables); ``excluded``: why the
    authors' code leaves the row out (their own truncation rule among the reasons), or None.
    """

    cond: tuple[list[int], int, int]
    direct: tuple[list[int], int, int]
    truncated: bool
    excluded: str | None


def check_reference(reference: str) -> str:
    """The reference name, or an error listing the valid ones."""
    if reference not in REFERENCES:
        raise ChaseError(f"unknown --reference '{reference}'; valid: {', '.join(REFERENCES)}")
    return reference


def originals(frame, pool_path) -> list[Original]:
    """Each pool row's original instruction, context and output (``meta`` keeps the first two for rows
    with a context; for the others the input is the instruction)."""
    rows = []
    for row_id, input_text, target, meta in zip(frame["id"], frame["input"], frame["target"], frame["meta"]):
        meta = json.loads(meta) if isinstance(meta, str) and meta else {}
        if "instruction" in meta:
            rows.append(Original(meta["instruction"], meta.get("context", ""), target))
        elif meta.get("has_context"):
            raise ChaseError(f"{pool_path}: row id {row_id} has a context but meta lacks its original instruction "
                             "and context (a pool built before --reference existed): rebuild it with chase pool build")
        else:
            rows.append(Original(input_text, "", target))
    return rows


def _encode(tokenizer, texts: list[str], max_length: int | list[int] | None = None) -> list[list[int]]:
    """``tokenizer.encode`` of each text (special tokens on), cut as ``truncation=True, max_length=m`` cuts."""
    if max_length is None:
        return tokenizer(texts, add_special_tokens=True)["input_ids"]
    if isinstance(max_length, int):
        return tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length)["input_ids"]
    return [tokenizer(text, add_special_tokens=True, truncation=True, max_length=m)["input_ids"]
            for text, m in zip(texts, max_length)]


def _start_tokens(tokenizer, texts: list[str], outputs: list[str]) -> list[int]:
    """Where the scripts put the response start: the token count of the text before the output's last occurrence."""
    return [len(ids) for ids in _encode(tokenizer, [t[:t.rfind(o)] for t, o in zip(texts, outputs)])]


def superfiltering_rows(rows: list[Original], tokenizer, max_length: int) -> list[ReferenceRow]:
    """Superfiltering's ``data_analysis.py``: labels from the prompt's token count, HF's shifted loss."""
    prompts = [f"{r.instruction}\n{r.context}\n" if r.context != "" else f"{r.instruction}\n" for r in rows]
    outputs = [r.output for r in rows]
    wholes = [p + o for p, o in zip(prompts, outputs)]
    whole_ids = _encode(tokenizer, wholes, max_length)
    full_lengths = [len(ids) for ids in _encode(tokenizer, wholes)]
    starts = _start_tokens(tokenizer, wholes, outputs)
    prompt_lengths = [len(ids) for ids in _encode(tokenizer, prompts, max_length)]
    direct_ids = _encode(tokenizer, outputs, [max_length - n + 1 for n in prompt_lengths])
    result = []
    for ids, full, start, direct in zip(whole_ids, full_lengths, starts, direct_ids):
        count = max(0, len(ids) - start)
        excluded = (PROMPT_FILLS_MAX_LENGTH if count == 0 else ONE_TOKEN_RESPONSE if len(direct) < 2 else None)
        result.append(ReferenceRow((ids, start, count), (direct, 1, max(0, len(direct) - 1)),
                                   truncated=full > max_length, excluded=excluded))
    return result


def cherry_rows(rows: list[Original], tokenizer, max_length: int, prompt: str, *,
                as_shipped: bool = False) -> list[ReferenceRow]:
    """Cherry's ``data_analysis.py`` (token losses) + ``data_by_IFD.py`` (slices, exclusions, mean ratio)."""
    outputs = [r.output for r in rows]
    if prompt == "wiz":
        instructions = [r.instruction for r in rows]  # wiz: the bare instruction, also on rows with an input
        analysed = [(f"{r.instruction}\nInput:{r.context}" if r.context != "" else r.instruction)
                    + "\n\n### Response:" + r.output for r in rows]
        sliced = [r.instruction + "\n\n### Response:" + r.output for r in rows] if as_shipped else analysed
    else:
        instructions = [(ALPACA_INPUT if r.context != "" else ALPACA_NO_INPUT)
                        .format_map({"instruction": r.instruction, "input": r.context}) for r in rows]
        analysed = sliced = [p + o for p, o in zip(instructions, outputs)]
    instruct_lengths = [len(ids) for ids in _encode(tokenizer, instructions, max_length)]
    direct_texts = [CHERRY_DIRECT_PREFIX + o for o in outputs]
    direct_ids = _encode(tokenizer, direct_texts, [max_length - n + CHERRY_SLACK for n in instruct_lengths])
    direct_starts = _start_tokens(tokenizer, direct_texts, outputs)
    cond_ids = _encode(tokenizer, analysed, max_length)
    sliced_ends = [len(ids) for ids in _encode(tokenizer, sliced, max_length)] if as_shipped else [len(i) for i in cond_ids]
    cond_starts = _start_tokens(tokenizer, sliced, outputs)
    full_lengths = [len(ids) for ids in _encode(tokenizer, analysed)]
    result = []
    for n, ids, start, end, d_ids, d_start, full in zip(instruct_lengths, cond_ids, cond_starts, sliced_ends,
                                                        direct_ids, direct_starts, full_lengths):
        len_1, len_2 = len(d_ids) - d_start, end - start
        # the script averages loss_list[start - 1:end - 1] of the analysed text: Python's slice clips it there
        count = max(0, min(end, len(ids)) - max(start, 1))
        if max_length - n <= 0:
            excluded = PROMPT_FILLS_MAX_LENGTH
        elif len_1 <= 0 or len_2 <= 0 or count == 0:
            excluded = NO_RESPONSE_TOKENS
        elif n + len_1 > max_length:
            excluded = TRUNCATED
        else:
            excluded = None
        result.append(ReferenceRow((ids, max(start, 1), count), (d_ids, d_start, max(0, len_1)),
                                   truncated=full > max_length, excluded=excluded))
    return result


def reference_rows(reference: str, rows: list[Original], tokenizer, max_length: int) -> list[ReferenceRow]:
    """The authors' sequences and verdict for each row under a reference mode."""
    check_reference(reference)
    if reference == SUPERFILTERING:
        return superfiltering_rows(rows, tokenizer, max_length)
    prompt = "alpaca" if reference == CHERRY_ALPACA else "wiz"
    return cherry_rows(rows, tokenizer, max_length, prompt, as_shipped=reference == CHERRY_WIZ_AS_SHIPPED)

