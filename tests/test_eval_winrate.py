"""Win-rate metrics: AlpacaEval's published numbers from its published annotations, bad preferences, LC."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chasing_random.errors import ChaseError
from chasing_random.evaluation.winrate import read_annotations, winrate_metrics

PUBLISHED = ("alpaca-7b", "gpt-3.5-turbo-1106")
EXACT_KEYS = ("n_wins", "n_wins_base", "n_draws", "n_total", "avg_length")
FLOAT_KEYS = ("win_rate", "standard_error", "discrete_win_rate")


def _annotation(preference, out1="a reference answer", out2="the model answer"):
    return {"instruction": "q", "output_1": out1, "generator_1": "ref", "output_2": out2, "generator_2": "model",
            "preference": preference}


@pytest.mark.parametrize("model", PUBLISHED)
def test_published_leaderboard_numbers_are_reproduced(shared_data, model):
    folder = shared_data / "alpacaeval"
    with open(folder / "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv") as handle:
        rows = {row[""]: row for row in csv.DictReader(handle)}
    metrics = winrate_metrics(read_annotations(folder / f"{model}_weighted_alpaca_eval_gpt4_turbo_annotations.json"))
    published = rows[model]
    for key in EXACT_KEYS:
        assert metrics[key] == int(published[key]), key
    # The files store preferences rounded to 10 decimals; the leaderboard used full precision.
    for key in FLOAT_KEYS:
        assert metrics[key] == pytest.approx(float(published[key]), rel=1e-12, abs=0), key
    assert metrics["bad_preferences"]["total"] == 0
    # Our length adjustment lacks AlpacaEval's instruction-difficulty and gamed-baseline terms, so it
    # has a name of its own: it lands in the same direction (above the raw win rate), not on the LC.
    assert "length_controlled_winrate" not in metrics
    assert metrics["win_rate"] < metrics["length_adjusted_win_rate"] < 100
    assert float(published["length_controlled_winrate"]) > metrics["win_rate"]
    assert 1 < metrics["length_adjusted_se"] < 10


def test_bad_preferences_are_counted_not_dropped_silently():
    annotations = [_annotation(2.0), _annotation(1.0), _annotation(1.5), _annotation(None), _annotation(3.0),
                   _annotation("2"), _annotation(0), _annotation(float("nan"))]
    metrics = winrate_metrics(annotations)
    bad = metrics["bad_preferences"]
    assert (bad["null"], bad["out_of_range"], bad["not_a_number"], bad["total"]) == (2, 1, 1, 4)
    assert [b["index"] for b in bad["first"]] == [3, 4, 5, 7]
    assert metrics["n_records"] == 8
    assert metrics["n_total"] == 4  # 2, 1, 1.5, and the legacy draw code 0
    assert (metrics["n_wins"], metrics["n_wins_base"], metrics["n_draws"]) == (1, 1, 2)
    assert metrics["win_rate"] == pytest.approx(50.0)
    assert metrics["n_total"] + bad["total"] == metrics["n_records"]


def test_discrete_rounds_each_preference():
    metrics = winrate_metrics([_annotation(1.6), _annotation(1.4), _annotation(1.9), _annotation(1.5)])
    assert metrics["discrete_win_rate"] == pytest.approx((1 + 0 + 1 + 0.5) / 4 * 100)
    assert metrics["win_rate"] == pytest.approx((0.6 + 0.4 + 0.9 + 0.5) / 4 * 100)


def test_length_control_removes_a_pure_length_effect():
    rng = np.random.default_rng(0)
    annotations = []
    for _ in range(400):
        len1, len2 = rng.integers(50, 1500, size=2)
        delta = (len1 - len2) / 600
        p_model = 1 / (1 + math.exp(-(0.0 - 2.0 * math.tanh(delta))))  # equal quality, judge likes length
        annotations.append(_annotation(1 + p_model, "x" * int(len1), "y" * int(len2)))
    metrics = winrate_metrics(annotations)
    assert metrics["length_adjusted_win_rate"] == pytest.approx(50.0, abs=1.0)
    assert metrics["length_adjusted_model"]["tanh_length_delta"] < -1
    assert 0 < metrics["length_adjusted_se"] < 5


def test_read_annotations_names_the_bad_record(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps([_annotation(2.0), {"instruction": "q", "output_1": "a", "preference": 1}], indent=1))
    with pytest.raises(ChaseError, match=r"ann.json:\d+: field 'output_2'"):
        read_annotations(path)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 5),
                          st.text(max_size=3)), min_size=1, max_size=40))
def test_counts_always_reconcile(preferences):
    metrics = winrate_metrics([_annotation(p) for p in preferences])
    assert metrics["n_total"] + metrics["bad_preferences"]["total"] == len(preferences)
    assert metrics["n_wins"] + metrics["n_wins_base"] + metrics["n_draws"] == metrics["n_total"]
    if metrics["n_total"]:
        assert 0 <= metrics["win_rate"] <= 100
        assert 0 <= metrics["discrete_win_rate"] <= 100


def test_cli_winrate_reports_bad_preferences(tmp_path, run_cli):
    path = tmp_path / "ann.jsonl"
    path.write_text("".join(json.dumps(_annotation(p)) + "\n" for p in (2.0, 1.2, None, 7)))
    result = run_cli("evaluate", "winrate", "--annotations", path, "--out", tmp_path / "m.json")
    assert result.code == 0, result.err
    assert "2 of 4 preferences are unusable" in result.err
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["n_total"] == 2 and saved["win_rate"] == pytest.approx(60.0)
    assert json.loads(result.out)["bad_preferences"]["out_of_range"] == 1
