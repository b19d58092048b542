"""Small waveform helpers shared by the synthetic and real-speech builders (numpy, 16 kHz mono)."""

from __future__ import annotations

import numpy as np

FRAME = 0.020  # s, energy frame for silence trimming


def frame_rms(x: np.ndarray, sr: int, frame: float = FRAME) -> np.ndarray:
    """RMS of consecutive non-overlapping frames of ``frame`` seconds; shape ``(n // hop,)``."""
    hop = max(1, int(round(frame * sr)))
    n = len(x) // hop
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    f = x[: n * hop].astype(np.float64).reshape(n, hop)
    return np.sqrt((f * f).mean(axis=1))


def trim_silence(x: np.ndarray, sr: int, *, threshold_db: float = -35.0, above_floor_db: float = 15.0,
                 min_run: float = 0.06, pad: float = 0.03) -> tuple[int, int]:
    """Sample range ``(a, b)`` of ``x`` that holds speech.

    A 20 ms frame is loud when its RMS is within ``threshold_db`` of the loudest frame *and*
    ``above_floor_db`` above the noise floor (the 10th percentile of the frame levels), so quiet clips
    recorded in silence do not keep their room noise. The range runs from the first to the last run of
    loud frames lasting at least ``min_run`` seconds (isolated clicks do not count), widened by ``pad``
    seconds on each side (clamped to ``x``). Returns ``(0, len(x))`` when nothing qualifies.
    """
    rms = frame_rms(x, sr)
    if len(rms) == 0 or rms.max() <= 0:
        return 0, len(x)
    hop = int(round(FRAME * sr))
    db = 20 * np.log10(np.maximum(rms, 1e-10))
    loud = (db >= db.max() + threshold_db) & (db >= np.percentile(db, 10) + above_floor_db)
    edges = np.flatnonzero(np.diff(np.r_[0, loud.astype(np.int8), 0]))
    runs = [(a, b) for a, b in zip(edges[0::2], edges[1::2]) if b - a >= max(1, round(min_run / FRAME))]
    if not runs:
        return 0, len(x)
    p = int(round(pad * sr))
    return max(0, runs[0][0] * hop - p), min(len(x), runs[-1][1] * hop + p)


def fade(x: np.ndarray, sr: int, seconds: float = 0.01) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``seconds`` (avoids clicks at splice points)."""
    n = min(int(round(seconds * sr)), len(x) // 2)
    if n == 0:
        return x
    y = x.astype(np.float32, copy=True)
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)
    y[:n] *= ramp
    y[-n:] *= ramp[::-1]
    return y


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS of a float waveform (-inf for silence)."""
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    return 20 * np.log10(r) if r > 0 else float("-inf")
