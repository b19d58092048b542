import math

import pytest

from acoustemo.metrics.paired import mcnemar_exact, paired_comparison


def test_mcnemar_exact_matches_the_binomial_tail_by_hand():
    # 9 against 17 discordant samples: 2 * P(X <= 9), X ~ Bin(26, 1/2)
    by_hand = 2 * sum(math.comb(26, i) for i in range(10)) / 2**26
    assert mcnemar_exact(9, 17) == pytest.approx(by_hand)
    assert mcnemar_exact(17, 9) == pytest.approx(by_hand)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 2**10)


def test_paired_comparison_counts_only_the_discordant_samples():
    a = [True] * 70 + [True] * 6 + [False] * 10 + [False] * 14
    b = [True] * 70 + [False] * 6 + [True] * 10 + [False] * 14
    r = paired_comparison(a, b)
    assert r["samples"] == 100 and r["a"] == 76.0 and r["b"] == 80.0
    assert r["difference"] == pytest.approx(-4.0)
    assert (r["only_a"], r["only_b"]) == (6, 10)
    assert r["ci_low"] < -4.0 < r["ci_high"] and r["ci_low"] < 0 < r["ci_high"]
    assert r["p_value"] == pytest.approx(mcnemar_exact(6, 10))
    assert paired_comparison(a, b) == r  # a fixed seed: the interval is reproducible


def test_identical_systems_differ_by_nothing_and_a_clear_winner_is_found():
    same = paired_comparison([True, False] * 20, [True, False] * 20)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0 and same["p_value"] == 1.0
    clear = paired_comparison([True] * 40, [False] * 30 + [True] * 10)
    assert clear["ci_low"] > 50.0 and clear["p_value"] < 1e-6


def test_paired_comparison_refuses_unpaired_results():
    with pytest.raises(ValueError, match="same samples"):
        paired_comparison([True, False], [True])
    with pytest.raises(ValueError, match="confidence"):
        paired_comparison([True], [True], confidence=1.5)
