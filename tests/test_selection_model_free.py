"""The selection framework with the model-free strategies: files, prefixes, determinism, overlap."""

from __future__ import annotations

import json

import pytest

from chasing_random.data.pool import read_pool
from chasing_random.errors import ChaseError
from chasing_random.selection.base import SelectOptions, select
from chasing_random.selection.overlap import pairwise_overlap


@pytest.fixture
def pool(pool_from_rows):
    return pool_from_rows([{"instruction": f"q{i}", "output": "a" * (i % 7 + 1) + str(i)} for i in range(60)], "toy")


def ids(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_random_budgets_are_prefixes_and_seeds_differ(pool, tmp_path):
    out = tmp_path / "sel"
    select(pool, "random", [10, 20], out, seeds=[0, 1])
    first, second = ids(out / "toy_random_10_0.jsonl"), ids(out / "toy_random_20_0.jsonl")
    assert second[:10] == first
    assert ids(out / "toy_random_10_1.jsonl") != first
    ranking = [json.loads(line)["id"] for line in (out / "toy_random_0.ranking.jsonl").read_text().splitlines()]
    assert ranking[:20] == second and len(ranking) == 60


def test_same_seed_gives_byte_identical_files(pool, tmp_path):
    for folder in ("a", "b"):
        select(pool, "longest", [5, 15], tmp_path / folder, SelectOptions(seed=3))
        select(pool, "random", [5], tmp_path / folder, SelectOptions(seed=3))
    for name in ("toy_longest_5.jsonl", "toy_longest_15.jsonl", "toy_longest.ranking.jsonl", "toy_random_5_3.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_longest_sorts_by_response_characters(pool, tmp_path):
    select(pool, "longest", [60], tmp_path / "sel")
    targets = [json.loads(line)["target"] for line in (tmp_path / "sel" / "toy_longest_60.jsonl").read_text().splitlines()]
    assert [len(t) for t in targets] == sorted((len(t) for t in targets), reverse=True)


def test_longest_in_tokens(pool, tmp_path, tiny_lm):
    from transformers import AutoTokenizer

    manifest = select(pool, "longest", [5], tmp_path / "sel", SelectOptions(length_unit="tokens", tokenizer=tiny_lm))[0]
    assert manifest["info"]["length_unit"] == "tokens"
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    tokens = {row["id"]: len(tokenizer(row["target"], add_special_tokens=False)["input_ids"])
              for row in read_pool(pool).to_dict("records")}
    chosen = [tokens[i] for i in ids(tmp_path / "sel" / "toy_longest_5.jsonl")]
    assert chosen == sorted(tokens.values(), reverse=True)[:5]  # the 5 longest responses in tokens, longest first


def test_strictrandom_draws_each_budget_independently(pool, tmp_path):
    select(pool, "strictrandom", [10, 20], tmp_path / "sel", seeds=[0])
    small, large = ids(tmp_path / "sel" / "toy_strictrandom_10_0.jsonl"), ids(tmp_path / "sel" / "toy_strictrandom_20_0.jsonl")
    assert len(small) == 10 and len(large) == 20 and large[:10] != small


def test_underflow_is_reported_not_a_crash(pool, tmp_path):
    manifest = select(pool, "random", [50, 100], tmp_path / "sel")[0]
    assert manifest["underflow"] == {"100": 60}
    assert len(ids(tmp_path / "sel" / "toy_random_100_0.jsonl")) == 60


def test_full_and_manifest_counts(pool, tmp_path):
    manifest = select(pool, "full", [], tmp_path / "sel")[0]
    assert manifest["subsets"] == {"60": {"path": "toy_full_60.jsonl", "rows": 60}} and manifest["reconciles"]


def test_unknown_strategy_and_bad_budget(pool, tmp_path, run_cli):
    result = run_cli("select", "--pool", pool, "--strategy", "best", "--budgets", "5", "--out", tmp_path)
    assert result.code == 2 and "valid strategies" in result.err and "random" in result.err
    result = run_cli("select", "--pool", pool, "--strategy", "random", "--budgets", "5,x", "--out", tmp_path)
    assert result.code == 2 and "--budgets" in result.err


def test_overlap_of_random_trials(pool, tmp_path, run_cli):
    select(pool, "random", [30], tmp_path / "sel", seeds=[0, 1, 2])
    rows = pairwise_overlap([tmp_path / "sel"])
    assert len(rows) == 3 and all(0 < r["shared"] < 30 for r in rows)
    result = run_cli("select", "overlap", tmp_path / "sel")
    assert result.code == 0 and json.loads(result.out)[0]["size_a"] == 30
    with pytest.raises(ChaseError):
        pairwise_overlap([tmp_path / "nope"])


def test_strategy_options_are_declared_once_for_cli_and_config():
    import typer

    from chasing_random.cli import app
    from chasing_random.config import StrategyConfig
    from chasing_random.selection.base import option_fields

    command = typer.main.get_command(app).commands["select"]
    cli = {p.name: p for p in command.params}
    for name, _, default, meta in option_fields():  # every declared option, with its default and help
        assert cli[name].default == default and cli[name].help == meta["help"]
    with pytest.raises(ValueError, match="strategy option 'clusters'"):
        StrategyConfig(name="cherry", options={"clusters": "many"})
