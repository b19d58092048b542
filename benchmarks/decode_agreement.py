"""What the faster decodes change: the layout-fixed per-utterance decode and the int8 LLM against ``generate``.

    python benchmarks/decode_agreement.py --data data/release [--sets ravdess,synth] [--split test]
                                          [--out docs/decode-agreement.json]

For every dialogue of ``<data>/<set>/<split>.jsonl`` (cached features, as ``make release-data`` builds them), the
shipped model (or ``--checkpoint``) answers three ways:

* ``generate``: transformers' greedy search, one dialogue at a time (what the evaluations and the model card ran);
* ``layout``: :meth:`AcoustEmo.answer_per_utterance <acoustemo.model.AcoustEmo.answer_per_utterance>`, the decode
  ``predict`` and ``serve`` now use (a line per utterance, its number read);
* ``layout + int8``: the same with the LLM's linear layers in int8 (``--int8``; the stream's default on a CPU).

Reported per set: the share of answers identical to ``generate``'s, of utterance label lists identical, the clip's
and the utterances' primary-emotion accuracy of each (the RAVDESS-style categories, as release_eval.py scores), and
each decode's median time per dialogue. Nothing is asserted: it reports. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder built by `make release-data`")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--sets", default="ravdess,synth")
    p.add_argument("--split", default="test")
    p.add_argument("--max-samples", type=int, default=0, help="the first N dialogues of each set (0: all)")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import copy

    import torch

    from acoustemo.cache.store import FeatureCache
    from acoustemo.data.collate import Collator
    from acoustemo.data.dataset import FeatureDataset, prepared_for, resolve_key
    from acoustemo.data.manifest import read_manifest
    from acoustemo.inference.loading import checkpoint_config, load_model
    from acoustemo.inference.pretrained import pretrained_path
    from acoustemo.metrics.primary import EMOTION_CATEGORIES, category_of_labels, primary_hit

    torch.set_grad_enabled(False)
    folder = Path(args.checkpoint) if args.checkpoint else pretrained_path()
    cfg = checkpoint_config(folder)
    fp32 = load_model(folder, device="cpu", merge_lora=True)
    int8 = copy.deepcopy(fp32).int8_decode()
    cache = FeatureCache(Path(args.data) / "cache")
    report = {"checkpoint": str(folder), "split": args.split, "sets": {}}
    for name in args.sets.split(","):
        manifest = Path(args.data) / name / f"{args.split}.jsonl"
        samples = [s for s in read_manifest(manifest) if s.utterances]
        if args.max_samples:
            samples = samples[:args.max_samples]
        ds = prepared_for(FeatureDataset(samples, cache, audio_key=resolve_key(cache, "audio", cfg.train.audio_key),
                                         source=manifest), fp32)
        ways = {"generate": [], "layout": [], "layout + int8": []}
        times = {k: [] for k in ways}
        gold_clip, gold_utt = [], []
        for i, s in enumerate(samples):
            ex = ds[i]
            batch = Collator(fp32.config, fp32.tokenizer, train=False)([ex])
            for way, run in (("generate", lambda: fp32.generate(batch, max_new_tokens=32)[0]),
                             ("layout", lambda: fp32.answer_per_utterance(batch, max_new_tokens=32)),
                             ("layout + int8", lambda: int8.answer_per_utterance(batch, max_new_tokens=32))):
                t = time.perf_counter()
                ways[way].append(run())
                times[way].append(time.perf_counter() - t)
            gold_clip.append(category_of_labels(list(s.labels or []), EMOTION_CATEGORIES))
            gold_utt.append([category_of_labels(list(u.labels or []), EMOTION_CATEGORIES) for u in s.utterances])
            print(f"  {name} {i + 1}/{len(samples)}", file=sys.stderr, end="\r", flush=True)
        ref = ways["generate"]
        rows = {}
        for way, preds in ways.items():
            clip_hits = [primary_hit(g, pr.emotions, EMOTION_CATEGORIES) for g, pr in zip(gold_clip, preds) if g]
            utt_hits = [primary_hit(g, own, EMOTION_CATEGORIES)
                        for gs, pr in zip(gold_utt, preds) for g, own in zip(gs, pr.utterance_emotions or [])
                        if g]
            rows[way] = {
                "same answer as generate (%)": round(100 * sum(a.text == b.text for a, b in zip(preds, ref))
                                                     / len(ref), 1),
                "same utterance lists (%)": round(100 * sum(
                    a == b for pa, pb in zip(preds, ref) for a, b in zip(pa.utterance_emotions or [],
                                                                         pb.utterance_emotions or []))
                    / max(1, sum(len(pb.utterance_emotions or []) for pb in ref)), 1),
                "clip primary (%)": round(100 * sum(clip_hits) / max(1, len(clip_hits)), 1),
                "utterance primary (%)": round(100 * sum(utt_hits) / max(1, len(utt_hits)), 1),
                "median seconds per dialogue": round(statistics.median(times[way]), 3),
            }
        report["sets"][name] = {"dialogues": len(samples), **rows}
        print(f"{name}: {json.dumps(rows, indent=1)}", flush=True)
    if args.out:
        from acoustemo.io import atomic_write_text

        atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
