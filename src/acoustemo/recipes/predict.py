"""``acoustemo predict``: a trained model on new media files (see :mod:`acoustemo.pipeline`).

    acoustemo predict clip.mp4 other.wav                        # the model shipped with the package
    acoustemo predict clip.mp4 --checkpoint runs/small/final --json

For each file: the clip-level open-vocabulary labels, then the utterance timeline (start, end, text). A
file that cannot be read is reported on its own line and the others still get their result; the exit
status is then 2. ``--json`` writes one object per file (an ``error`` object for a bad one).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..config import add_device_argument
from ..device import resolve_device
from ..errors import AcoustemoError
from ..pipeline import Predictor


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("media", nargs="+", help="video or audio files")
    p.add_argument("--checkpoint", default=None,
                   help="a trained model folder (config.yaml + trainable.safetensors); default: the shipped model")
    p.add_argument("--whisper-model", default=None, help="Whisper model for transcription (default: bundled tiny.en)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    add_device_argument(p)


def run(args) -> int:
    resolve_device(args.device)  # an absent device stops here, before anything is loaded
    checkpoint = args.checkpoint
    if checkpoint is None:
        from ..pretrained import pretrained_path

        checkpoint = pretrained_path()
    predictor = Predictor(checkpoint, transcriber_model=args.whisper_model, max_new_tokens=args.max_new_tokens,
                          device=args.device)
    failed = 0
    for media in args.media:
        try:
            result = predictor(media)
        except AcoustemoError as e:
            failed += 1
            if args.json:
                print(json.dumps({"media": media, "error": str(e)}, ensure_ascii=False), flush=True)
            print(f"acoustemo predict: error: {e}", file=sys.stderr, flush=True)
            continue
        print(json.dumps(result.to_json(), ensure_ascii=False) if args.json else result.format(), flush=True)
    return 2 if failed else 0
