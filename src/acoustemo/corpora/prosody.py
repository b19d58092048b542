"""Prosody statistics of a stretch of audio, used to check that each manipulation is measurable.

Praat (parselmouth) gives F0 and jitter, numpy gives the RMS energy. All functions take a float32
waveform ``(n,)`` at ``sr`` Hz and a window in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import parselmouth
from parselmouth.praat import call
from scipy.ndimage import uniform_filter1d

from .manipulations import PITCH_CEILING

PITCH_FLOOR = 50.0  # Hz: below the manipulations' 75 Hz, so a low voice lowered by 5 semitones is still tracked


@dataclass(frozen=True)
class WindowStats:
    f0_median: float  # semitones re 100 Hz, over voiced frames (nan if none)
    f0_sd: float  # semitones, standard deviation of F0 over voiced frames
    f0_wobble: float  # semitones, median |F0 - its 150 ms moving average| within voiced runs (vibrato, tremor)
    jitter: float  # Praat jitter (local), fraction (nan if too few periods)
    rms_db: float  # dBFS, over the whole window
    voiced_fraction: float  # share of 10 ms frames with an F0
    hnr: float  # dB, mean harmonics-to-noise ratio over voiced frames (nan if none)
    duration: float  # seconds


WOBBLE_FRAMES = 15  # 10 ms frames: the 150 ms moving average that removes the slow intonation


def _wobble(st: np.ndarray, voiced: np.ndarray) -> float:
    """Median absolute deviation of F0 (semitones) from its 150 ms moving average, over voiced runs of
    at least 50 ms; fast F0 modulation (a 4–8 Hz vibrato) shows here, the slow intonation does not. The
    median ignores the rare octave jumps of the pitch tracker. nan without such runs."""
    residuals = []
    edges = np.flatnonzero(np.diff(np.r_[0, voiced.astype(np.int8), 0]))
    for a, b in zip(edges[0::2], edges[1::2]):
        if b - a >= 5:
            run = st[a:b]
            residuals.append(run - uniform_filter1d(run, WOBBLE_FRAMES, mode="nearest"))
    return float(np.median(np.abs(np.concatenate(residuals)))) if residuals else float("nan")


def window_stats(x: np.ndarray, sr: int, t0: float = 0.0, t1: float | None = None) -> WindowStats:
    """Prosody statistics of ``x[t0:t1]`` (seconds); ``t1=None`` means the end of ``x``."""
    a = int(round(t0 * sr))
    b = len(x) if t1 is None else int(round(t1 * sr))
    seg = x[a:b].astype(np.float64)
    snd = parselmouth.Sound(seg, sampling_frequency=sr)
    pitch = snd.to_pitch_ac(time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    st = 12 * np.log2(np.where(voiced, f0, 1.0) / 100.0)
    wobble = _wobble(st, voiced)
    pulses = call([snd, pitch], "To PointProcess (cc)")
    n_pulses = int(call(pulses, "Get number of points"))
    jitter = call(pulses, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3) if n_pulses >= 10 else float("nan")
    harm = snd.to_harmonicity_cc(time_step=0.01, minimum_pitch=PITCH_FLOOR)
    h = harm.values[0]
    h = h[h > -200]
    rms = float(np.sqrt(np.mean(seg**2))) if len(seg) else 0.0
    return WindowStats(
        f0_median=float(np.median(st[voiced])) if voiced.any() else float("nan"),
        f0_sd=float(np.std(st[voiced])) if voiced.any() else float("nan"),
        f0_wobble=wobble,
        jitter=float(jitter) if jitter == jitter else float("nan"),
        rms_db=20 * np.log10(rms) if rms > 0 else float("-inf"),
        voiced_fraction=float(voiced.mean()) if len(voiced) else 0.0,
        hnr=float(np.mean(h)) if len(h) else float("nan"),
        duration=len(seg) / sr,
    )
