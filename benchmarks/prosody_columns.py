"""Are the six prosody columns of ``whisper_prosody`` worth their place? A whole-clip probe with and without them.

    python benchmarks/prosody_columns.py --data data/release [--out docs/prosody-columns.json]

The ``whisper_prosody`` audio encoder puts six frame-level prosody columns (F0, F0 relative to the clip,
voicing, energy, relative energy, HNR) beside the 384 Whisper tiny.en columns. This script fits baseline (b) of
``benchmarks/release_eval.py`` (standardised logistic regression on mean+std pooled frames of each whole clip,
:func:`release_eval.pooled`, :func:`acoustemo.training.probe.fit_predict`) on the RAVDESS single clips of the training actors, once on the Whisper columns
alone and once on all 390, for each ``--C``, and scores primary-emotion accuracy on the validation speakers, the
test speakers, and by ``--cv-folds`` cross-validation over the training actors (each group of actors left out
of the fit in turn; :func:`probe_weights.fold_groups`). Seconds, no training; it reports and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from probe_weights import actor_of, fold_groups, tally  # noqa: E402
from acoustemo.training.probe import fit_predict  # noqa: E402
from release_eval import pooled  # noqa: E402

from acoustemo.cache.store import FeatureCache  # noqa: E402
from acoustemo.data.dataset import resolve_key  # noqa: E402
from acoustemo.data.manifest import read_manifest  # noqa: E402
from acoustemo.metrics.primary import EMOTION_CATEGORIES, category_of_labels  # noqa: E402

COLUMNS = {"Whisper alone (384)": 384, "Whisper + prosody (390)": 390}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder built by `make release-data` (ravdess-single/, cache/)")
    p.add_argument("--key", default="whisper_prosody", help="cache key of the 390-d features")
    p.add_argument("--C", default="0.1,0.01", help="inverse regularisation strengths, comma-separated")
    p.add_argument("--cv-folds", type=int, default=4)
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    args = p.parse_args()
    data = Path(args.data)
    cache = FeatureCache(data / "cache")
    key = resolve_key(cache, "audio", args.key)
    corpus = data / "ravdess-single"
    train = read_manifest(corpus / "train.jsonl")
    held = {split: read_manifest(corpus / f"{split}.jsonl") for split in ("validation", "test")}
    width = cache.load(train[0], key).audio.shape[1]
    if width != max(COLUMNS.values()):
        p.error(f"--key {key}: features of {width} columns, expected {max(COLUMNS.values())} (Whisper + prosody)")
    if any(actor_of(s.id) is None for s in train) or len({actor_of(s.id) for s in train}) < args.cv_folds or \
            args.cv_folds < 2:
        p.error(f"--cv-folds {args.cv_folds}: needs 2 or more, and no more than the RAVDESS actors of {corpus}")
    gold = lambda samples: np.array([category_of_labels(s.labels, EMOTION_CATEGORIES) for s in samples])  # noqa: E731
    y_train = gold(train)
    actors = np.array([actor_of(s.id) for s in train])
    folds = fold_groups(sorted(set(actors.tolist())), args.cv_folds)
    report = {"data": str(data), "key": key, "train clips": len(train), "rows": {}}
    print(f"{'features':<26}{'C':>6}{'validation':>12}{'test':>8}{'cv':>8}   (% primary-emotion, single clips)")
    for name, dims in COLUMNS.items():
        x_train = pooled(cache, train, key, dims)
        x_held = {split: pooled(cache, samples, key, dims) for split, samples in held.items()}
        for C in (float(c) for c in args.C.split(",")):
            row = {split: tally(list(fit_predict(x_train, y_train, x_held[split], C) == gold(samples)))
                   for split, samples in held.items()}
            hits = []
            for out in folds:
                left = np.isin(actors, list(out))
                hits += list(fit_predict(x_train[~left], y_train[~left], x_train[left], C) == y_train[left])
            row["cv"] = tally(hits)
            report["rows"][f"{name}, C={C:g}"] = row
            print(f"{name:<26}{C:>6g}{row['validation']['accuracy']:12.1f}{row['test']['accuracy']:8.1f}"
                  f"{row['cv']['accuracy']:8.1f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
