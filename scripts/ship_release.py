"""Copy a finished release run into the package: trainable tensors + resolved config (+ the model card).

    python scripts/ship_release.py runs/release/final src/acoustemo/resources/pretrained/small-release

Checks before copying: the weights load strictly into the configured model (every trainable tensor, nothing
else), every tensor is finite, and the file is at most 25 MB. The shipped config drops
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


def main(final: str, dest: str) -> int:
    import torch
    from safetensors.torch import load_file

    from acoustemo.io import HEAD_WEIGHTS, LABELS_FILE, atomic_write_text
    from acoustemo.inference.loading import FINAL_WEIGHTS, checkpoint_config, load_model

    final, dest = Path(final), Path(dest)
    weights = final / FINAL_WEIGHTS
    size = weights.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{weights}: {size / 2**20:.1f} MB, over the 25 MB a shipped model may take")
    tensors = load_file(str(weights))
    bad = [k for k, t in tensors.items() if not torch.isfinite(t).all()]
    if bad:
        raise SystemExit(f"{weights}: non-finite values in {bad[0]}")
    cfg = checkpoint_config(final)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, qformer_weights=None))
    model = load_model(final, cfg, device="cpu")  # strict: exactly the trainable tensors
    assert set(tensors) == set(model.trainable_state_dict())
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / FINAL_WEIGHTS)
    for f in (HEAD_WEIGHTS, LABELS_FILE):  # stage 1's classifier head, for model.acoustic_prior
        if (final / f).is_file():
            shutil.copyfile(final / f, dest / f)
        elif (dest / f).exists():
            (dest / f).unlink()
    atomic_write_text(dest / "config.yaml", cfg.to_yaml())
    shutil.copyfile(ROOT / "docs" / "MODEL_CARD.md", dest / "MODEL_CARD.md")
    for f in dest.iterdir():
        f.chmod(0o644)  # package data: readable by every user
    print(f"shipped {len(tensors)} tensors, {size / 2**20:.1f} MB -> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
