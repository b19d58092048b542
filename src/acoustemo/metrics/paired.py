"""Is one system really better than another on the same samples? A paired comparison of two accuracy scores.

Test sets of held-out speakers are small (120 RAVDESS clips of two actors), and two systems that differ by five
points may differ by six samples. Scored on the same samples, the comparison is paired: only the samples where
exactly one of the two is right say anything about which is better.

    paired_comparison([True, True, False], [True, False, False])
    # {'samples': 3, 'a': 66.7, 'b': 33.3, 'difference': 33.3, 'ci_low': ..., 'ci_high': ...,
    #  'only_a': 1, 'only_b': 0, 'p_value': 1.0}

``difference`` is ``a - b`` in percentage points with a percentile bootstrap confidence interval over samples
(resampled with replacement, a fixed seed so the numbers are reproducible); ``p_value`` is the exact two-sided
McNemar test on the discordant samples (a binomial test of ``only_a`` against ``only_a + only_b`` at 1/2).
"""

from __future__ import annotations

from collections.abc import Sequence


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of ``only_a`` successes in ``only_a + only_b`` trials
    at 1/2, the chance of a split at least this uneven if both systems were equally good (1.0 without any
    discordant sample)."""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue)


def paired_comparison(a: Sequence[bool], b: Sequence[bool], *, confidence: float = 0.95, resamples: int = 10000,
                      seed: int = 0) -> dict:
    """Accuracy of ``a`` and ``b`` (per-sample correctness, same samples in the same order), their difference
    ``a - b`` in points with a bootstrap confidence interval, the discordant counts and McNemar's exact p."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired_comparison: {len(a)} results against {len(b)}; both must score the same samples")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"paired_comparison: confidence must be in (0, 1), got {confidence}")
    n = len(a)
    if n == 0:
        nan = float("nan")
        return {"samples": 0, "a": nan, "b": nan, "difference": nan, "ci_low": nan, "ci_high": nan,
                "only_a": 0, "only_b": 0, "p_value": 1.0}
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    d = x.astype(np.float64) - y.astype(np.float64)  # +1 only a right, -1 only b right, 0 both or neither
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    means = 100.0 * d[idx].mean(axis=1)
    tail = 100.0 * (1.0 - confidence) / 2.0
    only_a, only_b = int((x & ~y).sum()), int((~x & y).sum())
    return {"samples": n, "a": 100.0 * x.mean(), "b": 100.0 * y.mean(), "difference": 100.0 * d.mean(),
            "ci_low": float(np.percentile(means, tail)), "ci_high": float(np.percentile(means, 100.0 - tail)),
            "only_a": only_a, "only_b": only_b, "p_value": mcnemar_exact(only_a, only_b)}
