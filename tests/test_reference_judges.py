"""Judge-based methods against their authors' behaviour: AlpaGasus's rating parsers on a table of replies,
DEITA's expected score from the six logits against a hand computation."""

from __future__ import annotations

import math

import pytest

from chasing_random.judges.parse import RatingParseError, parse_first_number, parse_paper
from chasing_random.scoring.ratings import DEITA_CHOICES, DEITA_PROMPTS, expected_choice

FAIL = "fail"  # our parser records a failure (never a made-up score)
MANUAL = -1  # AlpaGasus's parse_score logs "You must manually fix the score pair" and returns -1
CRASH = "crash"  # AlpaGasus's parse_score raises (float(" ") on the 'Score:' branch)

# reply, the study's parser (substrings '0'..'5' in that order, METHODS.md), AlpaGasus's parse_score
# (gpt4life/alpagasus rating/filter.py: float(first line), else the text after 'score:' / the first
# character after 'Score:'), our first-number. Expected values worked out by hand from those rules.
REPLIES = [
    ("4.5", 4.0, 4.5, 4.5),
    ("5.0", 0.0, 5.0, 5.0),
    ("5", 5.0, 5.0, 5.0),
    ("4.5\nThe response is accurate.", 4.0, 4.5, 4.5),
    ("Score: 4/5", 4.0, CRASH, 4.0),
    ("Score:4\nGood", 4.0, 4.0, 4.0),
    ("score: 3.5\nMostly right", 3.0, 3.5, 3.5),
    ("I would rate this 3", 3.0, MANUAL, 3.0),
    ("4.5 out of 5", 4.0, MANUAL, 4.5),
    ("10", 0.0, 10.0, FAIL),
    ("The answer is wrong.", FAIL, MANUAL, FAIL),
    ("", FAIL, MANUAL, FAIL),
]


def _outcome(parser, text):
    try:
        return parser(text)
    except RatingParseError:
        return FAIL


@pytest.mark.parametrize("reply, study, alpagasus, first", REPLIES)
def test_paper_mode_is_the_studys_parser(reply, study, alpagasus, first):
    assert _outcome(parse_paper, reply) == study


@pytest.mark.parametrize("reply, study, alpagasus, first", REPLIES)
def test_first_number_agrees_with_alpagasus_wherever_alpagasus_reads_a_rating_in_range(reply, study, alpagasus, first):
    assert _outcome(parse_first_number, reply) == first
    if isinstance(alpagasus, float) and 0 <= alpagasus <= 5:
        assert first == alpagasus  # the same number; where AlpaGasus asks for a manual fix or crashes, we read
        # the first number of the first line (or record a failure), and "10" is out of range, not a 10


def test_deita_expected_score_by_hand():
    equal = {c: 1 / 6 for c in DEITA_CHOICES}
    assert expected_choice(equal) == (pytest.approx(3.5), "1")
    # logits 0,0,0,0,0,ln 5: probabilities 1/10 each and 5/10 for "6": (1+2+3+4+5)/10 + 6*5/10 = 4.5
    logits = [0.0] * 5 + [math.log(5)]
    total = sum(math.exp(x) for x in logits)
    probs = {c: math.exp(x) / total for c, x in zip(DEITA_CHOICES, logits)}
    assert expected_choice(probs) == (pytest.approx(4.5), "6")


def test_deita_scores_are_the_expectation_over_the_six_logits_of_the_model(tiny_lm, tmp_path):
    """Through the whole path (prompt, chat template, local judge, score table) against logits read by hand."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoModelForCausalLM

    from chasing_random.judges.factory import make_judge
    from chasing_random.scoring.ratings import deita_scores
    from chasing_random.store import ArtifactStore

    rows = [("Name a primary colour.", "Red."), ("Add 2 and 3.", "2 + 3 = 5, so the sum is five.")]
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(
        [{"id": f"r{i}", "input": q, "target": a, "source": "test", "meta": "{}"} for i, (q, a) in enumerate(rows)]),
        preserve_index=False), pool)
    judge = make_judge(f"local:{tiny_lm}", batch_size=2)
    table = deita_scores(pool, judge, "quality", store=ArtifactStore(tmp_path / "store")).frame
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32).eval()
    token_ids = judge.choice_token_ids(DEITA_CHOICES)
    for (question, answer), score in zip(rows, table["score"]):
        conversation = [{"role": "user", "content": DEITA_PROMPTS["quality"].format(input=question, target=answer)}]
        ids = judge.encode([conversation])[0]
        with torch.no_grad():
            last = model(torch.tensor([ids])).logits[0, -1].tolist()
        six = [last[t] for t in token_ids]
        weights = [math.exp(x - max(six)) for x in six]
        assert score == pytest.approx(sum((k + 1) * w for k, w in enumerate(weights)) / sum(weights), abs=1e-5)
