"""Small helpers shared by command modules: printing JSON (``ui.echo_json``) and parsing comma lists."""

from __future__ import annotations

from chasing_random.errors import ChaseError
from chasing_random.ui import echo_json  # noqa: F401  (the command modules' import)


def int_list(text: str | None, option: str) -> list[int]:
    """Parse ``1000,5000,10000`` into integers; errors name the option."""
    if text is None or not text.strip():
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ChaseError(f"{option}: expected comma-separated integers, got '{text}'") from None
