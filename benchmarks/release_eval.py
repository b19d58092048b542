"""The numbers of the model card: a trained model against two baselines, on data it never saw.

    python benchmarks/release_eval.py --data data/release                      # the shipped model
    python benchmarks/release_eval.py --data data/release --checkpoint runs/release/final --out docs/release-eval.json

``--data`` is the folder ``make release-data`` builds: ``ravdess/`` (dialogues: one emotional utterance among
neutral ones, or all one emotion), ``ravdess-single/`` (single clips), ``synth/`` (synthetic cue dialogues),
each with train / test manifests, and ``cache/`` with the Whisper and Whisper+prosody features.

For each test set (the RAVDESS test speakers 19 and 20 in dialogues and as single clips, the synthetic
test voices) it reports, side by side in one run:

- the model: greedy answers; emotion-wheel M-avg, Accuracy_s / Recall_s with embedding grouping, the
  primary-emotion accuracy (:mod:`acoustemo.metrics.primary`) and the number of distinct label lists;
- (a) the most frequent label list of the training split, answered for every sample;
- (b) the speech-emotion baseline a user would try first: a standardised logistic regression (C = 0.1) on
  the mean- and std-pooled Whisper-tiny frames of each whole clip, trained on the same corpus' training
  split; it answers the head word of its predicted category. The Whisper frames are the first 384 columns
  of the ``whisper_prosody`` features (the same tiny.en encoder output, bit for bit; the six prosody
  columns after them are left out), so no second extraction is needed;
- (b') the same probe given what a speaker-relative model is given: each speaker's frames standardised by that
  speaker's statistics (:mod:`acoustemo.data.speakers`, 10 s prior; the training speakers' from their training
  samples, a test speaker's from its test samples), so that a lead of the model over (b) is not the speaker
  baseline alone.

A model trained with speaker baselines (``model.speaker_normalization``) is shown each test sample against its
speaker's baseline, pooled over that speaker's samples of the test manifest (what a dialogue series or a video
gives); ``--speaker-baseline none`` gives it nothing of the voice instead (each file on its own, as ``predict``
without ``--speaker-baseline``). The EmoDB set is German speech of the speaker not trained on.

Voices never used for any choice, where ``scripts/release_data.sh`` built them (``UNSEEN_DATA``): RAVDESS actors
21-24 (``ravdess-unseen-*``; the baselines fitted on the RAVDESS training split) and EmoDB speakers 08-16
(``emodb-unseen-*``; German; the baselines fitted on EmoDB speaker 03, the only one trained on), as dialogues and
as every clip once. A set that was not built is named and skipped.

On the synthetic test split the primary accuracy is also given per cue type.

Per utterance (where the test manifest gives each utterance its own labels, and for a model that answers per
utterance, ``model.utterance_answers``): the primary accuracy of each utterance's own first label, against
the same probe fitted on the training utterances and applied to each test utterance alone; and, on the
dialogues in which exactly one utterance is not calm (one emotional clip among neutral ones; a synthetic cue
in one utterance), how often that utterance is labelled with an emotion other than calm, and how often it is
the only one. Nothing here asserts a score: it reports them.

The model against each row, on the same samples: the difference of primary accuracy with a 95 % bootstrap
interval, the samples only one of the two gets right, and the exact McNemar test on them
(:mod:`acoustemo.metrics.paired`). Two held-out speakers make a small test set; the interval says how much of a
difference the set can resolve. ``--split validation`` scores the validation speakers instead (choose between
runs there), ``validation+test`` all four held-out RAVDESS speakers; ``--predictions`` keeps every sample's
answers for confusion tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from acoustemo.cache.store import FeatureCache  # noqa: E402
from acoustemo.config import add_prior_arguments, prior_overrides  # noqa: E402
from acoustemo.data.collate import Example  # noqa: E402
from acoustemo.data.dataset import FeatureDataset, prepared_for, resolve_key  # noqa: E402
from acoustemo.data.manifest import read_manifest  # noqa: E402
from acoustemo.model.windows import utterance_windows  # noqa: E402
from acoustemo.training.probe import fit_predict  # noqa: E402
from acoustemo.metrics.paired import paired_comparison  # noqa: E402
from acoustemo.metrics.primary import (CUE_CATEGORIES, EMOTION_CATEGORIES, category_of_labels,  # noqa: E402
                                       primary_accuracy, primary_hit)

MODEL = "AcoustEmo (this model)"
SPLITS = ("test", "validation", "validation+test")
SETS = {  # name -> (corpus folder, folder of the baselines' training split, categories, what it is)
    "ravdess-dialogues": ("ravdess", "ravdess", EMOTION_CATEGORIES, "RAVDESS test speakers, dialogues of 1-5 clips"),
    "ravdess-single": ("ravdess-single", "ravdess-single", EMOTION_CATEGORIES, "RAVDESS test speakers, single clips"),
    "synth": ("synth", "synth", CUE_CATEGORIES, "synthetic cue dialogues, test voices"),
    "emodb": ("emodb", "emodb", EMOTION_CATEGORIES, "EmoDB test speakers (German), dialogues of 1-5 clips"),
    # voices never used for any choice (scripts/release_data.sh builds them from UNSEEN_DATA where it is given)
    "ravdess-unseen-dialogues": ("ravdess-unseen", "ravdess", EMOTION_CATEGORIES,
                                 "RAVDESS actors 21-24 (never used for a choice), dialogues of 1-5 clips"),
    "ravdess-unseen-single": ("ravdess-unseen-single", "ravdess-single", EMOTION_CATEGORIES,
                              "RAVDESS actors 21-24 (never used for a choice), every clip once"),
    "emodb-unseen-dialogues": ("emodb-unseen", "emodb", EMOTION_CATEGORIES,
                               "EmoDB speakers 08-16 (German, never trained on), dialogues of 1-5 clips"),
    "emodb-unseen-single": ("emodb-unseen-single", "emodb-unseen-single", EMOTION_CATEGORIES,
                            "EmoDB speakers 08-16 (German, never trained on), every clip once"),
}
UNSEEN = tuple(name for name in SETS if "-unseen" in name)
PROBE = "(b) Whisper mean+std probe (logistic regression)"
PROBE_SPEAKER = "(b') the same probe on speaker-relative frames"


def mean_std(frames, dims: int | None = None) -> np.ndarray:
    """(N, 2 d): the mean and standard deviation of each (T, d) tensor's first ``dims`` columns."""
    rows = []
    for a in frames:
        a = a.numpy()[:, :dims]
        rows.append(np.concatenate([a.mean(0), a.std(0)]))
    return np.stack(rows)


