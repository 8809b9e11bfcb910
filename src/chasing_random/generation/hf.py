"""Batched generation with Hugging Face ``generate``: left padding, length-sorted batches, stop at EOS.

Prompts are sorted by token length so a batch holds similar lengths (little padding); the
attention mask lets ``generate`` derive position ids per row, so batched greedy decoding gives the
same tokens as one prompt at a time.
"""

from __future__ import annotations

from typing import Callable

from chasing_random.generation.decoding import Decoding
from chasing_random.store import fingerprint

# on_batch(indices into prompts, generated texts, generated token counts)
BatchCallback = Callable[[list[int], list[str], list[int]], None]


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (memory peaks show up at once)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def generate_hf(model, tokenizer, prompts: list[str], decoding: Decoding, *, batch_size: int,
                on_batch: BatchCallback) -> None:
    """Generate an answer for every prompt, calling ``on_batch`` after each batch (for resume and progress)."""
    import torch
    from transformers import GenerationConfig

    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(prompts)["input_ids"]
    config = GenerationConfig(
        max_new_tokens=decoding.max_new_tokens, do_sample=not decoding.greedy,
        temperature=decoding.temperature if not decoding.greedy else None,
        top_p=decoding.top_p if not decoding.greedy else None, top_k=None if decoding.greedy else 0,
        eos_token_id=model.generation_config.eos_token_id or tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    device = next(model.parameters()).device
    for batch in length_sorted_batches([len(ids) for ids in encoded], batch_size):
        padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt").to(device)
        if not decoding.greedy:  # seeded by the batch's prompts, so a resumed run redoes a batch identically
            torch.manual_seed(int(fingerprint(decoding.seed, [prompts[i] for i in batch]), 16) % (2**63))
        with torch.inference_mode():
            output = model.generate(**padded, generation_config=config)
        new_tokens = output[:, padded["input_ids"].shape[1]:]
        eos_ids = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
        finished = torch.isin(new_tokens, torch.tensor(eos_ids + [config.pad_token_id], device=new_tokens.device))
        # tokens up to and including the first EOS (generate pads after it)
        counts = torch.where(finished.any(dim=1), finished.int().argmax(dim=1) + 1,
                             torch.full_like(finished[:, 0], new_tokens.shape[1], dtype=torch.long))
        texts = [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        on_batch(batch, texts, [int(c) for c in counts])
