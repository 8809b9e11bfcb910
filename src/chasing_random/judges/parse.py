"""Rating parsers for judge replies: ``first-number`` (default) and ``paper`` (the study's bug).

A parser returns the rating or raises ``RatingParseError`` with the reason; it never invents a
score, so a reply that says nothing usable is recorded as a failure with its raw text.
"""

from __future__ import annotations

import re

PARSERS = ("first-number", "paper")
NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)")


class RatingParseError(ValueError):
    """A reply from which no rating in the allowed range could be read."""


def parse_first_number(text: str, low: float = 0.0, high: float = 5.0) -> float:
    """The first number on the first non-empty line, which must lie in [low, high]."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        raise RatingParseError("empty reply")
    match = NUMBER.search(lines[0])
    if match is None:
        raise RatingParseError(f"no number on the first line: {lines[0][:80]!r}")
    value = float(match.group())
    if not low <= value <= high:
        raise RatingParseError(f"rating {value:g} outside [{low:g}, {high:g}]")
    return value


def parse_paper(text: str, low: float = 0.0, high: float = 5.0) -> float:
    """The study's parser, reproduced as a BUG: the first of the substrings '0'..'5' (in that
    order) that occurs anywhere in the reply, so "5.0" parses as 0 and "4.5" as 4."""
    for digit in range(int(low), int(high) + 1):
        if str(digit) in (text or ""):
            return float(digit)
    raise RatingParseError(f"none of the digits {int(low)}..{int(high)} in the reply")


def get_parser(name: str):
    """The parser function named ``first-number`` or ``paper``."""
    from chasing_random.errors import ChaseError

    if name == "first-number":
        return parse_first_number
    if name == "paper":
        return parse_paper
    raise ChaseError(f"unknown --parse '{name}'; valid: {', '.join(PARSERS)}")
