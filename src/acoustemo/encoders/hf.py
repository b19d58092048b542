"""Transformers encoders for users' checkpoints: HuBERT / wav2vec2 (audio) and CLIP / EVA-style ViTs (frames).

Weights come from a local folder or a hub name (the hub only where one is reachable; nothing is
downloaded at run time otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .base import SAMPLE_RATE, as_waveform, num_frames, weights_fingerprint

HOP = 320  # samples per frame of the wav2vec2 / HuBERT convolutional front end: 50 Hz
RECEPTIVE = 400  # samples seen by one frame (25 ms)


def _load(cls_name: str, path: str | os.PathLike, what: str, *, weights: bool = False,
          allow_pickle: bool | None = None):
    """``transformers.<cls_name>.from_pretrained(path)``; ``weights``: a model, read from safetensors only."""
    import transformers

    from ..io import model_folder_kwargs

    kwargs = model_folder_kwargs(path, what=what, allow_pickle=allow_pickle) if weights else {}
    try:
        return getattr(transformers, cls_name).from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise InputError(f"{path}: cannot load {what} ({first[:200]})") from None


def _fingerprint(path: str | os.PathLike) -> str:
    return weights_fingerprint(path) if Path(path).exists() else str(path)


class HFAudioEncoder:
    """HuBERT / wav2vec2 / WavLM through ``AutoModel``: waveform -> ``(ceil(N / 320), d)`` at 50 Hz.

    The waveform is zero-padded at the end to ``ceil(N / 320) * 320 + 80`` samples so that frame ``i``
    starts at sample ``320 i`` and the count is ``ceil(N / 320)``. ``layer``: index into the hidden
    states (0 = CNN features after projection, -1 = last layer). Audio longer than ``chunk_seconds`` is
    encoded in consecutive chunks of a whole number of frames (no offset; context does not cross chunks).
    """

    name = "hf"
    frame_rate = SAMPLE_RATE / HOP  # 50.0 Hz

    def __init__(self, model: str | os.PathLike, *, layer: int = -1, chunk_seconds: float = 30.0,
                 device: str | torch.device = "cpu", allow_pickle: bool | None = None):
        self.device = torch.device(device)
        self.model = _load("AutoModel", model, "a HuBERT / wav2vec2 model", weights=True,
                           allow_pickle=allow_pickle).eval().requires_grad_(False).to(device)
        try:
            fe = _load("AutoFeatureExtractor", model, "its feature extractor")
            self.normalize = bool(getattr(fe, "do_normalize", False))
        except InputError:
            self.normalize = False  # a bare model folder: raw waveform, as wav2vec2-base / HuBERT expect
        self.dim = int(self.model.config.hidden_size)
        self.layer, self.model_ref = layer, str(model)
        self.chunk_frames = max(1, int(chunk_seconds * self.frame_rate))
        self._fingerprint = _fingerprint(model)

    def settings(self) -> dict:
        return {"weights": self._fingerprint, "layer": self.layer, "normalize": self.normalize,
                "chunk_frames": self.chunk_frames, "frame_rate": self.frame_rate}

    @torch.inference_mode()
    def encode(self, waveform_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``(N,)`` samples at 16 kHz -> ``(ceil(N / 320), dim)`` float32."""
        wav = as_waveform(waveform_16k)
        total = num_frames(len(wav), self.frame_rate)
        if self.normalize:
            wav = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)
        padded = np.zeros(total * HOP + RECEPTIVE - HOP, dtype=np.float32)
        padded[:len(wav)] = wav
        outs = []
        for f0 in range(0, total, self.chunk_frames):
            f1 = min(total, f0 + self.chunk_frames)
            piece = torch.from_numpy(padded[f0 * HOP:f1 * HOP + RECEPTIVE - HOP])[None].to(self.device)
            hs = self.model(piece, output_hidden_states=True).hidden_states[self.layer]  # (1, f1 - f0, d)
            outs.append(hs[0])
        return torch.cat(outs).float().cpu().contiguous()


class HFImageEncoder:
    """CLIP / EVA-style ViT through transformers: ``(T, H, W, 3)`` uint8 RGB -> ``(T, d)`` float32.

    Uses ``get_image_features`` (the projected image embedding) when the model has it, otherwise the
    pooled output (``pooler_output``, or the CLS token). ``frame_rate``: video sampling rate for it.
    """

    name = "hf_image"

    def __init__(self, model: str | os.PathLike, *, frame_rate: float = 1.0, batch_size: int = 16,
                 max_side: int | None = 640, device: str | torch.device = "cpu", allow_pickle: bool | None = None):
        self.device = torch.device(device)
        self.model = _load("AutoModel", model, "an image model", weights=True, allow_pickle=allow_pickle).eval().requires_grad_(False).to(device)
        self.processor = _load("AutoImageProcessor", model, "its image processor")
        with torch.inference_mode():
            size = self.processor.crop_size if getattr(self.processor, "crop_size", None) else self.processor.size
            h = size.get("height", size.get("shortest_edge", 224))
            w = size.get("width", size.get("shortest_edge", 224))
            self.dim = int(self._features(self.processor(images=[np.zeros((h, w, 3), np.uint8)],
                                                          return_tensors="pt")["pixel_values"]).shape[-1])
        self.frame_rate, self.batch_size, self.model_ref = float(frame_rate), batch_size, str(model)
        self.max_side = max_side  # videos are decoded with their longer side scaled down to this (pixels)
        self._fingerprint = _fingerprint(model)

    def settings(self) -> dict:
        return {"weights": self._fingerprint, "frame_rate": self.frame_rate, "max_side": self.max_side}

    def _features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pixel_values = pixel_values.to(self.device)
        if hasattr(self.model, "get_image_features"):
            out = self.model.get_image_features(pixel_values=pixel_values)
            return out if isinstance(out, torch.Tensor) else out.pooler_output
        out = self.model(pixel_values=pixel_values)
        pooled = getattr(out, "pooler_output", None)
        return pooled if pooled is not None else out.last_hidden_state[:, 0]

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """``(T, H, W, 3)`` uint8 RGB -> ``(T, dim)`` float32."""
        outs = []
        for i in range(0, len(frames), self.batch_size):
            pv = self.processor(images=list(frames[i:i + self.batch_size]), return_tensors="pt")["pixel_values"]
            outs.append(self._features(pv))
        return torch.cat(outs).float().cpu().contiguous() if outs else torch.zeros(0, self.dim)
