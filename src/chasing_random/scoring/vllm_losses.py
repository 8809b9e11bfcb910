"""IFD losses from vLLM: the loss engine's sequences scored by ``prompt_logprobs`` instead of a forward pass.

Each conditioned and direct sequence (``losses.build_sequences``: same tokens, same scored positions)
is sent as a token prompt with ``SamplingParams(max_tokens=1, prompt_logprobs=0)``; vLLM returns the
log-probability of every prompt token given the ones before it, and a row's loss is minus the mean over
its scored response tokens, as in ``losses.sequence_losses``.
"""

from __future__ import annotations

import numpy as np

from chasing_random.scoring.losses import Scored, build_sequences


def vllm_sequence_losses(llm, sequences: list[Scored]) -> np.ndarray:
    """Mean next-token cross-entropy (nats) over each sequence's scored tokens; NaN when it has none."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    losses = np.full(len(sequences), np.nan)
    todo = [i for i, s in enumerate(sequences) if s.count > 0]
    # the last scored token is the last one fed; vLLM generates one token after it, which is ignored
    prompts = [TokensPrompt(prompt_token_ids=sequences[i].ids[:sequences[i].start + sequences[i].count]) for i in todo]
    outputs = llm.generate(prompts, SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False)
    for i, output in zip(todo, outputs):
        seq, logprobs = sequences[i], output.prompt_logprobs
        scored = range(seq.start, seq.start + seq.count)
        losses[i] = -float(np.mean([logprobs[p][seq.ids[p]].logprob for p in scored]))
    return losses


def vllm_ifd_losses(llm, tokenizer, inputs: list[str], targets: list[str], template: str,
                    max_length: int) -> dict[str, np.ndarray]:
    """``loss_cond``, ``loss_direct``, ``n_response_tokens`` and ``truncated`` of each row, as in a loss table.

    ``tokenizer`` is the model's Hugging Face tokenizer (``models.loading.load_tokenizer``); ``max_length``
    must stay below the engine's ``max_model_len``.
    """
    cond, direct, kept, truncated = build_sequences(inputs, targets, tokenizer, template, max_length)
    losses = vllm_sequence_losses(llm, cond + direct)
    return {"loss_cond": losses[:len(cond)], "loss_direct": losses[len(cond):], "n_response_tokens": kept,
            "truncated": truncated}
