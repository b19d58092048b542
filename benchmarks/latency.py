"""How long a user waits: cold ``acoustemo predict``, a warm request (model already loaded, as in
``acoustemo serve``), with and without ``--explain``, and how the cost grows with the clip's length.

    python benchmarks/latency.py [--checkpoint DIR] [--repeats 3] [--lengths 10,30,60] [--out docs/latency.json]
    python benchmarks/latency.py --cold-only --cold-repeats 5      # the cold start alone

The clips are speech: the example RAVDESS dialogue (examples/, 7.7 s, three sentences), then distinct
sentences spoken by espeak-ng, to 10, 30 and 60 s (``--lengths``, at most 90 s). Cold: a fresh
``acoustemo predict`` process on the 10 s clip (Python start, imports, model load, then one file; the median of
``--cold-repeats`` processes). Warm: the median of ``--repeats`` calls of a loaded
:class:`acoustemo.inference.predictor.Predictor`, split into its stages (decode, transcription, audio encoder, generation
of the answer, explanation), as ``predict`` runs by default and with ``--beam-size 1 --int8`` (greedy
transcription, the LLM's linear layers in int8). Nothing is asserted: it reports. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
EXAMPLE = ROOT / "examples" / "ravdess_actor20_dialogue.flac"
LENGTHS = (10, 30, 60)


def make_clip(seconds: float, out: Path) -> Path:
    """The example RAVDESS dialogue, then distinct neutral sentences spoken by espeak-ng, 0.5 s pauses between
    them, cut to ``seconds``; 16 kHz FLAC. (Repeating one recording would not do: Whisper falls back to
    sampling on repetitive text and the time would measure that.)"""
    import numpy as np
    import soundfile as sf

    from acoustemo.corpora.audio import trim_silence
    from acoustemo.corpora.espeak import Voice, synthesize
    from acoustemo.corpora.texts import NEUTRAL
    from acoustemo.media import load_audio

    pause = np.zeros(8000, dtype=np.float32)
    pieces, n = [load_audio(EXAMPLE), pause], 0
    voice = Voice("en-us+m3", 50, 160)
    for sentence in NEUTRAL:
        n = sum(len(x) for x in pieces)
        if n >= seconds * 16000:
            break
        speech = synthesize(sentence, voice)
        a, b = trim_silence(speech, 16000)
        pieces += [speech[a:b], pause]
    else:
        raise RuntimeError(f"not enough sentences for a {seconds} s clip")
    sf.write(out, np.concatenate(pieces)[: int(seconds * 16000)], 16000)
    return out


class Timed:
    """Wraps a callable and adds its wall time to ``self.seconds``."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *a, **k):
        t0 = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.seconds += time.perf_counter() - t0


