"""Source adapters: turn one raw row of a known layout into a ``Record`` or raise ``RowError``.

Each adapter reads only the fields of its layout; everything else the row has goes to ``meta``.
The registry ``SOURCES`` maps the names the CLI accepts to adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from chasing_random.data.records import Record, RowError
from chasing_random.errors import ChaseError

JOINS = ("blank-line", "paper")
HUMAN_ROLES = ("human", "user")
REPLY_ROLES = ("gpt", "assistant", "chatgpt", "bard", "bing", "model")


@dataclass
class AdapterOptions:
    """Options that change how a row becomes a record."""

    join: str = "blank-line"
    input_field: str = "input"
    target_field: str = "target"
    context_field: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _text(row: dict, name: str, *, required: bool = True, allow_empty: bool = False) -> str:
    """A string field of a row; missing, non-string and (unless allowed) empty values raise."""
    if not isinstance(row, dict):
        raise RowError("<row>", f"expected a JSON object, got {type(row).__name__}")
    if name not in row or row[name] is None:
        if required:
            raise RowError(name, "missing")
        return ""
    value = row[name]
    if not isinstance(value, str):
        raise RowError(name, f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowError(name, "empty")
    return value


def join_instruction(instruction: str, context: str, join: str) -> str:
    """Instruction and optional context: a blank line between them, or none (``paper``)."""
    if not context.strip():
        return instruction
    if join == "paper":
        return instruction + context
    return instruction + "\n\n" + context


def _extras(row: dict, used: set[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in used}


def original_fields(instruction: str, context: str) -> dict[str, str]:
    """What ``meta`` keeps of a row with a context: the instruction and context as given, because the
    joined input cannot be split again and the authors' IFD scripts (``--reference``) need them apart."""
    return {"instruction": instruction, "context": context} if context != "" else {}


def alpaca(row: Any, index: int, opts: AdapterOptions) -> Record:
    """Alpaca: ``instruction``, optional ``input`` (context), ``output``."""
    instruction = _text(row, "instruction")
    context = _text(row, "input", required=False, allow_empty=True)
    output = _text(row, "output")
    meta = {"row": index, "has_context": bool(context.strip()), **_extras(row, {"instruction", "input", "output"}),
            **original_fields(instruction, context)}
    return Record(join_instruction(instruction, context, opts.join), output, "alpaca", meta)


def dolly(row: Any, index: int, opts: AdapterOptions) -> Record:
    """Dolly: native ``instruction``, ``context``, ``response``, ``category`` (Alpaca-style keys accepted)."""
    native = isinstance(row, dict) and ("response" in row or "context" in row)
    context_key, response_key = ("context", "response") if native else ("input", "output")
    instruction = _text(row, "instruction")
    context = _text(row, context_key, required=False, allow_empty=True)
    response = _text(row, response_key)
    meta = {"row": index, "has_context": bool(context.strip()),
            **_extras(row, {"instruction", context_key, response_key}), **original_fields(instruction, context)}
    return Record(join_instruction(instruction, context, opts.join), response, "dolly", meta)


def _first_exchange(turns: list, role_key: str, text_key: str, field_name: str) -> tuple[str, str, dict]:
    """First human turn and the first reply after it; the other turns go to meta."""
    if not isinstance(turns, list) or not turns:
        raise RowError(field_name, "expected a non-empty list of turns")
    human_at = None
    for position, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RowError(f"{field_name}[{position}]", "expected an object")
        role = str(turn.get(role_key, "")).lower()
        if human_at is None and role in HUMAN_ROLES:
            human_at = position
        elif human_at is not None and role in REPLY_ROLES:
            prompt = _text(turns[human_at], text_key)
            reply = _text(turn, text_key)
            others = [t for i, t in enumerate(turns) if i not in (human_at, position)]
            system = [t.get(text_key) for t in turns[:human_at] if str(t.get(role_key, "")).lower() == "system"]
            return prompt, reply, {"n_turns": len(turns), "other_turns": others, "system": system}
    if human_at is None:
        raise RowError(field_name, f"no turn with {role_key} in {HUMAN_ROLES}")
    raise RowError(field_name, "no reply after the first human turn")


