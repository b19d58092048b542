"""Set-overlap scores of open-vocabulary predictions: EMER Accuracy_s / Recall_s and the emotion wheels.

Every metric maps each label to a *key* (its synonym group, lexicon word, wheel cluster...), turns
the gold and predicted lists of a sample into sets of keys, and scores the sample with

    accuracy (precision) = |G(y) ∩ G(ŷ)| / |G(ŷ)|        recall = |G(y) ∩ G(ŷ)| / |G(y)|

averaged over samples. An empty prediction scores 0 and 0; a sample whose gold set is empty is
skipped (it has nothing to recall). Labels a metric cannot map are dropped.

All public functions take in-memory ``{name: [label, ...]}`` dicts and return percentages (0-100).
A name of the gold dict missing from the predictions counts as an empty prediction, with one
warning that says how many; predicted names that are not in the gold dict are ignored, also with
one warning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .labels import normalize_label
from .lexicon import LEVELS, NUM_WHEELS, Lexicon, load_lexicon

_QUOTE_SPLIT = re.compile(r"['\"‘’]")


class ScoreWarning(UserWarning):
    """A scoring input that was accepted but deserves attention (missing predictions, extra names)."""


KeyFn = Callable[[str], "str | None"]  # label -> key, None drops the label


@dataclass(frozen=True)
class Overlap:
    """Sample-averaged precision and recall of one metric, as fractions in [0, 1]."""

    precision: float  # mean over scored samples of |gold ∩ pred| / |pred| (0 for an empty pred)
    recall: float  # mean over scored samples of |gold ∩ pred| / |gold|
    num_samples: int  # samples scored (gold set not empty after mapping)

    @property
    def fscore(self) -> float:
        """2PR / (P + R) of the averaged precision and recall (0 when both are 0)."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def align_predictions(
    gold: Mapping[str, Sequence[str]], pred: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """The predictions in the gold's order; a missing name becomes ``[]`` (one warning with the count)."""
    missing = [name for name in gold if name not in pred]
    extra = [name for name in pred if name not in gold]
    if missing:
        warnings.warn(
            f"{len(missing)} of {len(gold)} gold samples have no prediction and count as empty "
            f"predictions (first: {missing[0]!r})",
            ScoreWarning,
            stacklevel=3,
        )
    if extra:
        warnings.warn(
            f"{len(extra)} predicted samples are not in the gold labels and are ignored (first: {extra[0]!r})",
            ScoreWarning,
            stacklevel=3,
        )
    return {name: list(pred.get(name, ())) for name in gold}


def _keys(labels: Iterable[str], key: KeyFn) -> set[str]:
    out = set()
    for label in labels:
        k = key(normalize_label(label))
        if k is not None:
            out.add(k)
    return out


def overlap(
    gold: Mapping[str, Sequence[str]],
    pred: Mapping[str, Sequence[str]],
    key: KeyFn | None = None,
    *,
    sample_key: Callable[[str], KeyFn] | None = None,
) -> Overlap:
    """Sample-averaged precision/recall after mapping labels through ``key`` (or ``sample_key(name)``).

    ``pred`` must hold every name of ``gold`` (see :func:`align_predictions`). Without a key the
    normalised label itself is the key.
    """
    precisions, recalls = [], []
    for name, gold_labels in gold.items():
        fn = sample_key(name) if sample_key is not None else (key or _identity)
        g = _keys(gold_labels, fn)
        if not g:
            continue
        p = _keys(pred[name], fn)
        hits = len(g & p)
        precisions.append(hits / len(p) if p else 0.0)
        recalls.append(hits / len(g))
    n = len(precisions)
    if n == 0:
        return Overlap(0.0, 0.0, 0)
    return Overlap(sum(precisions) / n, sum(recalls) / n, n)


def _identity(label: str) -> str:
    return label


def _group_keys(groups: Sequence[Sequence[str]]) -> dict[str, str]:
    """label -> first label of its group; a label in several groups keeps the first group."""
    out: dict[str, str] = {}
    for group in groups:
        normalized = [normalize_label(x) for x in group if x.strip()]
        for label in normalized:
            out.setdefault(label, normalized[0])
    return out


def _split_like_grouping(labels: Sequence[str], table: Mapping[str, str]) -> list[str]:
    """Split a label at apostrophes when the grouping file only knows its pieces.

    The grouping files of the MERTools pipeline were generated from label lists that had been split
    at every quote character, so ``"don't believe"`` appears there as ``"don"`` and ``"t believe"``.
    A label that is missing from its sample's groups while all of its pieces are present is
    replaced by the pieces, which is how the published scores counted it.
    """
    out = []
    for label in labels:
        label = normalize_label(label)
        pieces = [p.strip() for p in _QUOTE_SPLIT.split(label) if p.strip()]
        if label not in table and len(pieces) > 1 and all(p in table for p in pieces):
            out.extend(pieces)
        else:
            out.append(label)
    return out