def pooled(cache: FeatureCache, samples, key: str, dims: int | None = None) -> np.ndarray:
    return mean_std((cache.load(s, key).audio for s in samples), dims)


def speaker_relative_pooled(cache, train, test, key: str, dims: int | None = None,
                            seconds: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """(b')'s rows of ``train`` and ``test``: :func:`pooled` of the speaker-relative frames, the training split's
    raw frames as the population, each speaker's statistics pooled over its samples of the same split."""
    from acoustemo.data.speakers import SpeakerBaseline, population_statistics

    def load(samples) -> list[Example]:
        return [Example(s.id, e.audio, e.audio_rate, speaker=s.speaker)
                for s, e in ((s, cache.load(s, key)) for s in samples)]

    train_ex, test_ex = load(train), load(test)
    baseline = SpeakerBaseline.from_stats(population_statistics(train_ex), seconds * train_ex[0].frame_rate)
    return tuple(mean_std((ex.audio for ex in baseline.apply_all(examples, "speaker")), dims)
                 for examples in (train_ex, test_ex))


def probe_baseline(cache, train, test, key: str, categories, dims: int | None = None,
                   speaker_relative: bool = False) -> dict[str, list[str]]:
    y = [category_of_labels(s.labels, categories) for s in train]
    if speaker_relative:
        x_train, x_test = speaker_relative_pooled(cache, train, test, key, dims)
    else:
        x_train, x_test = pooled(cache, train, key, dims), pooled(cache, test, key, dims)
    head = {}  # category -> the head word the corpora put first for it
    for s in train:
        head.setdefault(category_of_labels(s.labels, categories), s.labels[0])
    return {s.id: [head[c]] for s, c in zip(test, fit_predict(x_train, y, x_test))}


def utterance_stats(cache, samples, key: str, dims: int | None = None):
    """Mean+std pooled frames of every utterance that carries its own labels: (keys, features, label lists)."""
    keys, feats, labels = [], [], []
    for s in samples:
        entry = cache.load(s, key)
        a = entry.audio.numpy()[:, :dims]
        utts = s.utterances or []
        begin, end = utterance_windows([u.start for u in utts], [u.end for u in utts], entry.audio_rate, len(a)) \
            if utts else ([], [])
        for i, (u, b, e) in enumerate(zip(utts, begin, end)):
            if not u.labels:
                continue
            keys.append(f"{s.id}#{i}")
            feats.append(np.concatenate([a[b:e].mean(0), a[b:e].std(0)]))
            labels.append(list(u.labels))
    return keys, np.stack(feats) if feats else np.zeros((0, 0)), labels


def probe_utterances(cache, train, test, key: str, categories, dims: int | None = None) -> dict[str, list[str]]:
    """The probe of :func:`probe_baseline`, fitted on the training utterances and applied to each test one."""
    _, x_train, y_labels = utterance_stats(cache, train, key, dims)
    keys, x_test, _ = utterance_stats(cache, test, key, dims)
    y = [category_of_labels(labels, categories) for labels in y_labels]
    head = {}
    for c, labels in zip(y, y_labels):
        head.setdefault(c, labels[0])
    return {k: [head[c]] for k, c in zip(keys, fit_predict(x_train, y, x_test))}


def utterance_scores(test, pred: dict[str, list[str]], categories) -> dict:
    """Primary accuracy over the labelled utterances (``pred`` keyed ``"<id>#<index>"``), and on dialogues with
    exactly one utterance that is not calm: that utterance labelled emotional, and it alone."""
    calm = category_of_labels(["calm"], categories)
    gold = {f"{s.id}#{i}": category_of_labels(list(u.labels), categories)
            for s in test for i, u in enumerate(s.utterances or []) if u.labels}
    found = alone = dialogues = 0
    for s in test:
        cats = [category_of_labels(list(u.labels), categories) if u.labels else None for u in s.utterances or []]
        if len(cats) < 2 or None in cats or sum(c != calm for c in cats) != 1:
            continue
        dialogues += 1
        said = [category_of_labels(pred.get(f"{s.id}#{i}", []), categories) for i in range(len(cats))]
        emotional = [c is not None and c != calm for c in said]
        target = next(i for i, c in enumerate(cats) if c != calm)
        found += emotional[target]
        alone += emotional[target] and sum(emotional) == 1
    pct = lambda n: 100.0 * n / dialogues if dialogues else float("nan")  # noqa: E731
    return {"utterances": len(gold), "primary": primary_accuracy(gold, pred, categories),
            "one-emotional dialogues": dialogues, "emotional utterance found": pct(found),
            "found and alone": pct(alone)}


def scores(gold_labels: dict, gold_cat: dict, pred: dict, categories) -> dict:
    from acoustemo.metrics import score_embedding, score_wheel

    emb = score_embedding(gold_labels, pred)
    return {"primary": primary_accuracy(gold_cat, pred, categories), "M-avg": score_wheel(gold_labels, pred)["M-avg"],
            "Acc_s": emb["accuracy_s"], "Rec_s": emb["recall_s"],
            "distinct_lists": len({tuple(v) for v in pred.values()})}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder built by `make release-data`")
    p.add_argument("--checkpoint", default=None, help="trained model folder (default: the shipped model)")
    p.add_argument("--whisper-key", default="whisper_prosody", help="cache key of the probe's Whisper features")
    p.add_argument("--whisper-dims", type=int, default=384,
                   help="the probe reads the first this many columns (384: Whisper tiny.en without the prosody "
                        "columns of whisper_prosody; 0: all)")
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated of {', '.join(SETS)}")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--markdown", default=None, help="also write the tables as Markdown to this file")
    p.add_argument("--predictions", default=None,
                   help="also write every sample's gold labels and each row's answer to this JSONL file "
                        "(one line per set and sample: for confusion tables and paired comparisons)")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="score the held-out speakers of this split (validation: to choose between runs without "
                        "looking at the test speakers; validation+test: all four held-out RAVDESS speakers); the "
                        "baselines are fitted on the training split either way")
    p.add_argument("--acoustic", default=None,
                   help="also score a stage-1 folder (<run>/acoustic): its classifier's top label, without the LLM, "
                        "shows what the acoustic tokens carry")
    p.add_argument("--skip-model", action="store_true",
                   help="with --acoustic: the baselines and the stage-1 head only, no LLM (minutes, for stage-1 work)")
    p.add_argument("--speaker-baseline", choices=("manifest", "none"), default="manifest",
                   help="a model trained with speaker baselines (model.speaker_normalization): measure each test "
                        "sample against its speaker's, pooled over the test manifest's samples of that speaker "
                        "(manifest, default), or give it nothing of the voice (none: each file on its own)")
    add_prior_arguments(p)
    p.add_argument("--max-samples", type=int, default=0,
                   help="score at most this many samples per set: every k-th of the manifest's order, so every "
                        "speaker keeps its share (0: all; the same samples for any model)")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from acoustemo.inference.evaluation import Generation, generate_all
    from acoustemo.inference.loading import checkpoint_config, load_model

    from acoustemo.inference.pretrained import pretrained_path

    folder = Path(args.checkpoint) if args.checkpoint else pretrained_path()
    if args.skip_model:
        if not args.acoustic:
            p.error("--skip-model needs --acoustic")
        from acoustemo.config import load_config

        model, cfg = None, load_config(Path(args.acoustic) / "config.yaml")
    else:
        overrides = prior_overrides(args)
        cfg = checkpoint_config(folder, overrides=overrides)
        model = load_model(folder, cfg, device="cpu")
    data = Path(args.data)
    cache = FeatureCache(data / "cache")
    report = {"checkpoint": str(folder) if model is not None else None, "acoustic": args.acoustic,
              "split": args.split, "max_samples": args.max_samples or None, "sets": {}}
    predictions = []
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        corpus, train_corpus, categories, what = SETS[name]
        if name in UNSEEN and not (data / corpus).is_dir():
            print(f"{name}: {data / corpus} not built (scripts/release_data.sh with UNSEEN_DATA), skipped", flush=True)
            continue
        t0 = time.perf_counter()
        train = read_manifest(data / train_corpus / "train.jsonl")
        manifests = [data / corpus / f"{split}.jsonl" for split in args.split.split("+")]
        test = [s for m in manifests for s in read_manifest(m)]
        if args.max_samples and len(test) > args.max_samples:
            step = len(test) / args.max_samples
            test = [test[int(i * step)] for i in range(args.max_samples)]
        if not test:
            print(f"{name}: {' + '.join(map(str, manifests))} has no samples, skipped", flush=True)
            continue
        key = resolve_key(cache, "audio", cfg.train.audio_key)
        ds = FeatureDataset(test, cache, audio_key=key, require_labels=True,
                            source=" + ".join(map(str, manifests)))
        if model is not None and args.speaker_baseline == "manifest":
            ds = prepared_for(ds, model)  # speaker-relative frames for a model trained on them
        preds = [] if model is None else generate_all(model, ds, batch_size=8, generation=Generation(), progress=False)
        model_pred = {p.id: p.emotions for p in preds}
        gold_labels = {s.id: list(s.labels) for s in test}
        gold_cat = {s.id: category_of_labels(s.labels, categories) for s in test}
        frequent = Counter(tuple(s.labels) for s in train).most_common(1)[0][0]
        stage1 = {}
        if args.acoustic:
            from acoustemo.training.acoustic import load_acoustic, predict_acoustic

            head = load_acoustic(args.acoustic)
            head_ds = FeatureDataset(test, cache, audio_key=key, require_labels=True)
            if args.speaker_baseline == "manifest":
                head_ds = prepared_for(head_ds, head)
            probs = predict_acoustic(head, [head_ds[i] for i in range(len(head_ds))])
            stage1 = {"(c) stage-1 acoustic head, no LLM (diagnostic)":
                      {s.id: [head.labels[int(j)]] for s, j in zip(test, probs.argmax(1))}}
        rows = {
            **({MODEL: model_pred} if model is not None else {}),
            "(a) most frequent training label list": {s.id: list(frequent) for s in test},
            PROBE: probe_baseline(cache, train, test, resolve_key(cache, "audio", args.whisper_key), categories,
                                  args.whisper_dims or None),
            PROBE_SPEAKER: probe_baseline(cache, train, test, resolve_key(cache, "audio", args.whisper_key),
                                          categories, args.whisper_dims or None, speaker_relative=True),
            **stage1,
        }
        what = what.replace("test", args.split.replace("+", " + "))
        for s in test:
            answered = {row: v.get(s.id, []) for row, v in rows.items()}
            predictions.append({"set": name, "id": s.id, "gold": gold_labels[s.id], "gold_category": gold_cat[s.id],
                                **{row: {"labels": labels,
                                         "category": category_of_labels([w.strip().lower() for w in labels],
                                                                        categories)}
                                   for row, labels in answered.items()}})
        result = {"what": what, "samples": len(test), "chance_primary": 100.0 / len(set(gold_cat.values())),
                  "rows": {k: scores(gold_labels, gold_cat, v, categories) for k, v in rows.items()}}
        if model is not None:
            hit = {k: [primary_hit(gold_cat[s.id], v.get(s.id, []), categories) for s in test] for k, v in rows.items()}
            result["paired"] = {k: paired_comparison(hit[MODEL], hit[k]) for k in rows if k != MODEL}
        own = {f"{p.id}#{i}": labels for p in preds for i, labels in enumerate(p.utterance_emotions or [])}
        if any(u.labels for s in test for u in s.utterances or []):
            utterance_rows = {"(b) Whisper mean+std probe, per utterance": probe_utterances(
                cache, train, test, resolve_key(cache, "audio", args.whisper_key), categories,
                args.whisper_dims or None)}
            if own:
                utterance_rows = {MODEL: own, **utterance_rows}
            if args.acoustic and "utterance" in head.qformers:  # a head without windows has no per-window answer
                from acoustemo.training.acoustic import predict_acoustic_windows

                examples = [head_ds[i] for i in range(len(head_ds))]
                windows = predict_acoustic_windows(head, examples)
                utterance_rows["(c) stage-1 window head, no LLM (diagnostic)"] = {
                    f"{s.id}#{i}": [head.labels[int(w.argmax())]] for s, ws in zip(test, windows)
                    for i, w in enumerate(ws)}
            result["per_utterance"] = {k: utterance_scores(test, v, categories) for k, v in utterance_rows.items()}
        if name == "synth":
            per_cue = {}
            for cue in sorted(set(gold_cat.values())):
                ids = [i for i, c in gold_cat.items() if c == cue]
                per_cue[cue] = {"samples": len(ids), **{k: primary_accuracy({i: cue for i in ids}, v, categories)
                                                       for k, v in rows.items()}}
            result["per_cue_primary"] = per_cue
        result["examples"] = [{"id": p.id, "gold": gold_labels[p.id], "answer": p.text} for p in preds[:5]]
        result["seconds"] = round(time.perf_counter() - t0, 1)
        report["sets"][name] = result
        print(format_set(name, result), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(report))
    if args.predictions:
        Path(args.predictions).write_text("".join(json.dumps(r) + "\n" for r in predictions))
    return 0


