"""Results across runs: seed aggregation, significance tests, and the tables and figures commands write.

Shared by ``acoustemo ablate`` (variants over seeds), ``acoustemo snr`` (models over noise levels) and the
benchmarks; the per-sample paired test lives in :mod:`acoustemo.metrics.paired`.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from .errors import ConfigError


def spread(xs: list[float]) -> dict:
    """``{"mean", "std", "runs"}`` of one score over runs (seeds, models); ``std`` is NaN for one run or where a
    run's score is NaN (the spread is unknown)."""
    xs = [float(x) for x in xs]
    nan = any(math.isnan(x) for x in xs)
    return {"mean": statistics.fmean(xs), "runs": xs,
            "std": float("nan") if nan or len(xs) < 2 else statistics.stdev(xs)}


def mean_std(cell: dict, width: int, digits: int = 2) -> str:
    """``"  12.34 ± 0.56"`` right-aligned in ``width``; one run shows its score alone (no ±)."""
    if len(cell["runs"]) > 1:
        return f"{cell['mean']:{width - 7}.{digits}f} ± {cell['std']:4.{digits}f}"
    return f"{cell['mean']:{width - 7}.{digits}f}       "


def versus(base: list[float], other: list[float]) -> dict:
    """``other`` minus ``base`` (difference of means) and the two-sided p of Welch's t-test; ``p`` is None where
    it is undefined (fewer than two runs on a side, no spread on either, or a NaN score)."""
    from scipy.stats import ttest_ind

    difference = statistics.fmean(other) - statistics.fmean(base)
    p = None
    if len(base) > 1 and len(other) > 1 and not any(math.isnan(x) for x in (*base, *other)) \
            and (statistics.stdev(base) > 0 or statistics.stdev(other) > 0):
        p = float(ttest_ind(other, base, equal_var=False).pvalue)
    return {"difference": difference, "p": p}


def val_drift(points: list[tuple[int, float]]) -> float:
    """Validation loss at the last evaluation minus that at the evaluation nearest three quarters of the run's
    steps: about 0 when the run had converged over its last quarter, clearly negative while it was still
    learning (NaN with fewer than two evaluations)."""
    if len(points) < 2:
        return float("nan")
    quarter = 0.75 * points[-1][0]
    _, before = min(points[:-1], key=lambda p: abs(p[0] - quarter))
    return points[-1][1] - before


def save_figure(fig, path: str | Path) -> None:
    """A matplotlib figure as PNG, written atomically, then closed."""
    import matplotlib.pyplot as plt

    from .io import atomic_open

    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_breakdown(spec: str) -> tuple[str, dict[str, str]]:
    """``FILE:FIELD`` -> (FIELD, {sample id: its value of FIELD}) from a JSONL file, to break a score down."""
    from .io import read_text

    path, sep, field = spec.rpartition(":")
    if not sep or not path or not field:
        raise ConfigError(f"--breakdown {spec!r}: expected FILE:FIELD")
    groups = {}
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            groups[str(row["id"])] = str(row[field])
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{path}:{n}: expected a JSON object with \"id\" and {field!r}") from None
    return field, groups
