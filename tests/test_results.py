"""Results across runs: seed spread, Welch's test between variants, the run statistics."""

import math

import pytest

from acoustemo.results import spread, val_drift, versus


def test_val_drift_compares_the_end_with_three_quarters_of_the_run():
    assert val_drift([(200, 0.40), (400, 0.30), (532, 0.28)]) == pytest.approx(-0.02)  # 400 is nearest 399
    assert val_drift([(100, 0.5), (500, 0.35), (800, 0.31), (1000, 0.30)]) == pytest.approx(-0.01)
    assert val_drift([(10, 0.5)]) != val_drift([(10, 0.5)])  # one evaluation: NaN


def test_versus_full_is_welchs_t_test_over_seeds():
    # 1, 2, 3 against 4, 5, 6: t = 3 / sqrt(1/3 + 1/3) = 3.674 on 4 degrees of freedom, two-sided p = 0.0213
    assert versus([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == {"difference": 3.0, "p": pytest.approx(0.0213, abs=1e-4)}
    assert versus([4.0, 5.0, 6.0], [1.0, 2.0, 3.0])["difference"] == -3.0
    # undefined: one run on a side, no spread on either, a NaN score
    assert versus([1.0], [2.0, 3.0])["p"] is None
    assert versus([1.0, 1.0], [2.0, 2.0]) == {"difference": 1.0, "p": None}
    assert versus([1.0, float("nan")], [2.0, 3.0])["p"] is None


def test_spread_of_one_run_or_a_nan_run_has_no_std():
    assert spread([1.0, 3.0]) == {"mean": 2.0, "runs": [1.0, 3.0], "std": pytest.approx(math.sqrt(2))}
    assert math.isnan(spread([5.0])["std"]) and spread([5.0])["mean"] == 5.0
    assert math.isnan(spread([1.0, float("nan")])["std"])
