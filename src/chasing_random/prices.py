"""What work costs: dollars per device-hour and per million API tokens, and the FLOP/s that
``--dry-run`` estimates assume. The experiment file's ``prices:`` and the results' spend both read it.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from chasing_random.errors import ChaseError
from chasing_random.schema import Strict

DEFAULT_DEVICE_HOUR = {"cpu": 0.10, "T4": 0.35, "L4": 0.80, "A10G": 1.00, "A100": 1.80, "H100": 3.00, "mps": 0.0}
# USD per million tokens (input, output): list prices of common judge models.
DEFAULT_API_PER_MILLION = {"gpt-4o": {"input": 2.50, "output": 10.00}, "gpt-4o-mini": {"input": 0.15, "output": 0.60},
                           "gpt-4.1": {"input": 2.00, "output": 8.00}, "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
                           "gpt-4-turbo": {"input": 10.00, "output": 30.00},
                           "gpt-3.5-turbo": {"input": 0.50, "output": 1.50}}
DEFAULT_DEVICE_FLOPS = {"cpu": 5.0e10, "T4": 2.5e13, "L4": 4.0e13, "A10G": 5.0e13, "A100": 1.25e14, "H100": 3.0e14}


class ApiPrice(Strict):
    """USD per million input (prompt) and output (completion) tokens of one API model. A single
    number (the format before the split) prices both directions alike."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)

    @model_validator(mode="before")
    @classmethod
    def _one_number(cls, value):
        return {"input": value, "output": value} if isinstance(value, (int, float)) else value


class PricesConfig(Strict):
    """Dollars per device-hour by device type and per million API tokens by model and direction (merged
    over the defaults above), and sustained FLOP/s per device used only by ``--dry-run`` estimates."""

    device_hour: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_DEVICE_HOUR))
    api_per_million_tokens: dict[str, ApiPrice] = Field(default_factory=lambda: dict(DEFAULT_API_PER_MILLION),
                                                        validate_default=True)
    device_flops: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_DEVICE_FLOPS))

    @field_validator("device_hour", "api_per_million_tokens", "device_flops", mode="before")
    @classmethod
    def _merge_over_defaults(cls, value, info):
        defaults = {"device_hour": DEFAULT_DEVICE_HOUR, "api_per_million_tokens": DEFAULT_API_PER_MILLION,
                    "device_flops": DEFAULT_DEVICE_FLOPS}[info.field_name]
        return {**defaults, **value} if isinstance(value, dict) else value

    def api_price(self, model: str) -> ApiPrice:
        """The price of an API model; an unknown model is an error naming the config key to set."""
        if model not in self.api_per_million_tokens:
            raise ChaseError(f"API model '{model}' has no price: set prices.api_per_million_tokens.{model}: "
                             "{input: USD, output: USD} (per million tokens) in the experiment config "
                             f"(priced: {', '.join(sorted(self.api_per_million_tokens))})")
        return self.api_per_million_tokens[model]
