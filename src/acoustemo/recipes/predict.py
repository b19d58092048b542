"""``acoustemo predict``: a trained model on new media files (see :mod:`acoustemo.pipeline`).

    acoustemo predict clip.mp4 other.wav --checkpoint runs/small/final [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from ..config import add_device_argument
from ..device import resolve_device
from ..pipeline import Predictor


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("media", nargs="+", help="video or audio files")
    p.add_argument("--checkpoint", required=True, help="a trained model folder (config.yaml + trainable.safetensors)")
    p.add_argument("--whisper-model", default=None, help="Whisper model for transcription (default: bundled tiny.en)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    add_device_argument(p)


def run(args) -> int:
    resolve_device(args.device)  # an absent device stops here, before anything is loaded
    predictor = Predictor(args.checkpoint, transcriber_model=args.whisper_model, max_new_tokens=args.max_new_tokens,
                          device=args.device)
    for media in args.media:
        result = predictor(media)
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            print(f"{result.media}: {', '.join(result.emotions) or '(no emotion named)'}")
            for u in result.utterances:
                print(f"  {u.start:7.2f}-{u.end:7.2f} s  {u.text}", file=sys.stderr)
    return 0
