"""``acoustemo demo``: the shipped model on example media, or (``--train``) the whole pipeline from scratch.

    acoustemo demo                       # the shipped model labels examples/*.flac and examples/*.mp4
    acoustemo demo --media my_clip.mp4   # ... or these files
    acoustemo demo --train               # synth -> features -> short fine-tune -> scored test split

Without ``--train`` it is ``acoustemo predict`` with the model that ships inside the package: for each file
the clip-level labels and the utterance timeline. With ``--train``, offline, in a few minutes on a CPU:

1. a synthetic micro-prosody corpus (espeak-ng dialogues with local cues; ``acoustemo synth``);
2. frozen Whisper tiny.en features of every dialogue into a feature cache (``acoustemo extract``);
3. a short fine-tune of the ``small`` preset (SmolLM2-135M-Instruct + LoRA, audio only) (``acoustemo train``);
4. open-vocabulary labels for the test split, scored with the emotion-wheel metrics (``acoustemo evaluate``).

Every stage is skipped when its output is already there, and training resumes from its newest checkpoint,
so an interrupted demo continues where it stopped. That run is a smoke test of the pipeline, not a
trained model: ``make release`` trains the shipped one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..config import add_quantization_argument
from ..errors import InputError

SPLITS = ("train", "validation", "test")


EXAMPLES = Path("examples")  # the repository's example media, relative to its root (make demo runs there)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--media", nargs="+", default=None,
                   help="files for the shipped model (default: the .flac, .wav and .mp4 files of ./examples)")
    p.add_argument("--train", action="store_true",
                   help="instead: build a synthetic corpus, fine-tune the small preset briefly and score it")
    p.add_argument("--out", default="runs/demo", help="--train: folder for the corpus, the feature cache and the run")
    p.add_argument("--num", type=int, default=48, help="synthetic dialogues")
    p.add_argument("--steps", type=int, default=24, help="optimizer steps of the fine-tune")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_quantization_argument(p)


def _stage(name: str) -> float:
    print(f"\n== {name}", file=sys.stderr, flush=True)
    return time.perf_counter()


def _done(t0: float, what: str) -> None:
    print(f"   {what} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)


def run(args) -> int:
    if args.quantize:
        from ..device import resolve_device
        from ..model.llm import check_quantization

        check_quantization(args.quantize, resolve_device("auto"))
    if not args.train:
        return run_shipped(args)
    return run_training(args)


def run_shipped(args) -> int:
    """The shipped model on the example media: labels and timeline per file."""
    from ..inference.predictor import Predictor
    from ..inference.pretrained import pretrained_path

    media = args.media or sorted(p for p in EXAMPLES.glob("*") if p.suffix in (".flac", ".wav", ".mp4"))
    if not media:
        raise InputError(f"{EXAMPLES.resolve()}: no example media here; run from the repository root or give --media")
    t0 = time.perf_counter()
    predictor = Predictor(pretrained_path(), quantize=args.quantize, preload_transcriber=True)
    print(f"shipped model loaded ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    failed = 0
    for m in media:
        t0 = time.perf_counter()
        try:
            result = predictor(m)
        except InputError as e:
            failed += 1
            print(f"acoustemo demo: error: {e}", file=sys.stderr, flush=True)
            continue
        print(result.format() + f"\n  ({time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 2 if failed else 0


def run_training(args) -> int:
    from ..cache.extract import extract
    from ..cache.store import FeatureCache
    from ..config import TRAJECTORY_SETTINGS, load_config, settings_diff
    from ..io import FINAL_WEIGHTS
    from ..corpora.synth import SynthConfig, build_synth_corpus
    from ..data.manifest import read_manifest
    from ..encoders import build_audio_encoder
    from ..inference.evaluation import evaluate, format_scores
    from ..training import train
    from ..training.checkpoint import latest_checkpoint

    out = Path(args.out)
    corpus, cache_dir, run_dir = out / "corpus", out / "cache", out / "run"
    progress = not args.quiet

    t0 = _stage(f"1/4 synthetic corpus: {args.num} dialogues -> {corpus}")
    stamp = corpus / "config.json"
    built = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if built.get("num") == args.num and built.get("seed") == args.seed:
        _done(t0, "already there")
    else:
        build_synth_corpus(corpus, SynthConfig(num=args.num, seed=args.seed), progress=progress)
        _done(t0, "built")

    t0 = _stage(f"2/4 Whisper tiny.en features -> {cache_dir}")
    samples = [s for split in SPLITS for s in read_manifest(corpus / f"{split}.jsonl", check_media=True)]
    report = extract(samples, FeatureCache(cache_dir), build_audio_encoder("whisper"), progress=progress)
    _done(t0, f"{report.computed} computed, {report.reused} reused")

    test = corpus / "test.jsonl"
    if not read_manifest(test):
        raise InputError(f"{test}: the test split is empty; raise --num")
    overrides = [
        "model.use_visual=false",  # the synthetic corpus is audio only
        f"train.train_manifest={corpus / 'train.jsonl'}",
        f"train.validation_manifest={corpus / 'validation.jsonl'}",
        f"train.test_manifest={test}",
        f"train.cache_dir={cache_dir}",
        "train.audio_key=whisper",
        f"train.output_dir={run_dir}",
        f"train.max_steps={args.steps}",
        f"train.seed={args.seed}",
    ]
    cfg = load_config("small", overrides)
    final = run_dir / "final"
    t0 = _stage(f"3/4 fine-tune the small preset for {args.steps} steps -> {run_dir}")
    if (final / FINAL_WEIGHTS).is_file():
        changed = settings_diff(load_config(final / "config.yaml"), cfg, TRAJECTORY_SETTINGS)
        if changed:
            raise InputError(f"{final}: trained with other settings ({', '.join(changed)}); use another --out")
        _done(t0, "already trained")
    else:
        resume = "latest" if latest_checkpoint(run_dir / "checkpoints") else None
        result = train(cfg, resume=resume, progress=progress)
        _done(t0, f"loss {result.loss:.3f}" + (f", validation loss {result.val_loss:.3f}"
                                               if result.val_loss is not None else ""))

    t0 = _stage(f"4/4 generate and score the test split ({test})")
    result = evaluate(final, metrics=["wheel"], progress=progress)
    _done(t0, f"predictions and scores -> {result['out']}")
    for p in result["predictions"][:5]:
        print(f"   {p.id}: {p.text!r}", file=sys.stderr)
    print(format_scores(result["scores"]))
    return 0
