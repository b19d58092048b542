"""Recipe choices judged by speaker-disjoint cross-validation inside the training speakers (minutes, no LLM).

    python benchmarks/speaker_cv.py --data data/release --folds 5 --out runs/speaker-cv.json
    python benchmarks/speaker_cv.py --data data/release --variants none speaker:10 recording:10 speaker:10/recording:10

The training speakers of each corpus (``--data`` as ``make release-data`` builds it: RAVDESS actors 1-16, the
synthetic training voices) are dealt into ``--folds`` speaker-disjoint folds (:mod:`acoustemo.data.folds`); each
fold in turn is left out of the fit and scored. No held-out speaker (RAVDESS 17-20, the synthetic validation and
test voices, EmoDB 09) is read: they are scored once, at the end, by ``benchmarks/release_eval.py``.

What is fitted is baseline (b) of ``release_eval``: a standardised logistic regression (C = 0.1) on the mean and
standard deviation of the Whisper tiny.en frames (the first 384 columns of ``whisper_prosody``), of each clip and,
where utterances carry their own labels, of each utterance window. Each variant prepares the frames first:

    none                 the frames as they are (baseline (b) itself)
    speaker:S            speaker-relative (:mod:`acoustemo.data.speakers`): each speaker's frames standardised by
                         that speaker's statistics, pooled over the speaker's samples of the same set (a fold's
                         training speakers from their training samples, a held-out speaker from its own), shrunk
                         toward the training population with S seconds of its frames
    recording:S          each recording measured against its own frames only (one file, nothing else known)
    speaker:S/recording:S  fitted speaker-relative, scored per recording (a model trained with speaker baselines,
                         used on one file of a new voice)
    speaker+none:S/...   fitted on both the speaker-relative and the raw frames of every sample (rows twice)

Rows: RAVDESS single clips, RAVDESS dialogues (the clip's category), the dialogues' utterances (the probe fitted
and applied per utterance) and the synthetic dialogues; each variant beside ``none`` with the paired difference,
its 95 % bootstrap interval and McNemar's p (:mod:`acoustemo.metrics.paired`). It reports numbers and asserts none.

``--stage1 NAME=OVERRIDES`` (repeatable) also trains the acoustic branch (stage 1 of ``--config``, with the
comma-separated config overrides, "" for none) once per fold on the merged training manifest without that fold's
speakers, and scores its top label on the held-out samples of each corpus, beside baseline (b) fitted on the same
fold: about as long per fold as stage 1 itself (8-16 min on 2 cores). Folds are dealt over every speaker of the
merged manifest (RAVDESS, EmoDB, synthetic voices). Each fold's scores are kept in ``--runs``; a rerun resumes.
The token ``+augmented`` among a variant's overrides adds the augmented copies (``--data``/augmented/train.jsonl, as
``AUGMENT_COPIES=1 make release-data`` builds them) of the fold's training speakers to its training manifest. Where
that manifest exists, every fold is also scored on its held-out speakers' augmented copies (sets ``<corpus>~aug``:
the same clips under noise, gain, telephone or reverb, as docs/generalisation.md describes).

    python benchmarks/speaker_cv.py --data data/release --sets none --stage1 base= \
        --stage1 speaker=model.speaker_normalization=speaker --runs runs/speaker-cv

``--llm NAME`` (a ``--stage1`` variant) goes on to the LLM stage of the same recipe on the first ``--llm-folds``
folds of that variant (its stage 1 reused; on 2 cores about an hour per fold) and scores the model's answers on
each fold's held-out samples, decoded once per ``--priors`` weight (``model.acoustic_prior``: ``none`` the LLM
alone, ``0`` the first label constrained to a label word, ``w`` weighed by the stage-1 classifier): the primary
accuracy of each clip's first label and, on the RAVDESS dialogues, of each utterance's, beside baseline (b) and
the stage-1 head on the same samples.

    python benchmarks/speaker_cv.py --data data/release --sets none --runs runs/speaker-cv \
        --stage1 speaker=model.speaker_normalization=speaker --llm speaker --llm-folds 1 --priors none,1000,2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from acoustemo.cache.store import FeatureCache  # noqa: E402
from acoustemo.data.dataset import FeatureDataset, resolve_key  # noqa: E402
from acoustemo.data.folds import speaker_folds, split_by_folds  # noqa: E402
from acoustemo.data.manifest import read_manifest  # noqa: E402
from acoustemo.data.speakers import SpeakerBaseline, population_statistics  # noqa: E402
from acoustemo.metrics.paired import paired_comparison  # noqa: E402
from acoustemo.metrics.primary import CUE_CATEGORIES, EMOTION_CATEGORIES, category_of_labels  # noqa: E402
from acoustemo.training.acoustic import labelled_windows  # noqa: E402
from acoustemo.training.probe import fit_predict, window_stats  # noqa: E402

SETS = {  # name -> (corpus folder, categories, per-utterance rows)
    "ravdess-single": ("ravdess-single", EMOTION_CATEGORIES, False),
    "ravdess-dialogues": ("ravdess", EMOTION_CATEGORIES, False),
    "ravdess-utterances": ("ravdess", EMOTION_CATEGORIES, True),
    "synth": ("synth", CUE_CATEGORIES, False),
}


def parse_variant(text: str) -> tuple[tuple[str, float], tuple[str, float]]:
    """``"speaker:10/recording:10"`` -> ((fit mode, prior s), (score mode, prior s)); ``"none"`` both none."""
    parts = text.split("/")
    if len(parts) > 2:
        raise SystemExit(f"--variants {text!r}: at most FIT/SCORE")
    out = []
    for i, part in enumerate(parts):
        mode, _, seconds = part.partition(":")
        if mode not in ("none", "speaker", "recording") and not (i == 0 and mode == "speaker+none"):
            raise SystemExit(f"--variants {text!r}: mode {mode!r} is not none, speaker or recording")
        try:
            out.append((mode, float(seconds or 10.0)))
        except ValueError:
            raise SystemExit(f"--variants {text!r}: {seconds!r} is not a number of seconds") from None
    return out[0], out[-1]


def prepare(examples, mode: str, seconds: float, population) -> list:
    if mode == "none":
        return examples
    if mode == "speaker+none":
        return examples + prepare(examples, "speaker", seconds, population)
    baseline = SpeakerBaseline.from_stats(population, seconds * examples[0].frame_rate)
    return baseline.apply_all(examples, mode)


def rows(examples, categories, per_utterance: bool, dims: int):
    """(features, gold categories): one row per clip, or per labelled utterance window."""
    feats, gold = [], []
    for ex in examples:
        spans = labelled_windows(ex) if per_utterance else [(ex.labels[0], 0, ex.audio.shape[0])]
        for label, b, e in spans:
            feats.append(window_stats(ex.audio[b:e, :dims]))
            gold.append(category_of_labels([label], categories))
    return np.stack(feats), gold


def cross_validate(examples, folds, categories, per_utterance, dims, fit_mode, score_mode,
                   populations: dict) -> list[bool]:
    """Per-row correctness over all folds, rows in a fixed order (fold by fold, as the samples come);
    ``populations`` keeps each fold's training population statistics between variants."""
    hits = []
    for k, (train, test) in enumerate(split_by_folds(examples, folds)):
        if k not in populations:
            populations[k] = population_statistics(train)
        population = populations[k]
        x_train, y_train = rows(prepare(train, *fit_mode, population), categories, per_utterance, dims)
        x_test, y_test = rows(prepare(test, *score_mode, population), categories, per_utterance, dims)
        hits += [p == g for p, g in zip(fit_predict(x_train, y_train, x_test), y_test)]
    return hits


