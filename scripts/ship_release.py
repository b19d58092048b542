"""Copy a finished release run into the package: trainable tensors + resolved config (+ the model card).

    python scripts/ship_release.py runs/release/final src/acoustemo/resources/pretrained/small-release [--fp32]

Checks before copying: the weights load strictly into the configured model (every trainable tensor, nothing
else), every tensor is finite, and the shipped file is at most 25 MB. The weight matrices are stored in 16 bits
(``acoustemo.io.half_matrices``; ``--fp32`` keeps them as trained): every clone's history grows by half as much,
and ``benchmarks/release_eval.py --predictions`` on both folders shows whether any answer changed.
``--acoustic-prior W[:SOURCE]`` sets the shipped config's decoding default (``model.acoustic_prior`` and
``model.acoustic_prior_source``; it needs the head), ``--clip-prior head|utterances[:EMPHASIS]`` where a clip of
several utterances takes its first label from (``model.clip_prior_source``). The shipped config drops
``model.qformer_weights`` (the stage-1 file the run started from: its tensors are in the checkpoint); stage 1's
classifier head and labels go along where the run kept them (``model.acoustic_prior``), and docs/MODEL_CARD.md
goes beside the weights.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MAX_BYTES = 25 * 1024 * 1024


def main(final: str, dest: str, fp32: bool = False, acoustic_prior: str | None = None,
         clip_prior: str | None = None) -> int:
    import torch
    from safetensors.torch import load_file, save

    from acoustemo.config import acoustic_prior_overrides, clip_prior_overrides
    from acoustemo.io import (HEAD_WEIGHTS, LABELS_FILE, PROBE_LABELS_FILE, atomic_write_bytes, atomic_write_text,
                              half_matrices, save_tensors)
    from acoustemo.inference.loading import FINAL_WEIGHTS, checkpoint_config, load_model

    final, dest = Path(final), Path(dest)
    weights = final / FINAL_WEIGHTS
    tensors = load_file(str(weights))
    bad = [k for k, t in tensors.items() if not torch.isfinite(t).all()]
    if bad:
        raise SystemExit(f"{weights}: non-finite values in {bad[0]}")
    store = (lambda t: t) if fp32 else half_matrices
    cfg = checkpoint_config(final, overrides=acoustic_prior_overrides(acoustic_prior or "none")
                            + clip_prior_overrides(clip_prior))
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, qformer_weights=None))
    model = load_model(final, cfg, device="cpu")  # strict: exactly the trainable tensors
    assert set(tensors) == set(model.trainable_state_dict())
    dest.mkdir(parents=True, exist_ok=True)
    blob = save({n: t.contiguous() for n, t in store(tensors).items()})
    size = len(blob)
    if size > MAX_BYTES:
        raise SystemExit(f"{weights}: {size / 2**20:.1f} MB to ship, over the 25 MB a shipped model may take")
    atomic_write_bytes(dest / FINAL_WEIGHTS, blob)
    for f in (HEAD_WEIGHTS, LABELS_FILE, PROBE_LABELS_FILE):  # a previous release's head goes
        (dest / f).unlink(missing_ok=True)
    if (final / HEAD_WEIGHTS).is_file():  # stage 1's classifier head, for model.acoustic_prior
        save_tensors(dest / HEAD_WEIGHTS, store(load_file(str(final / HEAD_WEIGHTS))))
        for f in (LABELS_FILE, PROBE_LABELS_FILE):
            if (final / f).is_file():
                shutil.copyfile(final / f, dest / f)
    atomic_write_text(dest / "config.yaml", cfg.to_yaml())
    shutil.copyfile(ROOT / "docs" / "MODEL_CARD.md", dest / "MODEL_CARD.md")
    for f in dest.iterdir():
        f.chmod(0o644)  # package data: readable by every user
    print(f"shipped {len(tensors)} tensors, {size / 2**20:.1f} MB -> {dest}")
    return 0


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("final", help="the run's final/ folder")
    p.add_argument("dest", help="the package folder of the shipped model")
    p.add_argument("--fp32", action="store_true", help="store the weight matrices as trained (default: 16 bits)")
    p.add_argument("--acoustic-prior", default=None, metavar="W[:SOURCE]",
                   help="the shipped config's model.acoustic_prior and, when given, model.acoustic_prior_source "
                        "(e.g. 1000:probe; default: none, the LLM alone)")
    p.add_argument("--clip-prior", default=None, metavar="head|utterances[:EMPHASIS]",
                   help="the shipped config's model.clip_prior_source (and emphasis); default: the run's")
    args = p.parse_args()
    sys.exit(main(args.final, args.dest, fp32=args.fp32, acoustic_prior=args.acoustic_prior,
                  clip_prior=args.clip_prior))
