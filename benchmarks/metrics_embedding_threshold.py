"""How well embedding groups agree with the GPT-3.5 synonym groups of EMER-Fine, over thresholds.

For each cosine threshold: pairwise precision / recall / F1 of the "same group" decision against
``openset-synonym.json`` (over every label pair within each sample), and the Accuracy_s / Recall_s
that ``--metric embedding`` gives on ``predict-openset.csv`` (published with GPT groups: 58.18 /
49.78). Also times the scorers.

    .venv/bin/python benchmarks/metrics_embedding_threshold.py [--data tests/fixtures/emer]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from acoustemo.metrics.embedding import (
    default_embedder,
    group_by_similarity,
    pairwise_agreement,
    score_embedding,
)
from acoustemo.metrics.labels import read_grouping, read_labels
from acoustemo.metrics.scores import score_grouped, score_wheel

THRESHOLDS = [0.40, 0.42, 0.44, 0.45, 0.46, 0.47, 0.48, 0.50, 0.52, 0.55, 0.60, 0.65, 0.70, 0.80, 0.90]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("tests/fixtures/emer"), help="folder of the EMER files")
    args = parser.parse_args()
    gold = read_labels(args.data / "check-openset.csv", gold=True)
    pred = read_labels(args.data / "predict-openset.csv")
    gpt = read_grouping(args.data / "openset-synonym.json")

    t0 = time.perf_counter()
    grouped = score_grouped(gold, pred, gpt)
    t_grouped = time.perf_counter() - t0
    t0 = time.perf_counter()
    score_wheel(gold, pred)
    t_wheel = time.perf_counter() - t0

    embed = default_embedder()
    vocabulary = sorted({x for groups in gpt.values() for g in groups for x in g} | {
        x for labels in list(gold.values()) + list(pred.values()) for x in labels
    })
    t0 = time.perf_counter()
    vectors = dict(zip(vocabulary, embed(vocabulary)))
    t_embed = time.perf_counter() - t0

    print(f"GPT groups: Accuracy_s {grouped['accuracy_s']:.2f}  Recall_s {grouped['recall_s']:.2f}")
    print(f"time: grouped {1000 * t_grouped:.1f} ms, wheel (12 metrics) {1000 * t_wheel:.1f} ms, "
          f"model load + embedding {len(vocabulary)} labels {t_embed:.2f} s\n")
    print("| threshold | pair precision | pair recall | pair F1 | Accuracy_s | Recall_s | Avg |")
    print("|---|---|---|---|---|---|---|")
    for threshold in THRESHOLDS:
        # the same labels as the GPT groups, so that both groupings decide the same pairs
        candidate = {
            name: group_by_similarity(list(dict.fromkeys(x for g in groups for x in g)), vectors, threshold)
            for name, groups in gpt.items()
        }
        agree = pairwise_agreement(gpt, candidate)
        scores = score_embedding(gold, pred, threshold=threshold, embed=embed)
        print(
            f"| {threshold:.2f} | {agree['precision']:.1f} | {agree['recall']:.1f} | {agree['f1']:.1f} | "
            f"{scores['accuracy_s']:.2f} | {scores['recall_s']:.2f} | {scores['avg']:.2f} |"
        )
    print(f"\npairs: {agree['pairs']}, of which same group in the GPT groups: {agree['reference_positive']}")


if __name__ == "__main__":
    main()
