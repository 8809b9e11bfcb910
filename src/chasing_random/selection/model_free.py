"""Strategies that need no model: random, strictrandom, longest and the full pool."""

from __future__ import annotations

import numpy as np

from chasing_random.data.pool import read_pool
from chasing_random.errors import ChaseError
from chasing_random.selection.base import (
    Ranking,
    SelectionContext,
    rank_by_score,
    register,
)


def seeded_order(ids: list[str], seed: int) -> list[str]:
    """A seeded permutation of ids (the same ids and seed give the same order)."""
    order = np.random.default_rng(seed).permutation(len(ids))
    return [ids[i] for i in order]


@register("random", seeded_trials=True)
def random_strategy(ctx: SelectionContext) -> Ranking:
    """Shuffle the pool with the seed; budget b is the first b rows (nested across budgets)."""
    return Ranking(seeded_order(list(ctx.pool["id"]), ctx.options.seed))


@register("strictrandom", seeded_trials=True)
def strict_random(ctx: SelectionContext) -> Ranking:
    """An independent draw per budget (not nested); with ``--source-pool`` drawn from the whole source."""
    source = read_pool(ctx.options.source_pool) if ctx.options.source_pool else ctx.pool
    ids = list(source["id"])
    per_budget = {}
    for budget in ctx.budgets:
        rng = np.random.default_rng([ctx.options.seed, budget])
        take = rng.choice(len(ids), size=min(budget, len(ids)), replace=False)
        per_budget[budget] = [ids[i] for i in take]
    largest = per_budget[max(ctx.budgets)]
    return Ranking(largest, per_budget=per_budget, lookup=source if ctx.options.source_pool else None,
                   info={"variant": "whole-source" if ctx.options.source_pool else "independent-per-budget",
                         "drawn_from": ctx.options.source_pool or str(ctx.pool_path)})


def response_lengths(ctx: SelectionContext) -> np.ndarray:
    """Response length per row: characters (the study), or tokens of ``--tokenizer``."""
    targets = list(ctx.pool["target"])
    if ctx.options.length_unit == "chars":
        return np.array([len(t) for t in targets])
    if ctx.options.length_unit != "tokens":
        raise ChaseError(f"unknown --length-unit '{ctx.options.length_unit}'; valid: chars, tokens")
    if not ctx.options.tokenizer:
        raise ChaseError("--length-unit tokens needs --tokenizer NAME")
    from chasing_random.models.loading import load_tokenizer

    tokenizer = load_tokenizer(ctx.options.tokenizer, trust_remote_code=ctx.options.trust_remote_code)
    encoded = tokenizer(targets, add_special_tokens=False)["input_ids"]
    return np.array([len(ids) for ids in encoded])


@register("longest")
def longest(ctx: SelectionContext) -> Ranking:
    """Longest responses first (Long Is More); ties keep a seeded shuffle order."""
    lengths = dict(zip(ctx.pool["id"], response_lengths(ctx)))
    ranked = rank_by_score(list(ctx.pool["id"]), np.array(list(lengths.values())), ctx.options.seed)
    return Ranking(ranked, scores={i: float(lengths[i]) for i in ranked}, info={"length_unit": ctx.options.length_unit})


@register("full")
def full(ctx: SelectionContext) -> Ranking:
    """The whole pool in pool order: the baseline of fine-tuning on everything."""
    return Ranking(list(ctx.pool["id"]))


BASE_MODEL = "smollm2-135m-instruct"
LENGTH_FIELDS = ("response", "both")


def token_lengths(ctx: SelectionContext) -> np.ndarray:
    """Tokens of the base model (``--model``, default SmolLM2) in the response, or prompt + response."""
    from chasing_random.models.loading import load_tokenizer

    o = ctx.options
    if o.length_field not in LENGTH_FIELDS:
        raise ChaseError(f"unknown --length-field '{o.length_field}'; valid: {', '.join(LENGTH_FIELDS)}")
    tokenizer = load_tokenizer(o.tokenizer or o.model or BASE_MODEL, trust_remote_code=o.trust_remote_code)
    columns = ["target"] if o.length_field == "response" else ["input", "target"]
    lengths = np.zeros(len(ctx.pool), dtype=np.int64)
    for column in columns:
        encoded = tokenizer(list(ctx.pool[column]), add_special_tokens=False)["input_ids"]
        lengths += np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
    return lengths


@register("tokenlength")
def tokenlength(ctx: SelectionContext) -> Ranking:
    """Most base-model tokens first (response, or prompt + response): the stable baseline of Xia et al. 2025."""
    lengths = token_lengths(ctx)
    ids = list(ctx.pool["id"])
    ranked = rank_by_score(ids, lengths.astype(np.float64), ctx.options.seed)
    by_id = dict(zip(ids, lengths.tolist()))
    return Ranking(ranked, scores={i: float(by_id[i]) for i in ranked},
                   info={"tokenizer": ctx.options.tokenizer or ctx.options.model or BASE_MODEL,
                         "length_field": ctx.options.length_field, "mean_tokens": float(lengths.mean())})
