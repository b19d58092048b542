"""Is the evidence of ``predict --explain`` faithful? On synthetic dialogues the cue sits in a known utterance.

    python benchmarks/explain_faithfulness.py --data data/release [--checkpoint runs/release/final] [--method gradient]

For every test dialogue of ``<data>/synth`` whose cue lies in one utterance (``cues.jsonl``: ``target``), the
model answers, :func:`acoustemo.inference.explain.explain` measures each utterance's evidence for that answer (true
utterance times from the manifest), and the dialogue counts as a hit when the utterance with the highest
evidence is the cue utterance. Chance is the mean of 1 / utterances. The same is reported for the frame
attention's share (the utterance whose frames hold the attention peak) as a second view. Nothing is
asserted: it reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from acoustemo.config import add_prior_arguments, prior_overrides  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder built by `make release-data` (uses synth/ and cache/)")
    p.add_argument("--checkpoint", default=None, help="trained model folder (default: the shipped model)")
    p.add_argument("--split", default="test")
    p.add_argument("--method", choices=("occlusion", "gradient", "prior"), default="occlusion",
                   help="how the evidence is measured (acoustemo.inference.explain.explain)")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    add_prior_arguments(p)
    args = p.parse_args()

    import torch

    from acoustemo.cache.store import FeatureCache
    from acoustemo.data.dataset import FeatureDataset, prepared_for, resolve_key
    from acoustemo.data.manifest import read_manifest
    from acoustemo.inference.evaluation import Generation, generate_all
    from acoustemo.inference.explain import explain
    from acoustemo.inference.loading import checkpoint_config, load_model

    from acoustemo.inference.pretrained import pretrained_path

    folder = Path(args.checkpoint) if args.checkpoint else pretrained_path()
    cfg = checkpoint_config(folder, overrides=prior_overrides(args))
    model = load_model(folder, cfg, device="cpu")
    data = Path(args.data)
    cues = {}
    for line in (data / "synth" / "cues.jsonl").read_text().splitlines():
        c = json.loads(line)
        cues[c["id"]] = c
    manifest = data / "synth" / f"{args.split}.jsonl"
    samples = [s for s in read_manifest(manifest) if cues[s.id]["target"] is not None]
    cache = FeatureCache(data / "cache")
    ds = prepared_for(FeatureDataset(samples, cache, audio_key=resolve_key(cache, "audio", cfg.train.audio_key),
                                     source=manifest), model)
    t0 = time.perf_counter()
    answers = {p.id: p.emotions for p in generate_all(model, ds, batch_size=8, generation=Generation(), progress=False)}
    rows = []
    for i, s in enumerate(samples):
        ex = ds[i]
        if not answers[s.id] or not ex.utterances:
            continue
        e = explain(model, ex, answers[s.id], method=args.method)
        target = cues[s.id]["target"]
        peak = max(range(len(e.attention)), key=lambda k: max(e.attention[k]) if e.attention[k] else 0.0)
        rows.append({"id": s.id, "cue": cues[s.id]["cue"], "design": cues[s.id]["design"], "target": target,
                     "utterances": len(ex.utterances), "evidence": [round(x, 4) for x in e.evidence],
                     "top_evidence": int(torch.tensor(e.evidence).argmax()), "attention_peak": peak})
    n = len(rows)
    report = {
        "checkpoint": str(folder), "split": args.split, "method": args.method, "dialogues": n,
        "skipped (no answer)": len(samples) - n,
        "evidence top-1 = cue utterance (%)": 100 * sum(r["top_evidence"] == r["target"] for r in rows) / max(1, n),
        "attention peak = cue utterance (%)": 100 * sum(r["attention_peak"] == r["target"] for r in rows) / max(1, n),
        "chance (%)": 100 * sum(1 / r["utterances"] for r in rows) / max(1, n),
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    for k, v in report.items():
        if k != "rows":
            print(f"{k:<40} {v:.1f}" if isinstance(v, float) else f"{k:<40} {v}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