CORPORA = {"ravdess-single": EMOTION_CATEGORIES, "ravdess": EMOTION_CATEGORIES, "synth": CUE_CATEGORIES,
           "emodb": EMOTION_CATEGORIES}
PROBE_SOURCE = "stage 1, probe source"  # model.acoustic_prior_source=probe: the probe per utterance
NO_BASELINE = ", no speaker baseline"  # the row again with raw frames (a speaker-relative model)
# model.clip_prior_source=utterances: a clip of several utterances named from their probe priors, per emphasis
CLIP_ROW = "stage 1, clip from utterances, emphasis"
CLIP_EMPHASES = (0.0, 2.0, 5.0, 10.0, 20.0, 50.0)
BASELINE_B = "(b) Whisper mean+std probe"
AUGMENTED = "+augmented"  # --stage1 token: train on the augmented copies too
AUGMENTED_MANIFEST = "augmented/train.jsonl"  # under --data, as scripts/release_data.sh writes it


def fold_probe_labels(cfg, fold_dir: Path) -> list[str]:
    """The probe's label words of a fold run saved without them: the probe fitted again exactly as stage 1 did
    (the same rows and seed; only the probe, no training)."""
    import dataclasses

    from acoustemo.training.acoustic import AcousticTrainer

    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, train_manifest=str(fold_dir / "train.jsonl")))
    trainer = AcousticTrainer(cfg, progress=False)
    trainer.setup_data()
    trainer.setup_model()
    return trainer.model.probe_labels