def _emer_result(result: Overlap) -> dict:
    acc, rec = 100 * result.precision, 100 * result.recall
    return {"accuracy_s": acc, "recall_s": rec, "avg": (acc + rec) / 2, "num_samples": result.num_samples}


def score_grouped(
    gold: Mapping[str, Sequence[str]],
    pred: Mapping[str, Sequence[str]],
    groups: Mapping[str, Sequence[Sequence[str]]],
) -> dict:
    """EMER Accuracy_s / Recall_s with per-sample synonym groups (as in ``openset-synonym.json``).

    ``groups[name]`` is a list of synonym groups; each label maps to the first element of its group.
    A label outside every group of its sample (or of a sample without groups) is its own group.

    Returns ``{"accuracy_s", "recall_s", "avg", "num_samples"}``, scores in percent.
    """
    pred = align_predictions(gold, pred)
    missing = [name for name in gold if name not in groups]
    if missing:
        warnings.warn(
            f"{len(missing)} samples have no synonym groups; their labels are compared as written "
            f"(first: {missing[0]!r})",
            ScoreWarning,
            stacklevel=2,
        )
    tables = {name: _group_keys(groups.get(name, ())) for name in gold}
    gold = {name: _split_like_grouping(labels, tables[name]) for name, labels in gold.items()}
    pred = {name: _split_like_grouping(labels, tables[name]) for name, labels in pred.items()}

    def sample_key(name: str) -> KeyFn:
        table = tables[name]
        return lambda label: table.get(label, label)

    return _emer_result(overlap(gold, pred, sample_key=sample_key))


def wheel_metric_names() -> list[str]:
    """``["M1", "M2", "M3-W1-L1", "M3-W1-L2", ..., "M3-W5-L2"]``: the 12 emotion-wheel metrics."""
    names = ["M1", "M2"]
    for wheel in range(1, NUM_WHEELS + 1):
        for level in range(1, len(LEVELS) + 1):
            names.append(f"M3-W{wheel}-L{level}")
    return names


def wheel_key(metric: str, lexicon: Lexicon) -> KeyFn:
    """The label -> key function of one wheel metric (see :func:`wheel_metric_names`)."""
    if metric == "M1":
        return lexicon.word
    if metric == "M2":
        return lexicon.synonym_group
    if metric.startswith("M3-W") and metric in wheel_metric_names():
        wheel, level = int(metric[4]), LEVELS[int(metric[-1]) - 1]
        return lambda label: lexicon.wheel_cluster(label, wheel, level)
    raise ValueError(f"unknown wheel metric {metric!r} (known: {', '.join(wheel_metric_names())})")


def score_wheel(
    gold: Mapping[str, Sequence[str]],
    pred: Mapping[str, Sequence[str]],
    lexicon: Lexicon | None = None,
    *,
    details: bool = False,
) -> dict:
    """The OV-MER emotion-wheel metrics: M1, M2, M3 on 5 wheels x 2 levels, and their mean M-avg.

    - M1: each label -> its lexicon word (surface forms of ``format.csv``);
    - M2: then -> its synonym group (the merged runs of ``synonym.csv``);
    - M3-Wk-Ll: then -> its emotion on wheel k at level l.

    Labels outside the lexicon (or the wheel) are dropped; samples whose gold set is then empty are
    skipped. Each metric is F = 2PR/(P+R) of the sample-averaged precision P and recall R.

    Returns ``{"M1", "M2", "M3-W1-L1", ..., "M3-W5-L2", "M-avg", "num_samples"}`` in percent;
    ``num_samples`` counts gold samples with at least one label. With ``details=True`` also
    ``"details": {metric: {"precision", "recall", "num_samples"}}``.
    """
    lexicon = lexicon or load_lexicon()
    pred = align_predictions(gold, pred)
    out: dict = {}
    info = {}
    for metric in wheel_metric_names():
        result = overlap(gold, pred, wheel_key(metric, lexicon))
        out[metric] = 100 * result.fscore
        info[metric] = {
            "precision": 100 * result.precision,
            "recall": 100 * result.recall,
            "num_samples": result.num_samples,
        }
    out["M-avg"] = sum(out[m] for m in wheel_metric_names()) / len(wheel_metric_names())
    out["num_samples"] = sum(1 for labels in gold.values() if any(x.strip() for x in labels))
    if details:
        out["details"] = info
    return out
