"""A judge that runs a causal LM in this process: batched, length-sorted, left-padded.

``choose`` reads the next-token distribution over the allowed answer tokens from one forward
pass (the fast default for rating); ``complete`` generates text to be parsed like an API judge.
Conversations go through the tokenizer's chat template when it has one; otherwise (e.g. the
DEITA scorers) the message contents are joined into one raw prompt, as those models were trained.
"""

from __future__ import annotations

import time

from chasing_random.errors import ChaseError
from chasing_random.judges.base import Judge, JudgeReply
from chasing_random.judges.cache import ResponseCache, cache_key
from chasing_random.ui import progress_bar


class LocalJudge(Judge):
    """A local causal LM judge (alias, folder or hub id), loaded on first use."""

    backend = "local"

    def __init__(self, model: str, *, dtype: str = "float32", batch_size: int = 8, max_length: int | None = None,
                 trust_remote_code: bool = False, chat_template: bool | None = None, device: str = "cpu",
                 cache_dir: str | None = None):
        if batch_size < 1:
            raise ChaseError(f"batch_size must be >= 1, got {batch_size}")
        from chasing_random.models.loading import LazyCausalLM
        from chasing_random.models.precision import resolve_precision

        self.model = model
        self.precision = resolve_precision(dtype, device)  # auto: bf16 on native-bf16 hardware
        self.dtype, self.batch_size, self.max_length = self.precision.dtype, batch_size, max_length
        self.trust_remote_code, self.chat_template, self.device = trust_remote_code, chat_template, device
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self._lm = LazyCausalLM(model, dtype=self.dtype, device=device, trust_remote_code=trust_remote_code)

    def describe(self) -> dict:
        """What identifies this judge in a manifest and a score-table key."""
        return {"backend": "local", "model": self.model, "dtype": self.dtype, "max_length": self.max_length,
                "chat_template": self.chat_template}

    def _load(self):
        """The model and tokenizer, loaded on first use (pickled to a shard worker without the weights)."""
        model, tokenizer = self._lm()
        tokenizer.padding_side = "left"
        return model, tokenizer

    def encode(self, conversations: list[list[dict]]) -> list[list[int]]:
        """Token ids of each conversation's prompt, ending where the judge's answer starts."""
        _, tokenizer = self._load()
        use_template = self.chat_template if self.chat_template is not None else bool(tokenizer.chat_template)
        if use_template:
            texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
            return tokenizer(texts, add_special_tokens=False)["input_ids"]
        texts = ["".join(message["content"] for message in c) for c in conversations]
        return tokenizer(texts, add_special_tokens=True)["input_ids"]

    def choice_token_ids(self, choices: list[str]) -> list[int]:
        """The single token id of each allowed answer; an answer that is not one token is an error."""
        _, tokenizer = self._load()
        ids = []
        for choice in choices:
            encoded = tokenizer.encode(choice, add_special_tokens=False)
            if len(encoded) != 1:
                raise ChaseError(f"judge '{self.model}': answer {choice!r} is {len(encoded)} tokens "
                                 f"({encoded}) in its tokenizer, not one; choose another judge or answer set")
            ids.append(encoded[0])
        return ids

    def _limit(self) -> int:
        _, tokenizer = self._load()
        return self.max_length or min(getattr(tokenizer, "model_max_length", 2048) or 2048, 1_000_000)

    def _batches(self, conversations, params: dict, run_batch, desc: str) -> list[JudgeReply]:
        """Cache lookup, length sort, batching and the too-long check shared by choose and complete."""
        replies: list[JudgeReply | None] = [None] * len(conversations)
        keys = [cache_key(self.name, c, params) for c in conversations]
        todo = []
        for i, key in enumerate(keys):
            stored = self.cache.get(key) if self.cache is not None else None
            if stored is not None:
                replies[i] = JudgeReply(text=stored.get("text"), choice_probs=stored.get("choice_probs"),
                                        cached=True, extra=stored.get("extra", {}))
            else:
                todo.append(i)
        encoded = self.encode([conversations[i] for i in todo]) if todo else []
        limit = self._limit()
        ready = []
        for i, ids in zip(todo, encoded):
            if len(ids) > limit:
                replies[i] = JudgeReply(failure=f"prompt of {len(ids)} tokens exceeds max_length {limit}",
                                        prompt_tokens=len(ids))
            else:
                ready.append((i, ids))
        ready.sort(key=lambda item: -len(item[1]))
        with progress_bar(desc, len(ready)) as advance:
            for start in range(0, len(ready), self.batch_size):
                batch = ready[start:start + self.batch_size]
                started = time.perf_counter()
                results = run_batch([ids for _, ids in batch])
                seconds = (time.perf_counter() - started) / len(batch)
                for (i, ids), reply in zip(batch, results):
                    reply.prompt_tokens, reply.seconds = len(ids), seconds
                    replies[i] = reply
                    if self.cache is not None:
                        self.cache.put(keys[i], {"text": reply.text, "choice_probs": reply.choice_probs,
                                                 "extra": reply.extra})
                advance(len(batch))
        return replies

    def _pad(self, batch: list[list[int]]):
        """Left-padded input ids, attention mask and position ids that ignore the padding."""
        import torch

        _, tokenizer = self._load()
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            mask[row, width - len(ids):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return input_ids.to(self.device), mask.to(self.device), positions.to(self.device)

    def choose(self, conversations: list[list[dict]], choices: list[str]) -> list[JudgeReply]:
        """One forward pass per batch: softmax over the answer tokens' logits at the next position."""
        import torch

        model, _ = self._load()
        token_ids = torch.tensor(self.choice_token_ids(choices))

        def run_batch(batch):
            input_ids, mask, positions = self._pad(batch)
            with torch.inference_mode():
                logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                               logits_to_keep=1).logits[:, -1, :].float()
            full = torch.softmax(logits, dim=-1)[:, token_ids]
            probs = torch.softmax(logits[:, token_ids], dim=-1)
            return [JudgeReply(choice_probs={c: float(p) for c, p in zip(choices, row)},
                               extra={"choice_mass": float(m.sum())}) for row, m in zip(probs, full)]

        return self._batches(conversations, {"choose": choices}, run_batch, f"rating with {self.model}")

    def complete(self, conversations: list[list[dict]], *, max_tokens: int,
                 temperature: float | None = None) -> list[JudgeReply]:
        """Batched generation (greedy when temperature is None or 0) of at most ``max_tokens`` tokens."""
        import torch

        model, tokenizer = self._load()
        sample = bool(temperature)

        def run_batch(batch):
            input_ids, mask, _ = self._pad(batch)
            with torch.inference_mode():
                out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_tokens,
                                     do_sample=sample, pad_token_id=tokenizer.pad_token_id,
                                     **({"temperature": temperature} if sample else {"temperature": None, "top_p": None, "top_k": None}))
            new = out[:, input_ids.shape[1]:]
            texts = tokenizer.batch_decode(new, skip_special_tokens=True)
            counts = (new != tokenizer.pad_token_id).sum(-1).tolist()
            return [JudgeReply(text=t, completion_tokens=n) for t, n in zip(texts, counts)]

        return self._batches(conversations, {"max_tokens": max_tokens, "temperature": temperature}, run_batch,
                             f"generating with {self.model}")
