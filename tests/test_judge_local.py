"""The local judge (tiny random Llama, real tokenizer) and the rating parsers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chasing_random.errors import ChaseError
from chasing_random.judges.factory import make_judge, parse_judge_options
from chasing_random.judges.parse import RatingParseError, parse_first_number, parse_paper

CONVERSATIONS = [[{"role": "user", "content": "Rate this answer from 0 to 5: " + "word " * n}] for n in (1, 30, 7, 60, 3)]


def test_forward_choices_match_unbatched_and_cache(tiny_lm, tmp_path):
    batched = make_judge(f"local:{tiny_lm}", batch_size=4, cache_dir=str(tmp_path / "cache"))
    single = make_judge(f"local:{tiny_lm}", batch_size=1)
    choices = [str(k) for k in range(6)]
    a, b = batched.choose(CONVERSATIONS, choices), single.choose(CONVERSATIONS, choices)
    for x, y in zip(a, b):
        assert x.ok and math.isclose(sum(x.choice_probs.values()), 1.0, rel_tol=1e-5)
        for c in choices:  # left padding with position ids gives the unpadded answer
            assert x.choice_probs[c] == pytest.approx(y.choice_probs[c], abs=1e-4)
    again = make_judge(f"local:{tiny_lm}", batch_size=4, cache_dir=str(tmp_path / "cache")).choose(CONVERSATIONS, choices)
    assert all(r.cached for r in again) and [r.choice_probs for r in again] == [r.choice_probs for r in a]


def test_generate_is_batched_greedy_and_deterministic(tiny_lm):
    judge = make_judge(f"local:{tiny_lm}", batch_size=3)
    first = judge.complete(CONVERSATIONS, max_tokens=4)
    single = make_judge(f"local:{tiny_lm}", batch_size=1).complete(CONVERSATIONS, max_tokens=4)
    assert [r.text for r in first] == [r.text for r in single]
    assert all(r.ok and r.completion_tokens <= 4 for r in first)


def test_multi_token_answers_and_long_prompts_fail_loudly(tiny_lm):
    judge = make_judge(f"local:{tiny_lm}")
    with pytest.raises(ChaseError, match="not one"):
        judge.choose(CONVERSATIONS[:1], ["10", "5"])
    lengths = [len(ids) for ids in judge.encode(CONVERSATIONS)]
    judge.max_length = lengths[2] + 1  # between the 7-word and the 30-word prompt
    replies = judge.choose(CONVERSATIONS, ["1", "2"])
    assert [r.ok for r in replies] == [True, False, True, False, True]
    assert f"exceeds max_length {lengths[2] + 1}" in replies[1].failure and replies[1].choice_probs is None


def test_judge_options_parse():
    assert parse_judge_options(["a=1", "b=0.5", "c=true", "d=http://x:1/v1"]) == {"a": 1, "b": 0.5, "c": True, "d": "http://x:1/v1"}
    with pytest.raises(ChaseError, match="KEY=VALUE"):
        parse_judge_options(["nope"])


@pytest.mark.parametrize("text, first, paper", [("5.0", 5.0, 0.0), ("4.5\nGood.", 4.5, 4.0), ("Score: 3", 3.0, 3.0),
                                                ("\n 2 out of 5", 2.0, 2.0)])
def test_parsers_on_known_replies(text, first, paper):
    assert parse_first_number(text) == first and parse_paper(text) == paper


@given(st.text())
def test_parsers_return_a_rating_in_range_or_fail(text):
    for parser in (parse_first_number, parse_paper):
        try:
            value = parser(text)
        except RatingParseError:
            continue
        assert 0 <= value <= 5


@given(st.floats(0, 5, allow_nan=False).map(lambda x: round(x, 1)), st.text(alphabet="abc \n.", max_size=20))
def test_first_number_reads_the_rating_line(value, rest):
    assert parse_first_number(f"{value}\n{rest}") == value
