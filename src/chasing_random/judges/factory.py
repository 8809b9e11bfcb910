"""``make_judge(spec, **options)``: build a judge from a short spec string.

Spec format:
- ``local:NAME``: a causal LM run in this process; NAME is an alias (``smollm2-135m-instruct``),
  a folder (``local:/path/to/model``) or a hub id. Options: ``dtype`` (float32), ``batch_size``
  (8), ``max_length`` (the tokenizer's), ``trust_remote_code`` (False), ``chat_template`` (None =
  use the tokenizer's template when it has one), ``device`` (cpu), ``cache_dir`` (None).
- ``openai:MODEL``: an OpenAI-compatible chat-completions endpoint. Options: ``base_url`` (None =
  api.openai.com), ``api_key_env`` (name of the variable holding the key, default
  ``OPENAI_API_KEY``; the key is read at call time), ``max_concurrency`` (8), ``cache_dir`` (None =
  no response cache), ``price_per_million_input`` / ``price_per_million_output`` (0), ``timeout``
  (60 s), ``max_retries`` (5), ``retry_base_delay`` (1 s), ``top_logprobs`` (20).
Options set to None are ignored; an option the backend does not know is an error.
"""

from __future__ import annotations

import inspect

from chasing_random.errors import ChaseError
from chasing_random.judges.base import Judge

BACKENDS = ("local", "openai")


def make_judge(spec: str, **options) -> Judge:
    """A judge for ``local:NAME`` or ``openai:MODEL`` with backend options (see module docstring)."""
    from chasing_random.judges.endpoint import EndpointJudge
    from chasing_random.judges.local import LocalJudge

    backend, sep, name = (spec or "").partition(":")
    if not sep or not name or backend not in BACKENDS:
        raise ChaseError(f"judge spec '{spec}': expected local:NAME (alias, folder or hub id) or openai:MODEL")
    cls = LocalJudge if backend == "local" else EndpointJudge
    known = set(inspect.signature(cls.__init__).parameters) - {"self", "model"}
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ChaseError(f"judge spec '{spec}': unknown option(s) {', '.join(unknown)} for the {backend} backend; "
                         f"valid: {', '.join(sorted(known))}")
    return cls(name, **given)


def parse_judge_options(items: list[str] | None) -> dict:
    """``KEY=VALUE`` strings (``--judge-option``) as a dict; numbers and true/false are converted."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ChaseError(f"--judge-option '{item}': expected KEY=VALUE, e.g. base_url=http://127.0.0.1:8000/v1")
        text = value.strip()
        if text.lower() in ("true", "false"):
            options[key.strip()] = text.lower() == "true"
            continue
        for convert in (int, float):
            try:
                options[key.strip()] = convert(text)
                break
            except ValueError:
                continue
        else:
            options[key.strip()] = text
    return options


def judge_for_selection(spec: str, *, cache_root, batch_size: int, dtype: str, trust_remote_code: bool,
                        judge_options: list[str] | None = None) -> Judge:
    """The judge a strategy uses: a bare model name means ``local:NAME``; replies are cached under
    ``cache_root`` unless ``--judge-option cache_dir=...`` says otherwise."""
    if ":" not in spec or spec.split(":", 1)[0] not in BACKENDS:
        spec = f"local:{spec}"
    options = {"cache_dir": str(cache_root), **parse_judge_options(judge_options)}
    if spec.startswith("local:"):
        options = {"batch_size": batch_size, "dtype": dtype, "trust_remote_code": trust_remote_code, **options}
    return make_judge(spec, **options)
