"""ImageBind's audio encoder (the paper's) as a frame-level encoder over sliding 2 s clips.

ImageBind (Girdhar et al., 2023) embeds a 2 s clip: a 128-bin Kaldi log-mel filterbank (25 ms window,
10 ms shift, padded to 204 frames, normalised with mean -4.268 and std 9.138), 16 x 16 patches with
stride 10 (12 x 19 = 228 patches) plus a CLS token, a 12-layer ViT (768-d, 12 heads, key/value bias
tokens), LayerNorm, the CLS token, a linear head to 1024-d, L2 normalisation and a fixed scale of 20.

Frame-level features: clip ``i`` starts at ``i * hop`` seconds and lasts 2 s (zero-padded past the
end), so ``f_s = 1 / hop`` and ``L = ceil(duration / hop)``. Weights: a safetensors file converted from
``imagebind_huge.pth`` (keys ``modality_preprocessors.audio.*``, ``modality_trunks.audio.*``,
``modality_heads.audio.*``) or holding only this module's keys; never a pickle.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .base import SAMPLE_RATE, as_waveform, num_frames, weights_fingerprint

CLIP_SECONDS = 2.0
MEL_BINS = 128
TARGET_FRAMES = 204  # fbank frames per 2 s clip after padding
FBANK_MEAN, FBANK_STD = -4.268, 9.138


@dataclass(frozen=True)
class ImageBindAudioConfig:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    out_dim: int = 1024  # the joint embedding size
    kernel: int = 16  # patch size (mel bins x frames)
    stride: int = 10
    logit_scale: float = 20.0  # fixed (not learnable) for audio


def kaldi_fbank(wave: torch.Tensor, num_mel_bins: int = MEL_BINS) -> torch.Tensor:
    """Kaldi-compatible log-mel filterbank of ``(N,)`` 16 kHz audio -> ``(frames, num_mel_bins)``.

    Same settings as ImageBind's (``torchaudio.compliance.kaldi.fbank`` with ``htk_compat=True``,
    hanning window, 25 ms / 10 ms, no dither, no energy): DC removal, pre-emphasis 0.97, 512-point
    power spectrum, triangular filters on Kaldi's mel scale ``1127 ln(1 + f / 700)`` from 20 Hz to Nyquist.
    """
    win, shift, n_fft = 400, 160, 512
    wave = wave.double()
    wave = wave - wave.mean()  # ImageBind removes the clip's mean before the filterbank
    n = 1 + (len(wave) - win) // shift if len(wave) >= win else 0
    frames = wave.as_strided((n, win), (shift, 1)).clone()  # snip_edges=True
    frames -= frames.mean(dim=1, keepdim=True)
    frames[:, 1:] -= 0.97 * frames[:, :-1].clone()
    frames[:, 0] -= 0.97 * frames[:, 0]
    frames *= torch.hann_window(win, periodic=False, dtype=torch.float64)
    power = torch.fft.rfft(frames, n=n_fft).abs().pow(2)  # (n, 257)
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)  # noqa: E731
    lo, hi = mel(20.0), mel(SAMPLE_RATE / 2)
    centers = torch.linspace(lo, hi, num_mel_bins + 2, dtype=torch.float64)
    fft_mels = 1127.0 * torch.log1p(torch.arange(n_fft // 2 + 1, dtype=torch.float64) * SAMPLE_RATE / n_fft / 700.0)
    left, mid, right = centers[:-2, None], centers[1:-1, None], centers[2:, None]
    banks = torch.clamp(torch.minimum((fft_mels - left) / (mid - left), (right - fft_mels) / (right - mid)), min=0)
    banks[:, -1] = 0  # Kaldi's filters do not use the Nyquist bin
    return torch.log(torch.clamp(power @ banks.T, min=torch.finfo(torch.float32).eps)).float()


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    """Pre-norm transformer block; attention with learned key/value bias tokens (ImageBind audio)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_1, self.norm_2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, bias=True, add_bias_kv=True, batch_first=True)
        self.mlp = _Mlp(dim, 4 * dim)

    def forward(self, x):
        h = self.norm_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm_2(x))


class _Stem(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        self.proj = nn.Conv2d(1, cfg.embed_dim, cfg.kernel, stride=cfg.stride, bias=False)  # reference key: proj.weight
        self.norm_layer = nn.LayerNorm(cfg.embed_dim)


class _PosEmbed(nn.Module):
    def __init__(self, num_tokens: int, dim: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, dim))