def md_table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: the header, its rule, one line per row."""
    def line(cells) -> str:  # an empty cell is written "| |"
        return " ".join(["|", *(f"{c} |" if c != "" else "|" for c in map(str, cells))])

    return [line(header), "|" + "---|" * len(header), *map(line, rows)]


def markdown(report: dict) -> str:
    """The tables of the model card: one per test set, then primary accuracy per synthetic cue."""
    out = []
    for name, r in report["sets"].items():
        out.append(f"**{name}**: {r['what']}, {r['samples']} samples, primary-emotion chance "
                   f"{r['chance_primary']:.1f} %\n")
        out += md_table(["", "primary-emotion acc.", "emotion-wheel M-avg", "Accuracy_s", "Recall_s",
                         "distinct label lists"],
                        [[row, f"{s['primary']:.1f}", f"{s['M-avg']:.2f}", f"{s['Acc_s']:.2f}", f"{s['Rec_s']:.2f}",
                          s["distinct_lists"]] for row, s in r["rows"].items()])
        if r.get("paired"):
            out.append("\nThe model against each row on the same samples (primary-emotion accuracy, points; 95 % "
                       "bootstrap interval; samples only one of the two gets right; exact McNemar test):\n")
            out += md_table(["model minus", "difference", "95 % CI", "only the model / only the row", "McNemar p"],
                            [[row, f"{c['difference']:+.1f}", f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]",
                              f"{c['only_a']} / {c['only_b']}", f"{c['p_value']:.3f}"]
                             for row, c in r["paired"].items()])
        if r.get("per_utterance"):
            out.append("\nPer utterance (each utterance's own first label; dialogues with one emotional utterance: "
                       "is it labelled emotional, and alone):\n")
            shown = lambda v: f"{v:.1f}" if v == v else "n/a (no dialogues)"  # noqa: E731 (NaN: no such dialogues)
            out += md_table(["", "utterances", "primary-emotion acc.", "emotional utterance found", "found and alone"],
                            [[row, u["utterances"], f"{u['primary']:.1f}", shown(u["emotional utterance found"]),
                              shown(u["found and alone"])] for row, u in r["per_utterance"].items()])
        if "per_cue_primary" in r:
            rows = list(r["rows"])
            out.append("\nPrimary accuracy per cue (synthetic test split):\n")
            out += md_table(["cue", "samples", *rows], [[cue, c["samples"], *(f"{c[k]:.1f}" for k in rows)]
                                                        for cue, c in r["per_cue_primary"].items()])
        out.append("")
    return "\n".join(out) + "\n"


def format_set(name: str, r: dict) -> str:
    lines = [f"\n{name}: {r['what']} ({r['samples']} samples, primary chance {r['chance_primary']:.1f} %)",
             f"  {'':<52}{'primary':>9}{'M-avg':>8}{'Acc_s':>8}{'Rec_s':>8}{'lists':>7}"]
    for row, s in r["rows"].items():
        lines.append(f"  {row:<52}{s['primary']:9.1f}{s['M-avg']:8.2f}{s['Acc_s']:8.2f}{s['Rec_s']:8.2f}"
                     f"{s['distinct_lists']:7d}")
    for row, c in r.get("paired", {}).items():
        short = row.split(" ")[0] if row.startswith("(") else row
        lines.append(f"  model - {short:<44}{c['difference']:+9.1f}  95% CI [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]"
                     f"  only model / only it: {c['only_a']} / {c['only_b']}, McNemar p = {c['p_value']:.3f}")
    for cue, c in r.get("per_cue_primary", {}).items():
        lines.append(f"  {cue:<14} n={c['samples']:<4} " + "  ".join(f"{v:6.1f}" for k, v in c.items() if k != "samples"))
    if r.get("per_utterance"):
        lines.append(f"  per utterance{'':<39}{'primary':>9}{'found':>8}{'alone':>8}   (utterances / dialogues)")
        for row, u in r["per_utterance"].items():
            lines.append(f"  {row:<52}{u['primary']:9.1f}{u['emotional utterance found']:8.1f}"
                         f"{u['found and alone']:8.1f}   ({u['utterances']} / {u['one-emotional dialogues']})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
