"""``acoustemo corpus {ravdess,emodb}``: compose real-speech dialogues (see :mod:`acoustemo.corpora.real`)."""

from __future__ import annotations

import argparse

from ..corpora.real import LAYOUTS, RealConfig, build_real_corpus


def _ids(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(s.strip() for s in text.split(",") if s.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = RealConfig()
    parser.add_argument("corpus", choices=sorted(LAYOUTS), help="which corpus layout the folder has")
    parser.add_argument("--root", required=True, help="corpus folder: <root>/metadata.csv and the audio it lists")
    parser.add_argument("--out", required=True, help="output folder (audio/, manifests, dialogues.jsonl, stats)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--dialogues-per-speaker", type=int, default=d.dialogues_per_speaker,
                        help=f"dialogues composed per speaker (default {d.dialogues_per_speaker})")
    parser.add_argument("--min-utterances", type=int, default=d.min_utterances)
    parser.add_argument("--max-utterances", type=int, default=d.max_utterances)
    parser.add_argument("--single-emotion-fraction", type=float, default=d.single_emotion_fraction,
                        help="share of dialogues whose utterances all share one emotion (neutral included); "
                             f"the others are neutral but one emotional utterance (default {d.single_emotion_fraction})")
    parser.add_argument("--validation-speakers", default=None, metavar="IDS",
                        help="comma-separated speaker ids for validation (default: the documented rule)")
    parser.add_argument("--test-speakers", default=None, metavar="IDS",
                        help="comma-separated speaker ids for test (default: the documented rule)")
    parser.add_argument("--audio-format", choices=("flac", "wav"), default=d.audio_format)
    parser.add_argument("--every-clip", action="store_true",
                        help="every clip once, alone, instead of drawn dialogues (a single-clip set without repeats)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    config = RealConfig(seed=args.seed, dialogues_per_speaker=args.dialogues_per_speaker,
                        min_utterances=args.min_utterances, max_utterances=args.max_utterances,
                        single_emotion_fraction=args.single_emotion_fraction,
                        validation_speakers=_ids(args.validation_speakers), test_speakers=_ids(args.test_speakers),
                        audio_format=args.audio_format, every_clip=args.every_clip)
    build_real_corpus(args.corpus, args.root, args.out, config, progress=not args.quiet)
    return 0
