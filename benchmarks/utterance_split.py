"""Utterance boundaries from the transcriber against the known ones: Whisper's segments vs cutting the words.

    python benchmarks/utterance_split.py --data data/release [--limit 80] [--out docs/utterance-split.json]

For the test dialogues of ``<data>/synth`` and ``<data>/ravdess`` (and ``<data>/emodb`` when present), whose
manifests hold the exact utterance times of their composition, it transcribes each dialogue twice with the
bundled Whisper tiny.en: utterances = Whisper's segments, and utterances cut from the timed words at
sentence ends and pauses (``acoustemo.asr.segment``, the default). Reported per corpus and mode: the share
of dialogues with the right number of utterances, and for those, the mean absolute error of the start and
end times (ms).
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--corpora", default="synth,ravdess,emodb")
    p.add_argument("--limit", type=int, default=0, help="at most this many dialogues per corpus (0: all)")
    p.add_argument("--min-gap", type=float, default=0.3)
    p.add_argument("--out", default=None)
    args = p.parse_args()

    from acoustemo.asr import Transcriber
    from acoustemo.data.manifest import read_manifest
    from acoustemo.media import load_audio

    modes = {"whisper segments": Transcriber(split="segments"),
             f"words, cut at . ? ! and pauses >= {args.min_gap} s": Transcriber(split="words", min_gap=args.min_gap)}
    report = {}
    for corpus in [c.strip() for c in args.corpora.split(",") if c.strip()]:
        manifest = Path(args.data) / corpus / "test.jsonl"
        if not manifest.is_file():
            continue
        samples = [s for s in read_manifest(manifest) if s.utterances]
        samples = samples[:args.limit] if args.limit else samples
        rows = {}
        for mode, transcriber in modes.items():
            t0 = time.perf_counter()
            right, errors, counts = 0, [], []
            for s in samples:
                got = transcriber.transcribe(load_audio(s.media_path), name=s.id).utterances
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
            print(f"{corpus:<8} {mode:<44} right count {r['right_count_pct']:5.1f} % (fewer {r['fewer_pct']:4.1f} %, "
                  f"more {r['more_pct']:4.1f} %), boundary error {r['boundary_error_ms']:6.0f} ms, "
                  f"{r['dialogues']} dialogues", flush=True)
        report[corpus] = rows
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
