"""The promotion gate's decision on hand-set MAP@12 values."""

from recsys.ranking.baselines import BASELINE
from recsys.registry import decide


def test_a_first_challenger_that_does_not_beat_the_baseline_is_refused_and_told_why():
    decision = decide(0.0210, None, baseline_map=0.0253)
    assert not decision.promote
    assert BASELINE in decision.reason and "0.02100" in decision.reason
    assert "0.02530" in decision.reason


def test_a_tie_with_the_baseline_is_not_a_win():
    assert not decide(0.03, None, baseline_map=0.03).promote


def test_a_challenger_must_beat_both_the_baseline_and_the_champion():
    assert decide(0.036, None, baseline_map=0.022).promote
    assert decide(0.036, 0.030, baseline_map=0.022).promote
    assert not decide(0.036, 0.040, baseline_map=0.022).promote
    refused = decide(0.036, 0.030, baseline_map=0.037)
    assert not refused.promote and BASELINE in refused.reason


def test_without_a_recorded_baseline_only_the_champion_counts():
    assert decide(0.02, None).promote and not decide(0.02, 0.03).promote