def stage1_cv(data: Path, config: str, name: str, overrides: list[str], folds_k: int, runs: Path, dims: int,
              train: bool = True) -> dict:
    """Stage 1 of ``config`` (+ ``overrides``) trained per fold without the fold's speakers; per set, the held-out
    samples' primary hits of its top label and of baseline (b) on the same fold (one list per set, fold by fold).
    A fold trained before is scored again from its saved weights when a set is missing from its scores."""
    import dataclasses

    from acoustemo.config import load_config
    from acoustemo.data.manifest import write_manifest
    from acoustemo.io import atomic_write_json, read_json
    from acoustemo.training.acoustic import fit_acoustic, load_acoustic

    merged = data / "train.jsonl"
    samples = read_manifest(merged)
    augmented = read_manifest(data / AUGMENTED_MANIFEST) if (data / AUGMENTED_MANIFEST).is_file() else []
    augment = AUGMENTED in overrides
    overrides = [o for o in overrides if o != AUGMENTED]
    if augment and not augmented:
        raise SystemExit(f"--stage1 {name}: {AUGMENTED} needs {data / AUGMENTED_MANIFEST} "
                         f"(AUGMENT_COPIES=1 make release-data)")
    folds = speaker_folds(samples, folds_k, source=str(merged))
    cache = FeatureCache(data / "cache")
    hits: dict[str, dict[str, list[bool]]] = {}
    for k, held in enumerate(folds):
        fold_dir = runs / name / f"fold-{k}"
        base = load_config(config, [f"train.cache_dir={data / 'cache'}", "train.validation_manifest=null",
                                    f"train.output_dir={fold_dir}", *overrides])
        done_file = fold_dir / "scores.json"
        done = read_json(done_file) if done_file.is_file() else None
        if done is not None and (not same_run(done["config"], base)
                                 or done.get("augmented", False) != augment):
            done = None
        if done is None and not train:
            print(f"  stage 1 {name!r} fold {k}: not trained yet (--no-train)", flush=True)
            continue
        if done is None:
            fold_train = [dataclasses.replace(s, media=str(s.media_path), root=None)
                          for s in samples + (augmented if augment else []) if s.speaker not in held]
            fold_dir.mkdir(parents=True, exist_ok=True)
            write_manifest(fold_dir / "train.jsonl", fold_train)
            cfg = dataclasses.replace(base, train=dataclasses.replace(base.train,
                                                                      train_manifest=str(fold_dir / "train.jsonl")))
            t0 = time.perf_counter()
            model = fit_acoustic(cfg, fold_dir / "acoustic", progress=False).model
            done = {"config": base.to_dict(), "augmented": augment, "speakers": sorted(held),
                    "seconds": round(time.perf_counter() - t0, 1),
                    "hits": score_fold(model, samples, augmented, held, cache, base, dims)}
            atomic_write_json(done_file, done)
        elif set(done["hits"]) < set(score_sets(samples, augmented, held)) or (
                base.train.acoustic.probe_init and not all(PROBE_SOURCE in h and (c == "ravdess-utterances"
                                                                                  or clip_rows()[0] in h)
                                                           for c, h in done["hits"].items())):
            model = load_acoustic(fold_dir / "acoustic")
            if model.probe_labels is None and base.train.acoustic.probe_init:  # trained before they were saved
                model.probe_labels = fold_probe_labels(base, fold_dir)
            done["hits"] = score_fold(model, samples, augmented, held, cache, base, dims)
            atomic_write_json(done_file, done)
        print(f"  stage 1 {name!r} fold {k}: " + ", ".join(
            f"{c} {100 * np.mean(h['stage 1']):.1f} (b {100 * np.mean(h[BASELINE_B]):.1f})"
            for c, h in done["hits"].items()) + f"  ({done['seconds']:.0f} s)", flush=True)
        for corpus, h in done["hits"].items():
            for row, v in h.items():
                hits.setdefault(corpus, {}).setdefault(row, []).extend(v)
    return hits


