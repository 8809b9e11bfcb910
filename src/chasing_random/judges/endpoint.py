"""A judge behind an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama).

The API key is read from the environment variable named in the config at call time and lives
only in a client local to that call, never on this object (which is described in manifests).
Calls run on a bounded thread pool, retry 429/5xx/timeouts/malformed replies with exponential
backoff and jitter, record tokens, price and time, and go through a persistent response cache.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

from chasing_random.errors import ChaseError
from chasing_random.judges.base import Judge, JudgeReply
from chasing_random.judges.cache import ResponseCache, cache_key
from chasing_random.ui import progress_bar

RAW_LIMIT = 2000


class RetryableError(Exception):
    """A failed call worth retrying (rate limit, server error, timeout, malformed reply)."""


class EndpointJudge(Judge):
    """Chat completions over HTTP through the ``openai`` client."""

    backend = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 max_concurrency: int = 8, cache_dir: str | None = None, price_per_million_input: float = 0.0,
                 price_per_million_output: float = 0.0, timeout: float = 60.0, max_retries: int = 5,
                 retry_base_delay: float = 1.0, top_logprobs: int = 20):
        if max_concurrency < 1:
            raise ChaseError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self.price_in = price_per_million_input
        self.price_out = price_per_million_output
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.top_logprobs = top_logprobs

    def describe(self) -> dict:
        """What identifies this judge in a manifest (the variable's name, never its value)."""
        return {"backend": "openai", "model": self.model, "base_url": self.base_url, "api_key_env": self.api_key_env,
                "price_per_million_input": self.price_in, "price_per_million_output": self.price_out}

    def _client(self):
        """A client built for one batch of calls, with the key read from the environment now."""
        import openai

        key = os.environ.get(self.api_key_env)
        if not key:
            raise ChaseError(f"environment variable {self.api_key_env} is not set: it must hold the API key "
                             "(local servers accept any value, e.g. export OPENAI_API_KEY=none)")
        return openai.OpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=self.timeout)

    def _call(self, client, messages: list[dict], params: dict) -> dict:
        """One HTTP call; returns the stored form of the reply or raises RetryableError / a failure."""
        import openai

        try:
            raw = client.chat.completions.with_raw_response.create(model=self.model, messages=messages, **params)
        except openai.RateLimitError as exc:
            raise RetryableError(f"HTTP 429 rate limited: {exc.message[:200]}") from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code == 408:
                raise RetryableError(f"HTTP {exc.status_code}: {exc.message[:200]}") from None
            raise RuntimeError(f"HTTP {exc.status_code}: {exc.message[:200]}") from None
        except openai.APITimeoutError:
            raise RetryableError(f"timeout after {self.timeout:g}s") from None
        except openai.APIConnectionError as exc:
            raise RetryableError(f"connection error: {exc}") from None
        body = raw.http_response.text
        try:
            completion = raw.parse()
            choice = completion.choices[0]
        except (ValueError, TypeError, AttributeError, IndexError, KeyError, openai.APIResponseValidationError):
            raise RetryableError(f"malformed response: {body[:RAW_LIMIT]}") from None
        if not hasattr(choice, "message"):
            raise RetryableError(f"malformed response: {body[:RAW_LIMIT]}")
        top = None
        content_logprobs = getattr(getattr(choice, "logprobs", None), "content", None)
        if content_logprobs:
            top = {item.token: item.logprob for item in (content_logprobs[0].top_logprobs or [])}
            top.setdefault(content_logprobs[0].token, content_logprobs[0].logprob)
        usage = completion.usage
        return {"text": choice.message.content or "", "top_logprobs": top,
                "prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                "completion_tokens": getattr(usage, "completion_tokens", 0) or 0}

    def _request(self, client, messages: list[dict], params: dict) -> tuple[JudgeReply, dict | None]:
        """A cached or fresh reply with retries; failures carry the last error and raw text."""
        key = cache_key(self.model, messages, params)
        if self.cache is not None:
            stored = self.cache.get(key)
            if stored is not None:
                return JudgeReply(text=stored["text"], cached=True), stored
        started, error = time.perf_counter(), ""
        for attempt in range(self.max_retries + 1):
            try:
                stored = self._call(client, messages, params)
            except RetryableError as exc:
                error = str(exc)
                if attempt < self.max_retries:
                    time.sleep(min(60.0, self.retry_base_delay * 2 ** attempt) * (0.5 + random.random()))
                continue
            except RuntimeError as exc:
                error = str(exc)
                break
            if self.cache is not None:
                self.cache.put(key, stored)
            price = (stored["prompt_tokens"] * self.price_in + stored["completion_tokens"] * self.price_out) / 1e6
            return JudgeReply(text=stored["text"], prompt_tokens=stored["prompt_tokens"],
                              completion_tokens=stored["completion_tokens"], price=price,
                              seconds=time.perf_counter() - started,
                              extra={"attempts": attempt + 1}), stored
        return JudgeReply(failure=f"call failed after {attempt + 1} attempt(s): {error}",
                          seconds=time.perf_counter() - started, extra={"raw": error[:RAW_LIMIT]}), None

    def _map(self, conversations: list[list[dict]], params: dict, finish) -> list[JudgeReply]:
        """Run every conversation on the thread pool; ``finish`` turns (reply, stored) into the result."""
        client = self._client()
        with progress_bar(f"judging with {self.model}", len(conversations)) as advance, \
                ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            def one(messages):
                result = finish(*self._request(client, messages, params))
                advance(1)
                return result
            return list(pool.map(one, conversations))

    def choose(self, conversations: list[list[dict]], choices: list[str]) -> list[JudgeReply]:
        """Probabilities of the one-token answers from the first position's logprobs (or the text)."""
        params = {"max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": self.top_logprobs}

        def finish(reply: JudgeReply, stored: dict | None) -> JudgeReply:
            if stored is None:
                return reply
            mass = {c: 0.0 for c in choices}
            for token, logprob in (stored.get("top_logprobs") or {}).items():
                if token.strip() in mass and logprob is not None and math.isfinite(logprob):
                    mass[token.strip()] += math.exp(logprob)
            total = sum(mass.values())
            if total > 0:
                reply.choice_probs = {c: p / total for c, p in mass.items()}
                reply.extra["choice_mass"] = total
            elif stored.get("top_logprobs") is None and reply.text.strip() in mass:
                reply.choice_probs = {c: float(c == reply.text.strip()) for c in choices}
                reply.extra["from_text"] = True
            else:
                reply.failure = f"answer not among {choices}: {json.dumps(reply.text)[:200]}"
                reply.extra["raw"] = reply.text
            return reply

        return self._map(conversations, params, finish)

    def complete(self, conversations: list[list[dict]], *, max_tokens: int,
                 temperature: float | None = None) -> list[JudgeReply]:
        """Generated replies; ``temperature=None`` leaves the API default (as the study did)."""
        params = {"max_tokens": max_tokens, **({} if temperature is None else {"temperature": temperature})}
        return self._map(conversations, params, lambda reply, stored: reply)
