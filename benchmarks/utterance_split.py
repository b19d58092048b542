"""Utterance boundaries against the known ones: Whisper's segments, cutting the words, and the stream's VAD.

    python benchmarks/utterance_split.py --data data/release [--limit 80] [--out docs/utterance-split.json]
    python benchmarks/utterance_split.py --data data/release --modes vad --vad-silence 0.15,0.2,0.3 --split validation

For the test dialogues of ``<data>/synth`` and ``<data>/ravdess`` (and ``<data>/emodb`` when present), whose
manifests hold the exact utterance times of their composition, it transcribes each dialogue twice with the
bundled Whisper tiny.en: utterances = Whisper's segments, and utterances cut from the timed words at
sentence ends and pauses (``acoustemo.asr.segment``, the default). Reported per corpus and mode: the share
of dialogues with the right number of utterances, and for those, the mean absolute error of the start and
end times (ms).

Mode ``vad`` is what ``acoustemo stream`` cuts: Silero VAD over the dialogue pushed in 0.25 s chunks
(:class:`acoustemo.inference.stream.Endpointer`), once per ``--vad-silence`` (the silence that ends an utterance);
its bounds are measured as the speech edges the stream reports, and as the audio it reads (with ``speech_pad``
of audio either side). Mode ``words-in-vad`` is the batch path's ``Transcriber(split="vad")``: the spans of speech
Silero VAD finds in the whole file, each with Whisper's words in it; ``--vad-join`` also gives it with spans joined
where Whisper's words say the sentence goes on (``Transcriber(vad_join=...)``).

``--accuracy`` also answers every dialogue with the shipped model (``--checkpoint``) on each mode's utterances,
and on the manifest's true ones, as ``acoustemo predict`` does on a file heard alone: the primary accuracy of the
clip's first label, and per gold utterance of the first label of the answered utterance that overlaps it most
(none: wrong). What a mode's boundaries cost or buy in answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def vad_cutter(min_silence: float, *, edges: bool):
    """A function like ``Transcriber.transcribe`` giving the utterances the stream's endpointer cuts."""
    from types import SimpleNamespace

    from acoustemo.inference.stream import Endpointer
    from acoustemo.media import SAMPLE_RATE
    from acoustemo.utterance import Utterance

    step = SAMPLE_RATE // 4  # 0.25 s chunks

    def cut(wav, name=None):
        endpointer = Endpointer(min_silence=min_silence)
        segments = []
        for i in range(0, len(wav), step):
            endpointer.push(wav[i:i + step])
            segments += endpointer.ready()
        segments += endpointer.flush()
        bounds = [(s.start, s.end) if edges else (s.audio_start, s.audio_start + len(s.audio) / SAMPLE_RATE)
                  for s in segments]
        return SimpleNamespace(utterances=[Utterance(a, b) for a, b in bounds])

    return cut


TRUE_UTTERANCES = "the manifest's true utterances"


