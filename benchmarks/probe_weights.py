"""What the stage-1 probe reads, by how much each training corpus weighs in its fit (minutes, no training).

    python benchmarks/probe_weights.py --data data/release --config configs/small-release.yaml \\
        --weights "none" "synth=0.1" "synth=0" --out runs/probe-weights.json

The release recipe starts every statistics token from a logistic-regression probe fitted on the training
utterances (``train.acoustic.probe_init``, :func:`acoustemo.training.acoustic.probe_rows`) and keeps it frozen
(``train.acoustic.freeze_probe``): what the probe reads is what the LLM gets to see. The training set mixes
real speech (RAVDESS, EmoDB) with synthetic speech; ``train.acoustic.probe_weights`` sets how much each corpus
(the prefix of its ids) weighs in that fit. For each weighting given, this script fits the probe exactly as
stage 1 does (same rows, same C) and scores its top label on the held-out RAVDESS speakers: single clips and
the labelled utterances of the dialogues, as primary-emotion accuracy (:mod:`acoustemo.metrics.primary`) on the
validation speakers, the test speakers and both. Beside it, in the same run, the baseline (b) of
``benchmarks/release_eval.py`` (a probe on Whisper mean+std of whole clips, fitted on the corpus' own training
split). Choose a weighting on the validation speakers, or, with ``--cv-folds K``, on the training speakers
themselves: the RAVDESS training actors in K groups, each group's clips and dialogues left out of the fit in
turn and its single clips and dialogue utterances scored (four times as many clips as a held-out pair, and no
held-out speaker looked at). It reports numbers and asserts none.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from acoustemo.config import load_config  # noqa: E402
from acoustemo.data.dataset import dataset_for  # noqa: E402
from acoustemo.metrics.primary import EMOTION_CATEGORIES, category_of_labels, primary_hit  # noqa: E402
from acoustemo.training.acoustic import label_vocabulary, labelled_windows, probe_rows  # noqa: E402
from acoustemo.training.probe import fit_linear_probe, window_stats  # noqa: E402

SPLITS = ("validation", "test")
SETS = (("ravdess-single", "single clips"), ("ravdess", "dialogue utterances"))
ACTOR = re.compile(r"ravdess_(\d+)_")  # RAVDESS sample ids: ravdess_<actor>_<index>
BASELINE = "(b) Whisper mean+std probe (release_eval)"


def parse_weights(text: str) -> dict[str, float]:
    """``"none"`` -> {}; ``"synth=0.1,emodb=2"`` -> {"synth": 0.1, "emodb": 2.0}."""
    if text.strip().lower() in ("", "none"):
        return {}
    out = {}
    for item in text.split(","):
        prefix, sep, value = item.partition("=")
        try:
            out[prefix.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not prefix.strip():
            raise SystemExit(f"--weights {text!r}: expected PREFIX=WEIGHT[,PREFIX=WEIGHT...] or none")
    return out


def held_out_rows(examples) -> tuple[np.ndarray, list[str]]:
    """One row per labelled utterance of ``examples`` (a single clip is one utterance): mean+std, gold category."""
    feats, gold = [], []
    for ex in examples:
        for label, b, e in labelled_windows(ex):
            feats.append(window_stats(ex.audio[b:e]))
            gold.append(category_of_labels([label], EMOTION_CATEGORIES))
    return np.stack(feats), gold


def actor_of(sample_id: str) -> int | None:
    """The RAVDESS actor of a sample id, None for other corpora."""
    m = ACTOR.search(sample_id)
    return int(m.group(1)) if m else None


def fold_groups(actors: list[int], folds: int) -> list[set[int]]:
    """The actors left out of each fold: every ``folds``-th actor of the sorted list, from each start."""
    return [set(actors[k::folds]) for k in range(folds)]


def tally(hits: list[bool]) -> dict:
    n = len(hits)
    return {"hits": int(sum(hits)), "n": n, "accuracy": 100.0 * sum(hits) / n if n else float("nan")}


def fit_probe(train, vocab, weights, utterances: bool, clips: bool):
    """The stage-1 probe fitted on ``train`` as stage 1 fits it; returns its hits on (features, gold categories)."""
    feats, y, sample_weight = probe_rows(train, vocab, utterances=utterances, clips=clips, weights=weights)
    coef, bias, classes, _ = fit_linear_probe(feats, y, sample_weight=sample_weight)
    words = {i: w for w, i in vocab.items()}

    def hits(x: np.ndarray, gold: list[str]) -> list[bool]:
        top = (x @ coef.numpy().T + bias.numpy()).argmax(1)
        return [primary_hit(g, [words[classes[int(j)]]], EMOTION_CATEGORIES) for g, j in zip(gold, top)]

    return hits, len(y)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder built by `make release-data`")
    p.add_argument("--config", default=str(ROOT / "configs" / "small-release.yaml"),
                   help="the recipe whose stage-1 probe is measured (its train manifest, cache, audio key)")
    p.add_argument("--weights", nargs="+", default=["none", "synth=0.1", "synth=0"],
                   help="weightings to compare, each 'none' or PREFIX=WEIGHT[,PREFIX=WEIGHT...]")
    p.add_argument("--cv-folds", type=int, default=0,
                   help="also score each weighting by K-fold cross-validation over the RAVDESS training actors")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    args = p.parse_args()

    data = Path(args.data)
    cfg = load_config(args.config, [f"train.cache_dir={data / 'cache'}",
                                    f"train.train_manifest={data / 'train.jsonl'}"])
    t0 = time.perf_counter()
    train_ds = dataset_for(cfg, cfg.train.train_manifest, require_labels=True)
    utterances = cfg.train.acoustic.utterance_weight > 0
    vocab = {w: i for i, w in enumerate(label_vocabulary([train_ds], utterances=utterances))}
    train = [train_ds[i] for i in range(len(train_ds))]
    held = {}  # (set, split) -> rows
    for corpus, name in SETS:
        for split in SPLITS:
            ds = dataset_for(cfg, data / corpus / f"{split}.jsonl", require_labels=True)
            held[name, split] = held_out_rows([ds[i] for i in range(len(ds))])
    print(f"features loaded in {time.perf_counter() - t0:.0f} s: {len(train)} training samples", flush=True)

    rows = {}
    for text in args.weights:
        weights = parse_weights(text)
        t1 = time.perf_counter()
        hits, n_rows = fit_probe(train, vocab, weights, utterances, cfg.train.acoustic.probe_clips)
        row = {"weights": weights, "rows": n_rows, "seconds": round(time.perf_counter() - t1, 1)}
        for (name, split), (x, gold) in held.items():
            row.setdefault(name, {})[split] = tally(hits(x, gold))
        if args.cv_folds:
            row["cv"] = cross_validate(train, vocab, weights, utterances, cfg.train.acoustic.probe_clips, args.cv_folds)
        rows[text] = row
        print(format_row(text, row), flush=True)
    rows[BASELINE] = baseline(data, cfg, args.cv_folds)
    print(format_row(BASELINE, rows[BASELINE]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"config": args.config, "data": str(data), "rows": rows}, indent=2) + "\n")
    return 0


def cross_validate(train, vocab, weights, utterances: bool, clips: bool, folds: int) -> dict:
    """Primary accuracy of the probe on RAVDESS training actors left out of its fit, ``folds`` groups in turn."""
    actor = {ex.id: actor_of(ex.id) for ex in train}
    actors = sorted({a for a in actor.values() if a is not None})
    if len(actors) < folds:
        raise SystemExit(f"--cv-folds {folds}: the training manifest has {len(actors)} RAVDESS actors")
    out_of_fit = {name: [] for _, name in SETS}
    for out in fold_groups(actors, folds):
        hits, _ = fit_probe([ex for ex in train if actor[ex.id] not in out], vocab, weights, utterances, clips)
        for corpus, name in SETS:
            out_of_fit[name] += hits(*held_out_rows([ex for ex in train if actor[ex.id] in out
                                                     and ex.id.startswith(corpus + "/")]))
    return {name: tally(h) for name, h in out_of_fit.items()}


def baseline(data: Path, cfg, folds: int = 0) -> dict:
    """release_eval's (b) on single clips (whole clips) and dialogue utterances (its per-utterance form); with
    ``folds``, also cross-validated over the training actors as :func:`cross_validate` does."""
    from release_eval import probe_baseline, probe_utterances

    from acoustemo.cache.store import FeatureCache
    from acoustemo.data.dataset import resolve_key
    from acoustemo.data.manifest import read_manifest

    cache = FeatureCache(data / "cache")
    key = resolve_key(cache, "audio", cfg.train.audio_key)

    def score(fit, name, train, test) -> list[bool]:
        pred = fit(cache, train, test, key, EMOTION_CATEGORIES, 384)
        gold = {s.id if name == "single clips" else f"{s.id}#{i}": category_of_labels(list(u.labels),
                                                                                    EMOTION_CATEGORIES)
                for s in test for i, u in enumerate(s.utterances or []) if u.labels}
        return [primary_hit(g, pred.get(k, []), EMOTION_CATEGORIES) for k, g in gold.items()]

    row = {}
    for (corpus, name), fit in zip(SETS, (probe_baseline, probe_utterances)):
        train = read_manifest(data / corpus / "train.jsonl")
        for split in SPLITS:
            test = read_manifest(data / corpus / f"{split}.jsonl")
            row.setdefault(name, {})[split] = tally(score(fit, name, train, test))
        if folds:
            actor = {s.id: actor_of(s.id) for s in train}
            hits = []
            for out in fold_groups(sorted(set(actor.values())), folds):
                hits += score(fit, name, [s for s in train if actor[s.id] not in out],
                              [s for s in train if actor[s.id] in out])
            row.setdefault("cv", {})[name] = tally(hits)
    return row


def format_row(name: str, row: dict) -> str:
    cells = []
    for set_name in ("single clips", "dialogue utterances"):
        per = row[set_name]
        hits, n = sum(per[s]["hits"] for s in SPLITS), sum(per[s]["n"] for s in SPLITS)
        cv = f"  cv {row['cv'][set_name]['accuracy']:.1f}" if "cv" in row else ""
        cells.append(f"{set_name}:{cv}  val {per['validation']['accuracy']:.1f}  test {per['test']['accuracy']:.1f}  "
                     f"both {100.0 * hits / n:.1f}")
    return f"{name:<44} " + " | ".join(cells)


if __name__ == "__main__":
    sys.exit(main())