def warm_request(predictor, clip: Path, explain: bool) -> dict:
    """One request, with its stages timed."""
    import acoustemo.inference.explain as explain_module
    import acoustemo.media as media

    stages = {"transcribe": Timed(predictor.transcribe), "audio encoder": Timed(predictor.audio_encoder.encode),
              "answer": Timed(predictor.answer), "decode": Timed(media.load_audio),
              "explain": Timed(explain_module.explain)}
    saved = (predictor.transcribe, predictor.audio_encoder.encode, predictor.answer, media.load_audio,
             explain_module.explain)
    predictor.transcribe, predictor.audio_encoder.encode, predictor.answer = (
        stages["transcribe"], stages["audio encoder"], stages["answer"])
    media.load_audio, explain_module.explain = stages["decode"], stages["explain"]
    try:
        t0 = time.perf_counter()
        result = predictor(clip, explain=explain)
        total = time.perf_counter() - t0
    finally:
        (predictor.transcribe, predictor.audio_encoder.encode, predictor.answer, media.load_audio,
         explain_module.explain) = saved
    return {"total": total, **{k: v.seconds for k, v in stages.items()}, "utterances": len(result.utterances),
            "labels": ", ".join(result.emotions)}


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) if isinstance(runs[0][k], float) else runs[-1][k]
            for k in runs[0]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="trained model folder (default: the shipped model)")
    p.add_argument("--repeats", type=int, default=3, help="warm requests per setting (the median is reported)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--lengths", default=",".join(map(str, LENGTHS)),
                   help="clip lengths in seconds, comma-separated (default: %(default)s; 10 is always made: the cold "
                        "call uses it)")
    p.add_argument("--cold-repeats", type=int, default=1,
                   help="fresh `acoustemo predict` processes for the cold time (the median is reported)")
    p.add_argument("--cold-only", action="store_true", help="measure the cold start only")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    args = p.parse_args()
    if args.cold_repeats < 1:
        p.error(f"--cold-repeats {args.cold_repeats}: at least 1")
    try:
        lengths = sorted({int(n) for n in args.lengths.split(",") if n.strip()})
    except ValueError:
        p.error(f"--lengths {args.lengths!r}: expected comma-separated whole seconds")
    if not lengths or lengths[0] < 10 or lengths[-1] > 90:
        p.error(f"--lengths {args.lengths!r}: at least one length, none under 10 s (the example dialogue is 7.7 s) "
                "or over 90 s (the sentences run out)")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from acoustemo.inference.predictor import Predictor
    from acoustemo.inference.pretrained import pretrained_path

    checkpoint = args.checkpoint or str(pretrained_path())
    tmp = Path(tempfile.mkdtemp(prefix="acoustemo-latency-"))
    clips = {n: make_clip(n, tmp / f"speech-{n}s.flac") for n in sorted({10, *lengths})}

    cmd = [sys.executable, "-m", "acoustemo.cli", "predict", str(clips[10]), "--checkpoint", checkpoint]
    colds = []
    for _ in range(args.cold_repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        colds.append(time.perf_counter() - t0)
    cold = statistics.median(colds)
    print(f"cold `acoustemo predict` on a 10 s clip: {cold:.1f} s (median of {len(colds)}: "
          f"{', '.join(f'{c:.1f}' for c in colds)})", flush=True)
    if args.cold_only:
        if args.out:
            Path(args.out).write_text(json.dumps({"checkpoint": checkpoint, "cold_predict_10s": cold,
                                                  "cold_runs": colds}, indent=2) + "\n")
        return 0

    t0 = time.perf_counter()
    predictor = Predictor(checkpoint)
    load = time.perf_counter() - t0
    warm_request(predictor, clips[10], explain=False)  # first call: the transcriber loads, caches warm up
    report = {"checkpoint": checkpoint, "threads": torch.get_num_threads(), "cold_predict_10s": cold,
              "cold_runs": colds, "model_load": load, "warm": {}}
    print(f"model, transcriber and encoder load: {load:.1f} s; torch threads {torch.get_num_threads()}")
    print(f"{'clip':>6} {'explain':>8} {'total':>7} {'decode':>7} {'transcr.':>8} {'encoder':>8} {'answer':>8} "
          f"{'explain':>8}  utterances")

    def rows(predictor, tag: str, explains) -> None:
        for n in lengths:
            for explain in explains:
                r = median_of([warm_request(predictor, clips[n], explain) for _ in range(args.repeats)])
                report["warm"][f"{n}s{' explain' if explain else ''}{tag}"] = r
                print(f"{n:>5}s {'yes' if explain else 'no':>8} {r['total']:7.2f} {r['decode']:7.2f} "
                      f"{r['transcribe']:8.2f} {r['audio encoder']:8.2f} {r['answer']:8.2f} {r['explain']:8.2f}  "
                      f"{r['utterances']}{tag}", flush=True)

    rows(predictor, "", (False, True))
    del predictor
    fast = Predictor(checkpoint, beam_size=1, quantize="int8")
    warm_request(fast, clips[10], explain=False)
    rows(fast, " --beam-size 1 --int8", (False,))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
