"""The loopback judge server answering one-token choices (A/B, YES/NO) chosen by a rule on the prompt.

``ChoiceServer(decide)`` answers ``decide(prompt)`` (with top logprobs: the answer at p=0.9, the
other choices sharing the rest) and keeps JudgeServer's scripted faults (``[always500]``, ...);
``decide`` returning None gives a reply that names no choice.
"""

from __future__ import annotations

import math

from judge_server import MARKER, JudgeServer


class ChoiceServer(JudgeServer):
    def __init__(self, decide, choices: tuple[str, ...]):
        super().__init__(slow_seconds=0.2)
        self.decide, self.choices = decide, choices

    def answer(self, handler, body: dict, prompt: str, count: int) -> None:
        if MARKER.search(prompt):
            return super().answer(handler, body, prompt, count)
        answer = self.decide(prompt)
        text = answer if answer is not None else "I cannot tell."
        choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        if body.get("logprobs"):
            others = [c for c in self.choices if c != answer]
            share = 0.1 / len(others) if answer is not None else 1.0 / (len(self.choices) + 1)
            top = [{"token": c, "logprob": math.log(share), "bytes": None} for c in others]
            if answer is not None:
                top.insert(0, {"token": answer, "logprob": math.log(0.9), "bytes": None})
            else:
                top = [{"token": "I", "logprob": math.log(0.99), "bytes": None}]
            choice["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"],
                                               "bytes": None, "top_logprobs": top}]}
        self._send(handler, 200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                  "choices": [choice],
                                  "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}})
