"""``acoustemo transcribe``: timestamped transcription of media files or of a whole manifest.

    acoustemo transcribe clip.mp4                 # "[0.66 - 2.30] Kids are talking by the door."
    acoustemo transcribe a.mp4 b.wav --json       # one JSON object per file (an error object for a bad file)
    acoustemo transcribe --manifest data.jsonl --output data.asr.jsonl
                                                  # fills `utterances` of samples that have none

A file that cannot be read does not stop the others: each is named on its own line and the exit status is 2
at the end (a sample that failed keeps ``utterances: null`` in the written manifest).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from ..asr.segment import DEFAULT_VAD_SILENCE, SPLITS
from ..errors import InputError, excerpt, one_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("media", nargs="*", help="video or audio files to transcribe")
    parser.add_argument("--json", action="store_true", help="print utterances with word times as JSON")
    parser.add_argument("--manifest", help="transcribe every sample of this JSONL manifest")
    parser.add_argument("--output", help="manifest mode: where to write the new manifest (atomically; may be --manifest)")
    parser.add_argument("--overwrite", action="store_true",
                        help="manifest mode: re-transcribe samples that already have utterances")
    parser.add_argument("--model", default=None,
                        help="faster-whisper model folder or name (default: the bundled Whisper tiny.en)")
    parser.add_argument("--beam-size", type=int, default=5, help="beam size (1: greedy; default 5)")
    parser.add_argument("--compute-type", default=None,
                        help="CTranslate2 compute type (default: int8 on the CPU, float16 on a GPU)")
    parser.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda or cuda:N")
    parser.add_argument("--language", default="en", help="language code, or 'auto' for multilingual models")
    parser.add_argument("--no-vad", action="store_true", help="do not drop non-speech with the Silero VAD filter")
    parser.add_argument("--split", choices=SPLITS, default="words",
                        help="utterances cut from the timed words at sentence ends and pauses (default), "
                             "Whisper's own segments, or the spans of speech Silero VAD finds (vad; sharper edges)")
    parser.add_argument("--vad-silence", type=float, default=DEFAULT_VAD_SILENCE,
                        help=f"--split vad: seconds of silence that end an utterance (default {DEFAULT_VAD_SILENCE})")
    parser.add_argument("--min-gap", type=float, default=0.3,
                        help="--split words: a pause of at least this many seconds ends an utterance (default 0.3)")


def run(args: argparse.Namespace) -> int:
    if bool(args.media) == (args.manifest is not None):
        raise InputError("give either a MEDIA file or --manifest (not both)")
    if args.manifest and not args.output:
        raise InputError("--manifest needs --output (the new manifest to write)")
    from ..asr.transcribe import NoSpeechWarning, Transcriber

    with warnings.catch_warnings():
        warnings.simplefilter("always", NoSpeechWarning)
        warnings.showwarning = lambda msg, cat, *a, **k: print(f"acoustemo transcribe: warning: {msg}", file=sys.stderr)
        return _run(args, Transcriber)


def _run(args: argparse.Namespace, Transcriber) -> int:
    from ..device import resolve_device

    transcriber = Transcriber(args.model, compute_type=args.compute_type, device=resolve_device(args.device),
                              split=args.split, min_gap=args.min_gap, vad_silence=args.vad_silence,
                              beam_size=args.beam_size,
                              language=None if args.language == "auto" else args.language,
                              vad_filter=not args.no_vad)
    if args.media:
        failed = 0
        for media in args.media:
            try:
                t = transcriber.transcribe(media)
            except InputError as e:
                failed += 1
                print(f"acoustemo transcribe: error: {one_line(str(e))}", file=sys.stderr)
                if args.json:
                    print(json.dumps({"media": media, "error": one_line(str(e))}, ensure_ascii=False))
                continue
            if args.json:
                print(json.dumps({"media": media, **t.to_json()}, ensure_ascii=False,
                                 indent=2 if len(args.media) == 1 else None))
            else:
                if len(args.media) > 1:
                    print(f"{media}:")
                for u in t.utterances:
                    print(f"[{u.start:.2f} - {u.end:.2f}] {u.text}")
        return 2 if failed else 0
    return _transcribe_manifest(transcriber, Path(args.manifest), Path(args.output), args.overwrite)


def _transcribe_manifest(transcriber, manifest: Path, output: Path, overwrite: bool) -> int:
    from tqdm import tqdm

    from ..data.manifest import read_manifest, write_manifest

    samples = read_manifest(manifest)
    todo = [s for s in samples if overwrite or s.utterances is None]
    failed = []
    for s in tqdm(todo, desc="transcribe", unit="file", disable=None):
        try:
            s.utterances = transcriber.transcribe(s.media_path, name=f"{manifest}: sample {excerpt(s.id)}").utterances
        except InputError as e:
            s.utterances = None
            failed.append(f"{manifest}: sample {excerpt(s.id)}, field 'media': {e}")
    out_root = output.resolve().parent
    for s in samples:  # keep media paths valid relative to the new manifest's folder
        if not Path(s.media).is_absolute() and out_root != manifest.resolve().parent:
            p = s.media_path.resolve()
            s.media = os.path.relpath(p, out_root) if p.is_relative_to(out_root) else str(p)
    write_manifest(output, samples)
    print(f"transcribed {len(todo) - len(failed)} of {len(samples)} samples -> {output}", file=sys.stderr)
    for msg in failed:
        print(f"acoustemo transcribe: error: {one_line(msg)}", file=sys.stderr)
    return 2 if failed else 0
