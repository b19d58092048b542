"""``acoustemo synth``: generate synthetic micro-prosody dialogues (see :mod:`acoustemo.corpora.synth`)."""

from __future__ import annotations

import argparse

from ..corpora.synth import CUES, SynthConfig, build_synth_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SynthConfig()
    parser.add_argument("--out", required=True, help="output folder (audio/, manifests, cues.jsonl, stats)")
    parser.add_argument("--num", type=int, default=d.num, help=f"number of dialogues (default {d.num})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    parser.add_argument("--min-utterances", type=int, default=d.min_utterances)
    parser.add_argument("--max-utterances", type=int, default=d.max_utterances)
    parser.add_argument("--cues", default=",".join(d.cues),
                        help=f"comma-separated cues of manipulated dialogues (default: all of {', '.join(CUES)})")
    parser.add_argument("--control-fraction", type=float, default=d.control_fraction,
                        help=f"share of dialogues without manipulation (default {d.control_fraction})")
    parser.add_argument("--sarcasm-fraction", type=float, default=d.sarcasm_fraction,
                        help=f"share of sarcasm dialogues: praise spoken flat, low and slow (default {d.sarcasm_fraction})")
    parser.add_argument("--distractor-fraction", type=float, default=d.distractor_fraction,
                        help="share of manipulated dialogues in the distractor design: cue in the last <=1.5 s, "
                             f"whole-clip statistics compensated (default {d.distractor_fraction})")
    parser.add_argument("--contradict-fraction", type=float, default=d.contradict_fraction,
                        help=f"share of manipulated dialogues whose words contradict the cue (default {d.contradict_fraction})")
    parser.add_argument("--snr", type=float, default=None, metavar="DB",
                        help="add pink background noise at this signal-to-noise ratio in dB (default: clean)")
    parser.add_argument("--video", action="store_true", help="also write an mp4 per dialogue and use it as the media")
    parser.add_argument("--audio-format", choices=("flac", "wav"), default=d.audio_format)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    config = SynthConfig(
        num=args.num, seed=args.seed, min_utterances=args.min_utterances, max_utterances=args.max_utterances,
        cues=tuple(c.strip() for c in args.cues.split(",") if c.strip()),
        control_fraction=args.control_fraction, sarcasm_fraction=args.sarcasm_fraction,
        distractor_fraction=args.distractor_fraction, contradict_fraction=args.contradict_fraction,
        snr_db=args.snr, video=args.video, audio_format=args.audio_format)
    build_synth_corpus(args.out, config, progress=not args.quiet)
    return 0
