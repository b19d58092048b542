"""``acoustemo predict``: a trained model on new media files (see :mod:`acoustemo.pipeline`).

    acoustemo predict clip.mp4 other.wav                        # the model shipped with the package
    acoustemo predict clip.mp4 --checkpoint runs/small/final --json

For each file: the clip-level open-vocabulary labels, then the utterance timeline (start, end, text). A
file that cannot be read is reported on its own line and the others still get their result; the exit
status is then 2. ``--json`` writes one object per file (an ``error`` object for a bad one).

``--explain`` adds, per utterance, its ``evidence`` (how much the answer's log-likelihood drops when that
utterance's sound is neutralised, :mod:`acoustemo.explain`) and the Q-Former's ``attention`` over its frames,
and writes a figure per file into ``--figures`` (waveform, pitch, utterances, evidence bars, attention strip).

    acoustemo predict clip.mp4 --explain --figures explain/     # -> explain/clip.mp4.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..asr.segment import SPLITS
from ..config import add_device_argument, add_prior_arguments, add_quantization_argument, prior_overrides
from ..device import resolve_device
from ..errors import AcoustemoError, one_line
from ..inference.predictor import DEFAULT_SPLIT, Predictor


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("media", nargs="+", help="video or audio files")
    p.add_argument("--checkpoint", default=None,
                   help="a trained model folder (config.yaml + trainable.safetensors); default: the shipped model")
    p.add_argument("--whisper-model", default=None, help="Whisper model for transcription (default: bundled tiny.en)")
    p.add_argument("--split", choices=SPLITS, default=DEFAULT_SPLIT,
                   help="how the utterances are cut: at sentence ends and pauses of Whisper's words (words), at the "
                        "spans of speech Silero VAD finds (vad), or Whisper's segments (default: "
                        f"{DEFAULT_SPLIT})")
    p.add_argument("--beam-size", type=int, default=5,
                   help="transcription beam size (default 5; 1 is greedy, about twice as fast)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    p.add_argument("--explain", action="store_true",
                   help="per utterance: evidence (occlusion) and the Q-Former's frame attention, and a figure per file")
    p.add_argument("--figures", default="explain", help="--explain: folder of the figures (default: explain/)")
    p.add_argument("--explain-method", choices=("prior", "gradient", "occlusion"), default=None,
                   help="--explain: prior (each utterance's share in the prior that named the clip's first label; "
                        "the default for a model that names clips from its utterances, as the shipped one), "
                        "gradient (one backward pass, linear in the utterances; the default otherwise) or occlusion "
                        "(one scoring per utterance with its sound neutralised; the default with --int8)")
    p.add_argument("--speaker-baseline", nargs="+", default=None, metavar="FILE",
                   help="other recordings of the same speaker: each file is measured against this voice's baseline "
                        "(a model trained with model.speaker_normalization; default: each file's own)")
    add_prior_arguments(p)
    add_device_argument(p)
    add_quantization_argument(p)


def run(args) -> int:
    from ..model.llm import check_quantization

    check_quantization(args.quantize, resolve_device(args.device))  # stops here, before anything is loaded
    checkpoint = args.checkpoint
    if checkpoint is None:
        from ..inference.pretrained import pretrained_path

        checkpoint = pretrained_path()
    overrides = prior_overrides(args)
    predictor = Predictor(checkpoint, overrides=overrides, transcriber_model=args.whisper_model,
                          beam_size=args.beam_size, max_new_tokens=args.max_new_tokens, device=args.device,
                          quantize=args.quantize, split=args.split, preload_transcriber=True)
    if args.speaker_baseline:
        predictor.set_speaker_baseline(args.speaker_baseline)
    failed = 0
    for media in args.media:
        try:
            result = predictor(media, explain=args.explain, explain_method=args.explain_method)
            if args.explain and result.explanation is not None:
                from ..inference.explain import plot_explanation

                result.figure = str(plot_explanation(media, result.utterances, result.emotions, result.explanation,
                                                     Path(args.figures) / f"{Path(media).name}.png"))
        except AcoustemoError as e:
            failed += 1
            if args.json:
                print(json.dumps({"media": media, "error": one_line(str(e))}, ensure_ascii=False), flush=True)
            print(f"acoustemo predict: error: {one_line(str(e))}", file=sys.stderr, flush=True)
            continue
        print(json.dumps(result.to_json(), ensure_ascii=False) if args.json else result.format(), flush=True)
    return 2 if failed else 0
