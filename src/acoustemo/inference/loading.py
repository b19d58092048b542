"""A trained model folder (``config.yaml`` + ``trainable.safetensors``) back into a ready AcoustEmo.

    model = load_model("runs/small/final")                   # on the best device present
    model = load_model("runs/small/final", device="cpu")

A training run writes such folders (``<output_dir>/final/`` and every ``checkpoints/step-N/``). The frozen
parts are rebuilt exactly as in training: the LLM from its source, and the model seeded with
``train.seed`` before it is built, so that parts left frozen with random weights match.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from ..config import Config, load_config
from ..errors import InputError
from ..io import FINAL_WEIGHTS, HEAD_WEIGHTS, LABELS_FILE, PROBE_LABELS_FILE, load_tensors, read_json


def checkpoint_config(checkpoint: str | os.PathLike, config: str | None = None,
                      overrides: list[str] | None = None) -> Config:
    """The checkpoint's resolved config (or ``config``), with overrides."""
    checkpoint = Path(checkpoint)
    source = config or checkpoint / "config.yaml"
    if config is None and not Path(source).is_file():
        raise InputError(f"{checkpoint}: no config.yaml (not a checkpoint folder)")
    return load_config(source, overrides)


def load_model(checkpoint: str | os.PathLike, cfg: Config | None = None, *,
               device: str | torch.device | None = None, quantize: str | None = None, merge_lora: bool = False):
    """The :class:`~acoustemo.model.AcoustEmo` of ``checkpoint`` in eval mode (``cfg``: its config by default;
    ``quantize``: "8bit" / "4bit" LLM weights through bitsandbytes, "int8" its linear layers dynamically quantised
    after loading, :meth:`AcoustEmo.int8_decode <acoustemo.model.AcoustEmo.int8_decode>`; both inference only).
    ``merge_lora``: the LoRA factors added into the LLM's weights as they are read (the model
    :meth:`~acoustemo.model.AcoustEmo.merge_lora` gives, a second faster to load: peft is not used; inference only,
    not with "8bit" / "4bit"; "int8" always merges)."""
    from ..model import AcoustEmo

    checkpoint = Path(checkpoint)
    cfg = cfg or checkpoint_config(checkpoint)
    weights = checkpoint / FINAL_WEIGHTS
    if not weights.is_file():
        raise InputError(f"{checkpoint}: no {FINAL_WEIGHTS}")
    if cfg.model.qformer_weights and not Path(cfg.model.qformer_weights).is_file():
        # the stage-1 weights the run started from are not here (a shipped or copied model): its Q-Formers
        # are trainable tensors of the checkpoint, checked by the strict load below
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, qformer_weights=None))
    torch.manual_seed(cfg.train.seed)
    model = AcoustEmo.from_config(cfg.model, device=device, quantize=None if quantize == "int8" else quantize,
                                  fold_lora=merge_lora or quantize == "int8")
    try:
        model.load_trainable(weights)
    except (KeyError, ValueError) as e:
        raise InputError(f"{weights}: does not fit the configured model ({e})") from None
    head = checkpoint / HEAD_WEIGHTS
    if head.is_file():  # stage 1's classifier head, kept for model.acoustic_prior
        try:
            probe = checkpoint / PROBE_LABELS_FILE
            model.attach_acoustic_head(read_json(checkpoint / LABELS_FILE), load_tensors(head, what="acoustic head"),
                                       probe_labels=read_json(probe) if probe.is_file() else None)
        except (KeyError, ValueError, TypeError) as e:
            raise InputError(f"{head}: does not fit the configured model ({e})") from None
    elif cfg.model.acoustic_prior is not None:
        raise InputError(f"{checkpoint}: model.acoustic_prior needs the stage-1 head ({HEAD_WEIGHTS}, {LABELS_FILE}) "
                         f"beside the weights")
    if quantize == "int8":
        model.int8_decode()
    return model.eval()