def answer_hits(predictor, sample, utterances, categories) -> tuple[bool, list[bool]]:
    """The model's answer on ``sample``'s file with these utterances: is the clip's first label right, and for each
    gold utterance the first label of the answered utterance overlapping it most."""
    from acoustemo.metrics.primary import category_of_labels, primary_hit

    if not utterances:
        return False, [False] * len(sample.utterances)
    result = predictor(sample.media_path, utterances=list(utterances))
    own = result.utterance_emotions or [[] for _ in result.utterances]
    hits = []
    for u in sample.utterances:
        overlap = [max(0.0, min(u.end, v.end) - max(u.start, v.start)) for v in result.utterances]
        best = int(np.argmax(overlap))
        gold = category_of_labels(list(u.labels), categories)
        hits.append(overlap[best] > 0 and primary_hit(gold, own[best], categories))
    return primary_hit(category_of_labels(list(sample.labels), categories), result.emotions, categories), hits


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--corpora", default="synth,ravdess,emodb")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"],
                   help="the dialogues of this split (choose settings on validation, report test)")
    p.add_argument("--limit", type=int, default=0, help="at most this many dialogues per corpus (0: all)")
    p.add_argument("--min-gap", type=float, default=0.3)
    p.add_argument("--modes", default="segments,words,vad,words-in-vad",
                   help="comma-separated of segments, words, vad (the stream's endpointer), words-in-vad "
                        "(Transcriber(split='vad'))")
    p.add_argument("--vad-silence", default="0.2", help="vad: seconds of silence that end an utterance")
    p.add_argument("--vad-join", default="none",
                   help="words-in-vad: comma-separated rules joining spans whose sentence goes on (none, unfinished, "
                        "continued)")
    p.add_argument("--accuracy", action="store_true", help="also the model's answers on each mode's utterances")
    p.add_argument("--checkpoint", default=None, help="--accuracy: a trained model folder (default: the shipped one)")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    from acoustemo.asr import Transcriber
    from acoustemo.metrics.primary import CUE_CATEGORIES, EMOTION_CATEGORIES
    from acoustemo.data.manifest import read_manifest
    from acoustemo.media import load_audio

    wanted = {m.strip() for m in args.modes.split(",") if m.strip()}
    modes = {}
    if "segments" in wanted:
        modes["whisper segments"] = Transcriber(split="segments").transcribe
    if "words" in wanted:
        modes[f"words, cut at . ? ! and pauses >= {args.min_gap} s"] = Transcriber(
            split="words", min_gap=args.min_gap).transcribe
    if "vad" in wanted:
        for silence in [float(x) for x in args.vad_silence.split(",") if x.strip()]:
            modes[f"stream VAD, silence {silence} s (padded audio)"] = vad_cutter(silence, edges=False)
            modes[f"stream VAD, silence {silence} s (speech edges, reported)"] = vad_cutter(silence, edges=True)
    if "words-in-vad" in wanted:
        for silence in [float(x) for x in args.vad_silence.split(",") if x.strip()]:
            for join in args.vad_join.split(","):
                modes[f"words in VAD spans, silence {silence} s (split=vad)" + ("" if join == "none" else
                                                                                 f", joined {join}")] = Transcriber(
                    split="vad", vad_silence=silence, vad_join=join).transcribe
    predictor = None
    if args.accuracy:
        from acoustemo.inference.predictor import Predictor
        from acoustemo.inference.pretrained import pretrained_path

        predictor = Predictor(args.checkpoint or pretrained_path())
        modes[TRUE_UTTERANCES] = None  # the manifest's own, read as they are
    report = {}
    for corpus in [c.strip() for c in args.corpora.split(",") if c.strip()]:
        manifest = Path(args.data) / corpus / f"{args.split}.jsonl"
        if not manifest.is_file():
            continue
        samples = [s for s in read_manifest(manifest) if s.utterances]
        samples = samples[:args.limit] if args.limit else samples
        rows = {}
        for mode, cut in modes.items():
            t0 = time.perf_counter()
            right, errors, counts, clip_hits, own_hits = 0, [], [], [], []
            for s in samples:
                wav = load_audio(s.media_path)
                got = s.utterances if cut is None else cut(wav, name=s.id).utterances
                if predictor is not None:
                    clip, own = answer_hits(predictor, s, got, CUE_CATEGORIES if corpus == "synth" else EMOTION_CATEGORIES)
                    clip_hits.append(clip)
                    own_hits += own
                counts.append(len(got) - len(s.utterances))
                if len(got) == len(s.utterances):
                    right += 1
                    errors += [abs(a.start - b.start) for a, b in zip(got, s.utterances)]
                    errors += [abs(a.end - b.end) for a, b in zip(got, s.utterances)]
            rows[mode] = {"dialogues": len(samples), "right_count_pct": 100.0 * right / len(samples),
                          "fewer_pct": 100.0 * sum(c < 0 for c in counts) / len(samples),
                          "more_pct": 100.0 * sum(c > 0 for c in counts) / len(samples),
                          "boundary_error_ms": 1000.0 * float(np.mean(errors)) if errors else float("nan"),
                          "seconds": round(time.perf_counter() - t0, 1)}
            r = rows[mode]
            if predictor is not None:
                r.update(clip_primary_pct=100.0 * np.mean(clip_hits), utterance_primary_pct=100.0 * np.mean(own_hits),
                         utterances=len(own_hits))
            print(f"{corpus:<8} {mode:<44} right count {r['right_count_pct']:5.1f} % (fewer {r['fewer_pct']:4.1f} %, "
                  f"more {r['more_pct']:4.1f} %), boundary error {r['boundary_error_ms']:6.0f} ms, "
                  f"{r['dialogues']} dialogues" + (f"; primary: clip {r['clip_primary_pct']:5.1f} %, utterances "
                                                   f"{r['utterance_primary_pct']:5.1f} %" if predictor else ""),
                  flush=True)
        report[corpus] = rows
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
