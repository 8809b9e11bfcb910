"""Strategies that need no model: random, strictrandom, longest and the full pool.

They read only the pool columns they need (ids, response texts chunk by chunk), so they scale to
million-row pools.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chasing_random.data.pool import pool_column
from chasing_random.errors import ChaseError
from chasing_random.selection.base import (
    DEFAULT_MODEL,
    Ranking,
    SelectionContext,
    rank_by_score,
    rank_order,
    register,
)


def seeded_order(ids: list[str], seed: int) -> list[str]:
    """A seeded permutation of ids (the same ids and seed give the same order)."""
    order = np.random.default_rng(seed).permutation(len(ids))
    return [ids[i] for i in order]


@register("random", seeded_trials=True)
def random_strategy(ctx: SelectionContext) -> Ranking:
    """Shuffle the pool with the seed; budget b is the first b rows (nested across budgets)."""
    return Ranking(seeded_order(ctx.column("id"), ctx.options.seed))


@register("strictrandom", seeded_trials=True)
def strict_random(ctx: SelectionContext) -> Ranking:
    """An independent draw per budget (not nested); with ``--source-pool`` drawn from the whole source."""
    ids = pool_column(ctx.options.source_pool, "id") if ctx.options.source_pool else ctx.column("id")
    per_budget = {}
    for budget in ctx.budgets:
        rng = np.random.default_rng([ctx.options.seed, budget])
        take = rng.choice(len(ids), size=min(budget, len(ids)), replace=False)
        per_budget[budget] = [ids[i] for i in take]
    largest = per_budget[max(ctx.budgets)]
    return Ranking(largest, per_budget=per_budget, lookup=Path(ctx.options.source_pool) if ctx.options.source_pool else None,
                   info={"variant": "whole-source" if ctx.options.source_pool else "independent-per-budget",
                         "drawn_from": ctx.options.source_pool or str(ctx.pool_path)})


def response_lengths(ctx: SelectionContext) -> np.ndarray:
    """Response length per row: characters (the study), or tokens of ``--tokenizer``; read chunk by chunk."""
    unit = ctx.options.length_unit
    if unit not in ("chars", "tokens"):
        raise ChaseError(f"unknown --length-unit '{unit}'; valid: chars, tokens")
    if unit == "tokens" and not ctx.options.tokenizer:
        raise ChaseError("--length-unit tokens needs --tokenizer NAME")
    return ctx.tables.lengths(["target"], ctx.options.tokenizer if unit == "tokens" else None,
                              trust_remote_code=ctx.options.trust_remote_code)


@register("longest")
def longest(ctx: SelectionContext) -> Ranking:
    """Longest responses first (Long Is More); ties keep a seeded shuffle order."""
    ids = ctx.column("id")
    lengths = response_lengths(ctx)
    order = rank_order(lengths, ctx.options.seed)
    return Ranking([ids[k] for k in order], scores={ids[k]: float(lengths[k]) for k in order},
                   info={"length_unit": ctx.options.length_unit})


@register("full")
def full(ctx: SelectionContext) -> Ranking:
    """The whole pool in pool order: the baseline of fine-tuning on everything."""
    return Ranking(ctx.column("id"))


LENGTH_FIELDS = ("response", "both")


def token_lengths(ctx: SelectionContext) -> np.ndarray:
    """Tokens of the base model (``--model``, default SmolLM2) in the response, or prompt + response."""
    o = ctx.options
    if o.length_field not in LENGTH_FIELDS:
        raise ChaseError(f"unknown --length-field '{o.length_field}'; valid: {', '.join(LENGTH_FIELDS)}")
    columns = ["target"] if o.length_field == "response" else ["input", "target"]
    return ctx.tables.lengths(columns, o.tokenizer or o.model or DEFAULT_MODEL, trust_remote_code=o.trust_remote_code)


@register("tokenlength")
def tokenlength(ctx: SelectionContext) -> Ranking:
    """Most base-model tokens first (response, or prompt + response): the stable baseline of Xia et al. 2025."""
    lengths = token_lengths(ctx)
    ids = ctx.column("id")
    ranked = rank_by_score(ids, lengths.astype(np.float64), ctx.options.seed)
    by_id = dict(zip(ids, lengths.tolist()))
    return Ranking(ranked, scores={i: float(by_id[i]) for i in ranked},
                   info={"tokenizer": ctx.options.tokenizer or ctx.options.model or DEFAULT_MODEL,
                         "length_field": ctx.options.length_field, "mean_tokens": float(lengths.mean())})