class _Preprocessor(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        grid = ((MEL_BINS - cfg.kernel) // cfg.stride + 1) * ((TARGET_FRAMES - cfg.kernel) // cfg.stride + 1)  # 12 * 19
        self.rgbt_stem = _Stem(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos_embedding_helper = _PosEmbed(grid + 1, cfg.embed_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 128, 204)`` -> tokens ``(B, 1 + 228, D)``."""
        x = self.rgbt_stem.proj(mel).flatten(2).transpose(1, 2)  # (B, 228, D)
        x = self.rgbt_stem.norm_layer(x)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        return x + self.pos_embedding_helper.pos_embed


class _Trunk(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        self.blocks = nn.ModuleList([_Block(cfg.embed_dim, cfg.num_heads) for _ in range(cfg.depth)])


class ImageBindAudio(nn.Module):
    """ImageBind's audio branch: normalised fbank ``(B, 1, 128, 204)`` -> embedding ``(B, out_dim)``."""

    def __init__(self, cfg: ImageBindAudioConfig = ImageBindAudioConfig()):
        super().__init__()
        self.cfg = cfg
        self.preprocessor = _Preprocessor(cfg)
        self.trunk = _Trunk(cfg)
        self.head = nn.Sequential(nn.LayerNorm(cfg.embed_dim, eps=1e-6), nn.Identity(),  # index 1: SelectElement
                                  nn.Linear(cfg.embed_dim, cfg.out_dim, bias=False))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.preprocessor(mel)  # (B, 229, D)
        for block in self.trunk.blocks:
            x = block(x)
        x = self.head[2](self.head[0](x)[:, 0])  # CLS token -> (B, out_dim)
        return nn.functional.normalize(x, dim=-1) * self.cfg.logit_scale


_PREFIXES = {"modality_preprocessors.audio.": "preprocessor.", "modality_trunks.audio.": "trunk.",
             "modality_heads.audio.": "head."}


def load_imagebind_audio(path: str | os.PathLike, cfg: ImageBindAudioConfig = ImageBindAudioConfig()) -> ImageBindAudio:
    """Load ImageBind audio weights from a safetensors file (full ImageBind or audio-only keys)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: ImageBind weights not found (a .safetensors file converted from imagebind_huge.pth)")
    try:
        raw = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for a malformed header
        raise InputError(f"{path}: not a readable safetensors file ({e})") from None
    sd = {}
    for k, v in raw.items():
        for theirs, ours in _PREFIXES.items():
            if k.startswith(theirs):
                sd[ours + k[len(theirs):]] = v
        if k.split(".")[0] in ("preprocessor", "trunk", "head"):
            sd[k] = v
    model = ImageBindAudio(cfg)
    result = model.load_state_dict(sd, strict=False)
    if result.missing_keys:
        raise InputError(f"{path}: ImageBind audio weights incomplete (missing {result.missing_keys[:3]}...)")
    return model.eval().requires_grad_(False)


class ImageBindAudioEncoder:
    """Frame-level ImageBind audio features: one ``out_dim`` vector per 2 s clip every ``hop`` seconds.

    ``weights``: safetensors path (required unless ``model`` is given, e.g. a randomly initialised
    :class:`ImageBindAudio` for tests). ``hop``: seconds between clip starts; ``frame_rate = 1 / hop``.
    """

    name = "imagebind"

    def __init__(self, weights: str | os.PathLike | None = None, *, hop: float = 0.5,
                 model: ImageBindAudio | None = None, batch_size: int = 16, device: str | torch.device = "cpu"):
        if (weights is None) == (model is None):
            raise InputError("ImageBind audio needs a weights path (the paper's imagebind_huge, as safetensors)")
        self.model = model.eval().requires_grad_(False) if model is not None else load_imagebind_audio(weights)
        if hop <= 0:
            raise ValueError(f"hop must be > 0 seconds, got {hop}")
        self.hop, self.frame_rate, self.batch_size = float(hop), 1.0 / hop, batch_size
        self.model = self.model.to(device)
        self.device = torch.device(device)
        self.dim = self.model.cfg.out_dim
        self._fingerprint = weights_fingerprint(weights) if weights is not None else "in-memory"

    def settings(self) -> dict:
        return {"weights": self._fingerprint, "hop": self.hop, "clip_seconds": CLIP_SECONDS,
                "config": asdict(self.model.cfg)}

    def clip_fbanks(self, wav: np.ndarray) -> torch.Tensor:
        """``(N,)`` -> normalised fbanks of every clip, ``(L, 1, 128, 204)``."""
        clip = int(CLIP_SECONDS * SAMPLE_RATE)
        total = num_frames(len(wav), self.frame_rate)
        starts = [round(i * self.hop * SAMPLE_RATE) for i in range(total)]
        padded = np.zeros(max(starts[-1] + clip, len(wav)) if starts else clip, dtype=np.float32)
        padded[:len(wav)] = wav
        out = []
        for s in starts:
            fb = kaldi_fbank(torch.from_numpy(padded[s:s + clip])).T  # (128, 198)
            fb = nn.functional.pad(fb, (0, TARGET_FRAMES - fb.shape[1]))  # (128, 204)
            out.append((fb - FBANK_MEAN) / FBANK_STD)
        return torch.stack(out)[:, None] if out else torch.zeros(0, 1, MEL_BINS, TARGET_FRAMES)

    @torch.inference_mode()
    def encode(self, waveform_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``(N,)`` samples at 16 kHz -> ``(ceil(N / (hop * 16000)), out_dim)`` float32."""
        mel = self.clip_fbanks(as_waveform(waveform_16k))
        outs = [self.model(mel[i:i + self.batch_size].to(self.device)) for i in range(0, len(mel), self.batch_size)]
        return torch.cat(outs).float().cpu().contiguous() if outs else torch.zeros(0, self.dim)
