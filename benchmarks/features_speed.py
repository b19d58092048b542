"""Speed of the feature pipeline on this machine.

1. Real-time factor of transcription (faster-whisper, bundled tiny.en, int8, beam 5, VAD) plus
   Whisper-tiny encoder features (CTranslate2 float32) on >= 60 s of RAVDESS speech, measured (a) as one
   recording (the clips back to back, as a dialogue would be) and (b) clip by clip (each clip padded to
   Whisper's 30 s window, the worst case for short files).
2. Cache hit (memory-mapped safetensors read, content hash memoised) versus recomputation (decode + encode).

    .venv/bin/python benchmarks/features_speed.py [--data ../shared/data/ravdess] [--seconds 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from acoustemo.asr import Transcriber
from acoustemo.cache import FeatureCache
from acoustemo.cache.extract import extract
from acoustemo.data.manifest import read_manifest
from acoustemo.encoders import build_audio_encoder
from acoustemo.media import load_audio

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser()
    default = HERE.parent / "shared/data/ravdess"
    p.add_argument("--data", default=str(default if default.is_dir() else HERE / "tests/fixtures/ravdess"))
    p.add_argument("--seconds", type=float, default=60.0)
    a = p.parse_args()
    root = Path(a.data)
    rows = list(csv.DictReader(open(root / "metadata.csv")))
    rows = rows[:: max(1, len(rows) // 40)]  # spread over actors and emotions
    clips, total = [], 0.0
    for r in rows:
        wav = load_audio(root / r["file"])
        clips.append((root / r["file"], wav))
        total += len(wav) / 16000
        if total >= a.seconds:
            break
    print(f"{len(clips)} clips, {total:.1f} s of audio from {root}")
    transcriber, encoder = Transcriber(), build_audio_encoder("whisper")
    transcriber.transcribe(clips[0][1])  # warm up
    encoder.encode(clips[0][1])

    stream = np.concatenate([w for _, w in clips])
    t0 = time.perf_counter()
    tr = transcriber.transcribe(stream, name="stream")
    t1 = time.perf_counter()
    feats = encoder.encode(stream)
    t2 = time.perf_counter()
    res = {"audio_seconds": round(total, 1), "stream_transcribe_s": round(t1 - t0, 2),
           "stream_features_s": round(t2 - t1, 2), "stream_rtf": round((t2 - t0) / total, 3),
           "stream_utterances": len(tr.utterances), "feature_frames": feats.shape[0]}
    # RAVDESS repeats two sentences: back to back they trip Whisper's repetition guard (a 0.2 ... 1.0
    # temperature re-decode of every window); without the guard, as for ordinary speech:
    unguarded = Transcriber(compression_ratio_threshold=None)
    t0 = time.perf_counter()
    tr = unguarded.transcribe(stream, name="stream")
    t1 = time.perf_counter()
    res.update(stream_noguard_transcribe_s=round(t1 - t0, 2),
               stream_noguard_rtf=round((t1 - t0 + res["stream_features_s"]) / total, 3),
               stream_noguard_utterances=len(tr.utterances))

    t0 = time.perf_counter()
    for _, w in clips:
        transcriber.transcribe(w, name="clip")
    t1 = time.perf_counter()
    for _, w in clips:
        encoder.encode(w)
    t2 = time.perf_counter()
    res.update(clipwise_transcribe_s=round(t1 - t0, 2), clipwise_features_s=round(t2 - t1, 2),
               clipwise_rtf=round((t2 - t0) / total, 3))

    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "m.jsonl"
        manifest.write_text("".join(json.dumps({"id": f"c{i}", "media": str(f)}) + "\n" for i, (f, _) in enumerate(clips)))
        samples = read_manifest(manifest)
        cache = FeatureCache(Path(tmp) / "cache")
        t0 = time.perf_counter()
        rep = extract(samples, cache, encoder, None, progress=False)
        compute = time.perf_counter() - t0
        fresh = FeatureCache(cache.root)  # a new process's view: hashes come from the on-disk memo
        t0 = time.perf_counter()
        for s in samples:
            fresh.load(s, rep.audio_key)
        hit = time.perf_counter() - t0
    res.update(cache_compute_s=round(compute, 3), cache_hit_s=round(hit, 4), cache_speedup=round(compute / hit, 1))
    res["load_average_1min"] = round(__import__("os").getloadavg()[0], 2)  # other jobs on the machine
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