def llm_cv(data: Path, config: str, name: str, overrides: list[str], folds_k: int, runs: Path, llm_folds: int,
           priors: list[str], sets: list[str] | None = None) -> dict:
    """The LLM stage of ``config`` (+ ``overrides``) on the first ``llm_folds`` folds of stage-1 variant ``name``,
    its stage 1 reused; per set, the held-out samples' primary hits of the answers' first labels for each prior
    weight, with those of (b) and of the stage-1 head from the fold's stage-1 scores (the same samples, in the
    same order); ``sets`` limits the sets scored. Kept in ``<fold>/llm-scores.json``; a rerun resumes (the LLM stage
    from its checkpoints)."""
    from acoustemo.config import acoustic_prior_overrides, load_config
    from acoustemo.inference.loading import checkpoint_config, load_model
    from acoustemo.io import FINAL_WEIGHTS, atomic_write_json, read_json
    from acoustemo.training import train
    from acoustemo.training.checkpoint import latest_checkpoint

    if AUGMENTED in overrides:
        raise SystemExit(f"--llm {name}: the LLM stage of a variant trained on {AUGMENTED} copies is not run here")
    samples = read_manifest(data / "train.jsonl")
    folds = speaker_folds(samples, folds_k, source=str(data / "train.jsonl"))
    cache = FeatureCache(data / "cache")
    hits: dict[str, dict[str, list[bool]]] = {}
    for k, held in enumerate(folds[:llm_folds]):
        fold_dir = runs / name / f"fold-{k}"
        if not (fold_dir / "scores.json").is_file():
            raise SystemExit(f"--llm {name}: fold {k} has no stage 1 yet (run --stage1 {name}=... first)")
        stage_one = read_json(fold_dir / "scores.json")["hits"]
        cfg = load_config(config, [f"train.cache_dir={data / 'cache'}", "train.validation_manifest=null",
                                   f"train.output_dir={fold_dir}", *overrides,
                                   f"train.train_manifest={fold_dir / 'train.jsonl'}"])
        final = fold_dir / "final"
        if not (final / FINAL_WEIGHTS).is_file():
            t0 = time.perf_counter()
            resume = "latest" if latest_checkpoint(fold_dir / "checkpoints") else None
            train(cfg, resume=resume, progress=False)
            print(f"  LLM stage {name!r} fold {k}: trained ({time.perf_counter() - t0:.0f} s)", flush=True)
        done_file = fold_dir / "llm-scores.json"
        done = read_json(done_file) if done_file.is_file() else {"priors": {}}
        for w in priors:
            if w not in done["priors"] or (sets and not set(sets) <= set(done["priors"][w])):
                model_cfg = checkpoint_config(final, overrides=acoustic_prior_overrides(w))
                t0 = time.perf_counter()
                model = load_model(final, model_cfg, merge_lora=True)  # the same answers, faster
                done["priors"][w] = score_llm_fold(model, samples, held, cache, model_cfg, sets)
                done["priors"][w]["seconds"] = round(time.perf_counter() - t0, 1)
                atomic_write_json(done_file, done)
            print(f"  LLM stage {name!r} fold {k}, prior {w}: " + ", ".join(
                f"{c} {100 * np.mean(h):.1f} (b {100 * np.mean(stage_one[c][BASELINE_B]):.1f})"
                for c, h in done["priors"][w].items() if c != "seconds"), flush=True)
            for corpus, h in done["priors"][w].items():
                if corpus != "seconds":
                    hits.setdefault(corpus, {}).setdefault(f"model, prior {w}", []).extend(h)
        for corpus in hits:
            for row in (BASELINE_B, "stage 1"):
                hits[corpus].setdefault(row, []).extend(stage_one[corpus][row])
    return hits


