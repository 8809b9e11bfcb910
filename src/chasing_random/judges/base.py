"""The judge interface shared by the rating strategies (AlpaGasus, DEITA) and pairwise evaluation.

A judge answers a batch of chat conversations in one of two ways:
- ``choose``: the probability of each allowed one-token answer at the first generated position
  (read from a forward pass locally, from logprobs on an endpoint);
- ``complete``: generated text, for judges that must be parsed like the API judges.
A reply that fails carries ``failure`` and its raw text; it never carries a made-up score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass
class JudgeReply:
    """One judged conversation: what came back, what it cost, or why it failed."""

    text: str | None = None
    choice_probs: dict[str, float] | None = None
    failure: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    price: float = 0.0
    seconds: float = 0.0
    cached: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None


class BackendModel:
    """A ``backend`` (local or openai) and a ``model``: what names a judge and its spec."""

    backend: str
    model: str

    @property
    def name(self) -> str:
        """``backend:model``, the spec string."""
        return f"{self.backend}:{self.model}"

    @property
    def is_api(self) -> bool:
        """Whether calls are paid in API tokens (rather than device time)."""
        return self.backend == "openai"


class Judge(BackendModel, ABC):
    """A batched judge: ``name`` is the spec it was built from and ``describe()`` what identifies
    its replies."""

    @abstractmethod
    def describe(self) -> dict:
        """What identifies this judge's replies in a manifest or a score-table key (never a secret)."""

    @abstractmethod
    def choose(self, conversations: list[list[dict]], choices: list[str]) -> list[JudgeReply]:
        """For each conversation, the normalised probabilities of the allowed one-token answers."""

    @abstractmethod
    def complete(self, conversations: list[list[dict]], *, max_tokens: int,
                 temperature: float | None = None) -> list[JudgeReply]:
        """For each conversation, the generated reply text."""
