"""``acoustemo stream`` on a long dialogue in real time: the lag of each line, keeping pace, memory, accuracy.

    python benchmarks/stream_latency.py --data data/release [--minutes 10] [--out docs/stream-latency.json]

The test dialogues of ``<data>/<corpus>`` (built by ``make release-data``; RAVDESS by default), ordered by speaker,
are played back to back with a second of silence between them, as one stream of ``--minutes``, through the
library's :func:`~acoustemo.inference.stream.label_stream` at real pace (``--chunk`` seconds at a time, 0.25 by
default; the shipped model unless ``--checkpoint``, with ``acoustemo stream``'s defaults: the LLM in int8 on a CPU
unless ``--float32``, greedy transcription, ``--context`` 3). Reported:

* the lag from the stream delivering an utterance's end to its line: median, p95, max, and the median in the first
  and the last minute (a stream that falls behind shows a growing lag);
* the process's resident memory after the first minute and at the end;
* per-utterance primary-emotion accuracy of the streamed labels against the composition's known utterance labels,
  beside the batch path's (``Predictor`` on each dialogue file as ``acoustemo predict`` runs it: float32, beam 5;
  it sees the whole dialogue) on the same
  utterances; an utterance is matched to the line (or the batch utterance) that overlaps it most, and one
  without a match counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

GAP = 1.0  # seconds of silence between dialogues


def build_stream(manifest: Path, minutes: float):
    """(waveform, [(start, end, gold category)], [(dialogue sample, offset seconds)]) for the first dialogues of
    ``manifest``, ordered by speaker, until ``minutes`` of audio."""
    from acoustemo.data.manifest import read_manifest
    from acoustemo.media import SAMPLE_RATE, load_audio
    from acoustemo.metrics.primary import EMOTION_CATEGORIES, category_of_labels

    samples = sorted((s for s in read_manifest(manifest) if s.utterances), key=lambda s: (s.speaker or "", s.id))
    pieces, gold, dialogues, t = [], [], [], 0.0
    for s in samples:
        if t >= 60.0 * minutes:
            break
        wav = load_audio(s.media_path)
        dialogues.append((s, t))
        for u in s.utterances:
            category = category_of_labels(list(u.labels or []), EMOTION_CATEGORIES)
            if category is not None:
                gold.append((t + u.start, t + u.end, category))
        pieces += [wav, np.zeros(round(GAP * SAMPLE_RATE), np.float32)]
        t += len(wav) / SAMPLE_RATE + GAP
    return np.concatenate(pieces), gold, dialogues


def best_overlap(start: float, end: float, spans):
    """The item of ``spans`` ((start, end, payload), ...) overlapping [start, end] most, or None."""
    best, most = None, 0.0
    for a, b, payload in spans:
        overlap = min(end, b) - max(start, a)
        if overlap > most:
            best, most = payload, overlap
    return best


def primary_hits(gold, spans) -> list[bool]:
    """Per known utterance ((start, end, category), ...): is the first label of the span overlapping it most in
    its category (False where none overlaps)."""
    from acoustemo.metrics.primary import EMOTION_CATEGORIES, primary_hit

    return [primary_hit(c, best_overlap(a, b, spans) or [], EMOTION_CATEGORIES) for a, b, c in gold]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder built by make release-data")
    p.add_argument("--corpus", default="ravdess")
    p.add_argument("--split", default="test")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--checkpoint", default=None, help="a trained model folder (default: the shipped model)")
    p.add_argument("--no-batch", action="store_true", help="skip the batch path's answers")
    p.add_argument("--float32", action="store_true", help="as acoustemo stream --float32 (default: --int8 on a CPU)")
    p.add_argument("--context", type=int, default=None, help="as acoustemo stream --context")
    p.add_argument("--baseline-window", type=float, default=None, help="as acoustemo stream --baseline-window")
    p.add_argument("--chunk", type=float, default=0.25, help="seconds of audio the source delivers at a time")
    p.add_argument("--fast", action="store_true",
                   help="as fast as possible, not in real time (accuracy only: the lags then mean nothing)")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    args = p.parse_args()

    from acoustemo.inference.predictor import Predictor
    from acoustemo.inference.pretrained import pretrained_path
    from acoustemo.inference.stream import Endpointer, StreamLabeler, label_stream
    from acoustemo.media import SAMPLE_RATE
    from acoustemo.media.live import paced

    wav, gold, dialogues = build_stream(Path(args.data) / args.corpus / f"{args.split}.jsonl", args.minutes)
    seconds = len(wav) / SAMPLE_RATE
    print(f"stream: {len(dialogues)} dialogues, {len(gold)} utterances, {seconds / 60:.1f} min", flush=True)
    checkpoint = args.checkpoint or pretrained_path()
    predictor = Predictor(checkpoint, beam_size=1, quantize=None if args.float32 else "int8")
    labeler = StreamLabeler(predictor, baseline_window=args.baseline_window,
                            **({"context": args.context} if args.context else {}))
    step = max(1, round(args.chunk * SAMPLE_RATE))
    chunks = (wav[i:i + step] for i in range(0, len(wav), step))
    memory, started = [], time.monotonic()

    def on_line(line):
        memory.append((time.monotonic() - started, rss_mb()))
        print(f"  {line.end:7.1f} s  lag {line.lag:5.2f} s  rss {memory[-1][1]:6.0f} MB  [{', '.join(line.labels)}]",
              flush=True)

    result = label_stream(chunks if args.fast else paced(chunks), labeler, Endpointer(), live=not args.fast,
                          on_line=on_line)
    labeler.close()
    lags = [line.lag for line in result.lines]
    first = [line.lag for line in result.lines if line.end < 60.0]
    last = [line.lag for line in result.lines if line.end >= seconds - 60.0]
    after_first_minute = next((m for t, m in memory if t >= 60.0), memory[0][1] if memory else float("nan"))
    streamed = [(line.start, line.end, line.labels) for line in result.lines]
    hits = primary_hits(gold, streamed)
    report = {
        "checkpoint": str(checkpoint), "llm": "float32" if args.float32 else "int8",
        "context": labeler.history.maxlen, "baseline_window": args.baseline_window, "realtime": not args.fast,
        "chunk_seconds": args.chunk,
        "corpus": f"{args.corpus}/{args.split}", "dialogues": len(dialogues),
        "stream_seconds": round(seconds, 1), "processing_seconds": round(result.processing_seconds, 1),
        "lines": len(result.lines), "known_utterances": len(gold),
        "lag_median": statistics.median(lags), "lag_p95": float(np.percentile(lags, 95)), "lag_max": max(lags),
        "lag_median_first_minute": statistics.median(first) if first else None,
        "lag_median_last_minute": statistics.median(last) if last else None,
        "rss_mb_after_first_minute": round(after_first_minute, 1), "rss_mb_end": round(rss_mb(), 1),
        "stream_primary": 100.0 * sum(hits) / len(hits),
    }
    if not args.no_batch:  # the batch path as acoustemo predict runs it (float32, beam 5)
        del predictor, labeler
        predictor = Predictor(checkpoint)
        batch_spans = []
        for sample, offset in dialogues:
            result_b = predictor(sample.media_path)
            own = result_b.utterance_emotions or [result_b.emotions] * len(result_b.utterances)
            batch_spans += [(offset + u.start, offset + u.end, labels) for u, labels in zip(result_b.utterances, own)]
        batch_hits = primary_hits(gold, batch_spans)
        report["batch_primary"] = 100.0 * sum(batch_hits) / len(batch_hits)
        report["both_right"] = sum(s and b for s, b in zip(hits, batch_hits))
        report["stream_only_right"] = sum(s and not b for s, b in zip(hits, batch_hits))
        report["batch_only_right"] = sum(b and not s for s, b in zip(hits, batch_hits))
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