def score_llm_fold(model, samples, held, cache, cfg, sets: list[str] | None = None) -> dict:
    """Primary hits of the answers' first labels on the fold's held-out samples: per clip for each corpus, per
    utterance (each utterance's own list) on the RAVDESS dialogues; the order of :func:`score_fold`'s."""
    from acoustemo.data.dataset import prepared_for
    from acoustemo.inference.evaluation import Generation, generate_all
    from acoustemo.metrics.primary import primary_hit

    key = resolve_key(cache, "audio", cfg.train.audio_key)
    out, answered = {}, {}
    for corpus in [c for c in score_sets(samples, [], held) if not sets or c in sets]:
        per_utterance = corpus == "ravdess-utterances"
        source = "ravdess" if per_utterance else corpus
        categories = CORPORA[source]
        if source not in answered:  # the dialogues' answers serve both their rows
            test = [s for s in samples if s.speaker in held and s.id.startswith(source + "/")]
            ds = prepared_for(FeatureDataset(test, cache, audio_key=key, require_labels=True), model)
            answered[source] = ds, generate_all(model, ds, batch_size=cfg.train.eval_batch_size,
                                                generation=Generation(), progress=False)
        ds, preds = answered[source]
        rows = []
        for i, pred in enumerate(preds):
            ex = ds[i]
            if not per_utterance:
                rows.append(primary_hit(category_of_labels(ex.labels[:1], categories), pred.emotions, categories))
                continue
            own = pred.utterance_emotions or []
            for j, (label, _, _) in enumerate(labelled_windows(ex)):
                rows.append(primary_hit(category_of_labels([label], categories), own[j] if j < len(own) else [],
                                        categories))
        out[corpus] = rows
    return out


def same_run(saved: dict, cfg) -> bool:
    """A fold run's saved config (read back: a setting added since takes its default) and ``cfg`` alike but for
    where they were written (a folder of runs may be moved)."""
    from acoustemo.config import Config, from_dict, settings_diff

    return settings_diff(from_dict(Config, saved, ""), cfg) in ([], ["train.output_dir"])


def score_sets(samples, augmented, held) -> list[str]:
    """The sets a fold is scored on: each corpus with held-out samples and training samples, the RAVDESS
    dialogues' utterances, and ``<corpus>~aug`` for each corpus whose held-out samples have augmented copies."""
    out = []
    for corpus in CORPORA:
        ids = [s.speaker in held for s in samples if s.id.startswith(corpus + "/")]
        if any(ids) and not all(ids):
            out.append(corpus)
    copies = [c + "~aug" for c in out if any(s.speaker in held and s.id.startswith(c + "/") for s in augmented)]
    return out + (["ravdess-utterances"] if "ravdess" in out else []) + copies


def clip_rows() -> list[str]:
    return [f"{CLIP_ROW} {e:g}" for e in CLIP_EMPHASES]


