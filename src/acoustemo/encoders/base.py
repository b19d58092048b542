"""The contract every frozen encoder follows, and small helpers they share.

An audio encoder turns a 16 kHz mono waveform into frame-level features ``F_A`` of shape ``(L, d)`` at
``frame_rate`` frames per second, so frame ``i`` covers ``[i / frame_rate, (i + 1) / frame_rate)`` seconds
of the input (Eq. (1) of the paper maps utterance times to frame indices with this rate). A visual
encoder turns video frames sampled at some rate into ``(T, d)`` features, one row per frame.

Encoders are frozen: they run in ``eval()`` mode under ``torch.inference_mode()`` and return float32
CPU tensors. ``settings()`` returns every value that changes the output (weights, layer, hop, ...);
the feature cache puts it into its key, so changing a setting never reuses stale features.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

SAMPLE_RATE = 16_000  # Hz, the input rate of every audio encoder


@runtime_checkable
class AudioEncoder(Protocol):
    """A frozen audio encoder: waveform (16 kHz mono) -> ``(L, d)`` float32 features at ``frame_rate`` Hz."""

    name: str  # short name, e.g. "whisper"; first part of the cache key
    dim: int  # d, feature size
    frame_rate: float  # f_s, frames per second of audio

    def encode(self, waveform_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``(N,)`` samples at 16 kHz -> ``(L, dim)`` float32, ``L ≈ duration * frame_rate`` (each encoder states it)."""
        ...

    def settings(self) -> dict:
        """JSON-serialisable values that determine the output (go into the cache key)."""
        ...


@runtime_checkable
class VisualEncoder(Protocol):
    """A frozen visual encoder: RGB frames -> ``(T, d)`` float32 features, one row per frame."""

    name: str
    dim: int
    frame_rate: float  # frames per second at which the video is sampled for this encoder

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """``(T, H, W, 3)`` uint8 RGB frames -> ``(T, dim)`` float32."""
        ...

    def settings(self) -> dict:
        ...


def as_waveform(waveform: np.ndarray | torch.Tensor) -> np.ndarray:
    """Check and convert a mono waveform to a contiguous 1-D float32 numpy array."""
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().numpy()
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (N,), got {waveform.shape}")
    return np.ascontiguousarray(waveform)


def num_frames(num_samples: int, frame_rate: float) -> int:
    """Frames covering ``num_samples`` at 16 kHz: ``ceil(N * f_s / 16000)`` (a partial last frame counts)."""
    return int(np.ceil(num_samples * frame_rate / SAMPLE_RATE - 1e-9))


def weights_fingerprint(path: str | os.PathLike) -> str:
    """A short content fingerprint of a weights file or folder, cheap even for gigabytes.

    Hashes each file's relative name, size and its first and last MiB. It goes into ``settings()`` so
    that other weights behind the same path give other cache keys, and the same weights installed
    elsewhere give the same keys.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.relative_to(path) if path.is_dir() else p.name}:{size}:".encode())
        with open(p, "rb") as f:
            h.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(-(1 << 20), os.SEEK_END)
                h.update(f.read())
    return h.hexdigest()[:16]
