"""One judge spec and one factory: ``JudgeSpec.parse(text, options)`` once, then ``spec.build()``.

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
Options set to None are ignored; an option the backend does not know is an error. The config, the
CLI, the strategies and pairwise evaluation all go through ``JudgeSpec``; nothing else parses specs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from chasing_random.errors import ChaseError
from chasing_random.judges.base import BackendModel, Judge

BACKENDS = ("local", "openai")
CACHE_FOLDER = "judge-responses"  # the response cache of every judge in a run, under the store root


def parse_judge_options(items: list[str] | Mapping[str, Any] | None) -> dict:
    """``KEY=VALUE`` strings (``--judge-option``) as a dict; numbers and true/false are converted.
    A mapping (an experiment file's ``judge_options``) is taken as it is."""
    if isinstance(items, Mapping):
        return dict(items)
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


@dataclass(frozen=True)
class JudgeSpec(BackendModel):
    """A judge to build: backend (``local`` or ``openai``), model, and backend options (including
    ``cache_dir``, the response cache location)."""

    backend: str
    model: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, options: list[str] | Mapping[str, Any] | None = None, *,
              bare_is_local: bool = True) -> "JudgeSpec":
        """``local:NAME`` or ``openai:MODEL``; a bare name means ``local:NAME`` unless ``bare_is_local`` is off."""
        backend, sep, name = (text or "").partition(":")
        if not (sep and backend in BACKENDS):
            if not bare_is_local or not text:
                raise ChaseError(f"judge spec '{text}': expected local:NAME (alias, folder or hub id) or openai:MODEL")
            backend, name = "local", text
        if not name:
            raise ChaseError(f"judge spec '{text}': expected local:NAME (alias, folder or hub id) or openai:MODEL")
        return cls(backend, name, parse_judge_options(options))

    @property
    def cache_dir(self) -> str | None:
        return self.options.get("cache_dir")

    def with_options(self, **options) -> "JudgeSpec":
        """A copy with these options set (over the spec's own)."""
        return JudgeSpec(self.backend, self.model, {**self.options, **options})

    def with_defaults(self, **defaults) -> "JudgeSpec":
        """A copy with these options where the spec sets none (None values are skipped)."""
        given = {k: v for k, v in defaults.items() if v is not None}
        return JudgeSpec(self.backend, self.model, {**given, **self.options})

    def with_cache(self, folder: str | Path) -> "JudgeSpec":
        """A copy whose replies are cached in ``folder`` unless a ``cache_dir`` option says otherwise."""
        return self.with_defaults(cache_dir=str(folder))

    def local_defaults(self, **defaults) -> "JudgeSpec":
        """``with_defaults`` for a local judge only (batch size, dtype, trust_remote_code from a command)."""
        return self.with_defaults(**defaults) if self.backend == "local" else self

    def build(self) -> Judge:
        """The judge (the one factory); an option the backend does not know is an error."""
        from chasing_random.judges.endpoint import EndpointJudge
        from chasing_random.judges.local import LocalJudge

        cls = LocalJudge if self.backend == "local" else EndpointJudge
        known = set(inspect.signature(cls.__init__).parameters) - {"self", "model"}
        given = {k: v for k, v in self.options.items() if v is not None}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ChaseError(f"judge spec '{self.name}': unknown option(s) {', '.join(unknown)} for the "
                             f"{self.backend} backend; valid: {', '.join(sorted(known))}")
        return cls(self.model, **given)

    def as_config(self) -> dict:
        """``{"spec": ..., "options": ...}``: the experiment file's ``judge`` layout."""
        return {"spec": self.name, "options": dict(self.options)}


def make_judge(spec: str, **options) -> Judge:
    """A judge for a strict ``local:NAME`` or ``openai:MODEL`` with backend options (see module docstring)."""
    return JudgeSpec.parse(spec, options, bare_is_local=False).build()