def score_fold(model, samples, augmented, held, cache, cfg, dims: int) -> dict:
    """The held-out samples' hits per set: the stage-1 head's top label (against each speaker's baseline, and for a
    speaker-relative model also with raw frames) and baseline (b) fitted on the fold's (clean) training samples; on
    the RAVDESS dialogues also per utterance (the window head; the probe fitted per utterance); on ``<corpus>~aug``
    the held-out speakers' augmented copies of that corpus."""
    from acoustemo.data.dataset import prepared_for
    from acoustemo.metrics.primary import primary_hit
    from acoustemo.model.prior import clip_from_utterances, neutral_mask
    from acoustemo.training.acoustic import predict_acoustic, predict_acoustic_windows

    key = resolve_key(cache, "audio", cfg.train.audio_key)
    forms = [("stage 1", True)] + ([("stage 1" + NO_BASELINE, False)]
                                   if cfg.model.speaker_normalization != "none" else [])
    out = {}
    for corpus in score_sets(samples, augmented, held):
        per_utterance = corpus == "ravdess-utterances"
        source = "ravdess" if per_utterance else corpus.removesuffix("~aug")
        categories = CORPORA[source]
        test = [s for s in (augmented if corpus.endswith("~aug") else samples)
                if s.speaker in held and s.id.startswith(source + "/")]
        fitted = [s for s in samples if s.speaker not in held and s.id.startswith(source + "/")]
        ds = prepared_for(FeatureDataset(test, cache, audio_key=key, require_labels=True), model)
        raw_test = [ds.example(i, relative=False) for i in range(len(ds))]
        raw_fit = FeatureDataset(fitted, cache, audio_key=key, require_labels=True)
        x_train, y_train = rows([raw_fit[i] for i in range(len(raw_fit))], categories, per_utterance, dims)
        x_test, gold = rows(raw_test, categories, per_utterance, dims)
        scored = {}
        for row, relative in forms:
            examples = [ds.example(i, relative=relative) for i in range(len(ds))]
            if per_utterance:
                probs = torch.cat([w for ex, w in zip(examples, predict_acoustic_windows(model, examples))
                                   if labelled_windows(ex)])
            else:
                probs = predict_acoustic(model, examples)
            scored[row] = [primary_hit(g, [model.labels[int(j)]], categories) for g, j in zip(gold, probs.argmax(1))]
        # model.acoustic_prior_source=probe: utterances and one-utterance clips (and, for a speaker-relative model,
        # the same with raw frames: one file of a voice of which nothing else is known)
        for row, relative in [(PROBE_SOURCE, True)] + ([(PROBE_SOURCE + NO_BASELINE, False)] if len(forms) > 1
                                                       else []):
            if model.probe_labels is None:
                break
            examples = [ds.example(i, relative=relative) for i in range(len(ds))]
            windows = predict_acoustic_windows(model, examples, source="probe")
            if per_utterance:
                probs = torch.cat([w for ex, w in zip(examples, windows) if labelled_windows(ex)])
            else:
                probs = torch.stack([w[0] if len(w) == 1 else p
                                     for w, p in zip(windows, predict_acoustic(model, examples))])
            scored[row] = [primary_hit(g, [model.labels[int(j)]], categories) for g, j in zip(gold, probs.argmax(1))]
            if not per_utterance and relative:
                neutral = neutral_mask(model.labels)
                for clip_row, emphasis in zip(clip_rows(), CLIP_EMPHASES):
                    named = torch.stack([clip_from_utterances(w, neutral, emphasis)
                                         if len(w) > 1 else p for w, p in zip(windows, probs)])
                    scored[clip_row] = [primary_hit(g, [model.labels[int(j)]], categories)
                                   for g, j in zip(gold, named.argmax(1))]
        out[corpus] = {**scored, BASELINE_B: [bool(p == g) for p, g in zip(fit_predict(x_train, y_train, x_test), gold)]}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder built by `make release-data`")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--variants", nargs="+",
                   default=["none", "recording:0", "recording:10", "recording:30", "speaker:10",
                            "speaker:10/recording:10"])
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated of {', '.join(SETS)}")
    p.add_argument("--audio-key", default="whisper_prosody")
    p.add_argument("--dims", type=int, default=384, help="the first this many feature columns (384: Whisper alone)")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--config", default=str(ROOT / "configs" / "small-release.yaml"), help="the recipe of --stage1")
    p.add_argument("--stage1", action="append", default=[], metavar="NAME=OVERRIDES",
                   help="cross-validate stage 1 of --config with these comma-separated overrides (repeatable)")
    p.add_argument("--runs", default="runs/speaker-cv", help="--stage1: folder of the fold runs (resumes)")
    p.add_argument("--no-train", action="store_true", help="--stage1: table the folds trained so far, train none")
    p.add_argument("--llm", action="append", default=[], metavar="NAME",
                   help="also the LLM stage of this --stage1 variant, scored per acoustic prior (repeatable)")
    p.add_argument("--llm-folds", type=int, default=None, help="--llm: the first this many folds (default: all)")
    p.add_argument("--llm-sets", default=None,
                   help="--llm: comma-separated sets to score (default: every set of the folds, as for --stage1)")
    p.add_argument("--priors", default="none,1000,2",
                   help="--llm: comma-separated model.acoustic_prior weights to decode with (none: the LLM alone)")
    args = p.parse_args()

    data = Path(args.data)
    cache = FeatureCache(data / "cache")
    key = resolve_key(cache, "audio", args.audio_key)
    variants = {v: parse_variant(v) for v in args.variants}
    report = {"data": str(data), "folds": args.folds, "dims": args.dims, "sets": {}}
    for name in [s.strip() for s in args.sets.split(",") if s.strip() and s.strip() != "none"]:
        corpus, categories, per_utterance = SETS[name]
        manifest = data / corpus / "train.jsonl"
        t0 = time.perf_counter()
        ds = FeatureDataset(read_manifest(manifest), cache, audio_key=key, require_labels=True, source=manifest)
        examples = [ds[i] for i in range(len(ds))]
        folds = speaker_folds(ds.samples, args.folds, source=str(manifest))
        populations: dict = {}
        results = {v: cross_validate(examples, folds, categories, per_utterance, args.dims, *modes, populations)
                   for v, modes in variants.items()}
        base = results[args.variants[0]]
        table = {}
        print(f"\n{name}: {len(examples)} samples of {sum(map(len, folds))} speakers, {args.folds} folds, "
              f"{len(base)} rows ({time.perf_counter() - t0:.0f} s)")
        for v, hits in results.items():
            c = paired_comparison(hits, base)
            table[v] = c
            vs = "" if v == args.variants[0] else (f"  {c['difference']:+5.1f} [{c['ci_low']:+5.1f}, {c['ci_high']:+5.1f}]"
                                                    f"  p {c['p_value']:.3f}")
            print(f"  {v:<26} {c['a']:5.1f}{vs}", flush=True)
        report["sets"][name] = {"samples": len(examples), "rows": len(base),
                                "folds": [sorted(f) for f in folds], "variants": table}
    specs = {}  # --stage1 NAME=OVERRIDES -> {name: [override, ...]}
    for spec in args.stage1:
        name, sep, overrides = spec.partition("=")
        if not sep or not name:
            raise SystemExit(f"--stage1 {spec!r}: expected NAME=OVERRIDES")
        specs[name] = [o.strip() for o in overrides.split(",") if o.strip()]
    stage1 = {name: stage1_cv(data, args.config, name, overrides, args.folds, Path(args.runs), args.dims,
                              train=not args.no_train) for name, overrides in specs.items()}
    if stage1:
        first = next(iter(stage1))
        print(f"\nstage 1, {args.folds} speaker-disjoint folds over the merged training manifest: primary accuracy")
        report["stage1"] = {}
        for corpus in [*CORPORA, "ravdess-utterances", *(c + "~aug" for c in CORPORA)]:
            if corpus not in stage1[first]:
                continue
            base = stage1[first][corpus][BASELINE_B]
            rows_ = {BASELINE_B: base, **{f"{row} {n}": hits for n, h in stage1.items()
                                          for row, hits in h[corpus].items() if row != BASELINE_B}}
            report["stage1"][corpus] = {}
            print(f"  {corpus} ({len(base)} samples)")
            reference = f"stage 1 {first}"
            for row, h in rows_.items():
                c = paired_comparison(h, base)
                report["stage1"][corpus][row] = c
                vs = "" if row == BASELINE_B else (f"  vs (b) {c['difference']:+5.1f} [{c['ci_low']:+5.1f}, "
                                                   f"{c['ci_high']:+5.1f}]  p {c['p_value']:.3f}")
                if row not in (BASELINE_B, reference):  # and against the first variant, on the same samples
                    r = paired_comparison(h, rows_[reference])
                    c["vs_first"] = r
                    vs += f"  vs {first} {r['difference']:+5.1f} [{r['ci_low']:+5.1f}, {r['ci_high']:+5.1f}]"
                print(f"    {row:<44} {c['a']:5.1f}{vs}", flush=True)
    for name in args.llm:
        if name not in specs:
            raise SystemExit(f"--llm {name}: not a --stage1 variant of this run ({', '.join(specs) or 'none'})")
        hits = llm_cv(Path(args.data), args.config, name, specs[name], args.folds, Path(args.runs),
                      args.llm_folds or args.folds, [w.strip() for w in args.priors.split(",") if w.strip()],
                      [c.strip() for c in args.llm_sets.split(",")] if args.llm_sets else None)
        print(f"\nLLM stage of {name!r}, {args.llm_folds or args.folds} of {args.folds} folds: primary accuracy")
        report.setdefault("llm", {})[name] = {}
        for corpus, rows_ in hits.items():
            base = rows_[BASELINE_B]
            print(f"  {corpus} ({len(base)} rows)")
            report["llm"][name][corpus] = {}
            for row, h in rows_.items():
                c = paired_comparison(h, base)
                report["llm"][name][corpus][row] = c
                vs = "" if row == BASELINE_B else (f"  vs (b) {c['difference']:+5.1f} [{c['ci_low']:+5.1f}, "
                                                   f"{c['ci_high']:+5.1f}]  p {c['p_value']:.3f}")
                print(f"    {row:<28} {c['a']:5.1f}{vs}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