def sharegpt(row: Any, index: int, opts: AdapterOptions, source: str = "sharegpt") -> Record:
    """ShareGPT / Evol-Instruct: ``conversations`` of ``{from, value}``; first exchange kept."""
    if not isinstance(row, dict):
        raise RowError("<row>", f"expected a JSON object, got {type(row).__name__}")
    if "conversations" not in row:
        raise RowError("conversations", "missing")
    prompt, reply, meta = _first_exchange(row["conversations"], "from", "value", "conversations")
    return Record(prompt, reply, source, {"row": index, **meta, **_extras(row, {"conversations"})})


def evol(row: Any, index: int, opts: AdapterOptions) -> Record:
    """WizardLM Evol-Instruct V2 (ShareGPT layout)."""
    return sharegpt(row, index, opts, source="evol")


def messages(row: Any, index: int, opts: AdapterOptions) -> Record:
    """Chat ``messages`` of ``{role, content}``; first user turn and first assistant reply."""
    if not isinstance(row, dict):
        raise RowError("<row>", f"expected a JSON object, got {type(row).__name__}")
    if "messages" not in row:
        raise RowError("messages", "missing")
    prompt, reply, meta = _first_exchange(row["messages"], "role", "content", "messages")
    return Record(prompt, reply, "messages", {"row": index, **meta, **_extras(row, {"messages"})})


def flan(row: Any, index: int, opts: AdapterOptions) -> Record:
    """FLAN: flat ``{input, target}`` (or ``inputs``/``targets``) or nested ``{"task": {input, target}}``."""
    if not isinstance(row, dict):
        raise RowError("<row>", f"expected a JSON object, got {type(row).__name__}")
    task = None
    body = row
    nested = [k for k, v in row.items() if isinstance(v, dict)]
    if "input" not in row and "inputs" not in row and len(nested) == 1:
        task = nested[0]
        body = row[task]
    input_key = "inputs" if "inputs" in body and "input" not in body else "input"
    target_key = "targets" if "targets" in body and "target" not in body else "target"
    input_text = _text(body, input_key)
    target_text = _text(body, target_key)
    meta = {"row": index, **_extras(body, {input_key, target_key})}
    if task is not None:
        meta.update({"task": task, **_extras(row, {task})})
    return Record(input_text, target_text, "flan", meta)


def generic(row: Any, index: int, opts: AdapterOptions, source: str = "jsonl") -> Record:
    """Any layout: the user names the input, target and optional context fields."""
    input_text = _text(row, opts.input_field)
    target_text = _text(row, opts.target_field)
    used = {opts.input_field, opts.target_field}
    if opts.context_field:
        context = _text(row, opts.context_field, required=False, allow_empty=True)
        extra = original_fields(input_text, context)
        input_text = join_instruction(input_text, context, opts.join)
        used.add(opts.context_field)
        return Record(input_text, target_text, source, {"row": index, **_extras(row, used), **extra})
    return Record(input_text, target_text, source, {"row": index, **_extras(row, used)})


Adapter = Callable[[Any, int, AdapterOptions], Record]

SOURCES: dict[str, Adapter] = {
    "alpaca": alpaca,
    "dolly": dolly,
    "sharegpt": sharegpt,
    "evol": evol,
    "messages": messages,
    "flan": flan,
    "jsonl": lambda row, index, opts: generic(row, index, opts, "jsonl"),
    "json": lambda row, index, opts: generic(row, index, opts, "json"),
    "parquet": lambda row, index, opts: generic(row, index, opts, "parquet"),
}


def get_adapter(name: str) -> Adapter:
    """The adapter for a source name, or an error listing the valid names."""
    if name not in SOURCES:
        raise ChaseError(f"unknown source '{name}'; valid sources: {', '.join(SOURCES)}")
    return SOURCES[name]
