"""Local prosodic manipulations of one utterance or of a sub-segment of it.

Every function takes a float32 waveform ``x`` of shape ``(n,)`` at ``sr`` Hz and a window
``(t0, t1)`` in seconds of ``x``'s time axis, and returns a new float32 waveform; only the window
changes (its edges are ramped so no click appears). Functions with randomness take a
``numpy.random.Generator``: same generator state, same output.

* amplitude and spectral manipulations are numpy/scipy: :func:`loudness_burst`, :func:`whisper`,
  :func:`breathy`, the tremolo of :func:`tremor`, :func:`add_noise`;
* pitch and duration go through Praat's PSOLA (overlap-add resynthesis, via parselmouth), which
  changes F0 and tempo without touching the formants: :func:`pitch_shift`, :func:`rate_change`,
  the vibrato and jitter of :func:`tremor`, :func:`flatten_pitch`.

:func:`rate_change` alters the length; it returns the new waveform and the window's new end.
"""

from __future__ import annotations

import numpy as np
import parselmouth
from parselmouth.praat import call
from parselmouth.praat import run as praat_run
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

PITCH_FLOOR = 75.0  # Hz, Praat's analysis range for speech
PITCH_CEILING = 600.0  # Hz
RAMP = 0.03  # s, edge ramp of amplitude manipulations
TIER_STEP = 0.005  # s, spacing of the pitch points a tremor writes


def _window_envelope(n: int, sr: int, t0: float, t1: float, ramp: float = RAMP) -> np.ndarray:
    """0 outside ``[t0, t1]``, 1 inside, raised-cosine ramps of ``ramp`` s inside the edges; ``(n,)``."""
    t = np.arange(n) / sr
    env = np.zeros(n, dtype=np.float64)
    inside = (t >= t0) & (t < t1)
    env[inside] = 1.0
    r = max(min(ramp, (t1 - t0) / 2), 1e-6)
    up = inside & (t < t0 + r)
    env[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - t0) / r)
    down = inside & (t > t1 - r)
    env[down] = 0.5 - 0.5 * np.cos(np.pi * (t1 - t[down]) / r)
    return env


def _manipulation(x: np.ndarray, sr: int):
    snd = parselmouth.Sound(x.astype(np.float64), sampling_frequency=sr)
    return call(snd, "To Manipulation", 0.01, PITCH_FLOOR, PITCH_CEILING)


PRAAT_SEED = 20260321  # Praat's overlap-add picks random offsets when it stretches voiceless parts


def _resynthesize(manip, n_expected: int | None = None) -> np.ndarray:
    # seed Praat's generator for this call only, so the same input gives the same samples
    praat_run(f"random_initializeWithSeedUnsafelyButPredictably ({PRAAT_SEED})")
    try:
        out = call(manip, "Get resynthesis (overlap-add)")
    finally:
        praat_run("random_initializeSafelyAndUnpredictably ()")
    y = out.values[0].astype(np.float32)
    if n_expected is not None:  # PSOLA keeps the duration when the duration tier is untouched
        y = np.pad(y, (0, max(0, n_expected - len(y))))[:n_expected]
    return y


def _pitch_points(tier) -> tuple[np.ndarray, np.ndarray]:
    n = int(call(tier, "Get number of points"))
    times = np.array([call(tier, "Get time from index", i) for i in range(1, n + 1)])
    values = np.array([call(tier, "Get value at index", i) for i in range(1, n + 1)])
    return times, values


def psola_identity(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` passed through the same PSOLA analysis/resynthesis with nothing changed.

    Every synthetic utterance goes through PSOLA once (manipulated or not), so the resynthesis itself
    is never a cue that tells manipulated from unmanipulated audio.
    """
    return _resynthesize(_manipulation(x, sr), len(x))


def pitch_shift(x: np.ndarray, sr: int, t0: float, t1: float, semitones: float) -> np.ndarray:
    """Raise (``semitones > 0``) or lower F0 inside ``[t0, t1]`` by PSOLA; a sudden pitch jump at ``t0``."""
    manip = _manipulation(x, sr)
    tier = call(manip, "Extract pitch tier")
    call(tier, "Multiply frequencies", t0, t1, 2 ** (semitones / 12))
    call([tier, manip], "Replace pitch tier")
    return _resynthesize(manip, len(x))


def flatten_pitch(x: np.ndarray, sr: int, t0: float, t1: float, *, range_factor: float = 0.3,
                  semitones: float = 0.0) -> np.ndarray:
    """Compress F0 excursions inside ``[t0, t1]`` towards their median (monotone speech) and shift it.

    ``range_factor`` 0 gives a flat contour, 1 keeps it; in log-frequency:
    ``f' = median * (f / median) ** range_factor * 2 ** (semitones / 12)``.
    """
    manip = _manipulation(x, sr)
    tier = call(manip, "Extract pitch tier")
    times, values = _pitch_points(tier)
    sel = (times >= t0) & (times <= t1)
    if sel.any():
        med = float(np.median(values[sel]))
        new = med * (values[sel] / med) ** range_factor * 2 ** (semitones / 12)
        call(tier, "Remove points between", t0, t1)
        for t, f in zip(times[sel], new):
            call(tier, "Add point", float(t), float(f))
    call([tier, manip], "Replace pitch tier")
    return _resynthesize(manip, len(x))


def tremor(x: np.ndarray, sr: int, t0: float, t1: float, rng: np.random.Generator, *,
           rate_hz: float = 6.0, vibrato_cents: float = 70.0, jitter: float = 0.03,
           tremolo_depth: float = 0.5) -> np.ndarray:
    """A trembling voice inside ``[t0, t1]``.

    Three parts, as in a physiological voice tremor: a ``rate_hz`` vibrato of ``±vibrato_cents``
    and random cycle-to-cycle F0 perturbation of relative size ``jitter`` (both written into the
    PSOLA pitch tier every 5 ms), and a ``rate_hz`` tremolo that dips the amplitude by up to
    ``tremolo_depth``.
    """
    manip = _manipulation(x, sr)
    tier = call(manip, "Extract pitch tier")
    times, values = _pitch_points(tier)
    sel = (times >= t0) & (times <= t1)
    phase = rng.uniform(0, 2 * np.pi)
    if sel.sum() >= 2:
        grid = np.arange(t0, t1, TIER_STEP)
        base = np.interp(grid, times[sel], values[sel])
        voiced_span = (grid >= times[sel][0]) & (grid <= times[sel][-1])
        grid, base = grid[voiced_span], base[voiced_span]
        depth = np.minimum(1.0, np.minimum(grid - t0, t1 - grid) / RAMP)  # ramp in and out
        vib = 2 ** (depth * vibrato_cents / 1200 * np.sin(2 * np.pi * rate_hz * grid + phase))
        jit = 1 + depth * jitter * rng.standard_normal(len(grid))
        call(tier, "Remove points between", t0, t1)
        for t, f in zip(grid, base * vib * jit):
            call(tier, "Add point", float(t), float(f))
        call([tier, manip], "Replace pitch tier")
    y = _resynthesize(manip, len(x)).astype(np.float64)
    env = _window_envelope(len(y), sr, t0, t1)
    t = np.arange(len(y)) / sr
    am = 1 - tremolo_depth * env * (0.5 + 0.5 * np.sin(2 * np.pi * rate_hz * t + phase))
    return (y * am).astype(np.float32)


def _duration_points(t0: float, t1: float, factor: float, duration: float,
                     eps: float = 0.01) -> list[tuple[float, float]]:
    """Duration tier: 1 outside ``[t0, t1]``, ``factor`` inside, linear 10 ms transitions."""
    points = [(t0, factor), (t1, factor)]
    if t0 - eps > 0:
        points.insert(0, (t0 - eps, 1.0))
    if t1 + eps < duration:
        points.append((t1 + eps, 1.0))
    return points


def _mapped_time(t: float, points: list[tuple[float, float]]) -> float:
    """Output time of input time ``t`` under a piecewise-linear duration tier (integral of the factor)."""
    ts = np.array([p[0] for p in points])
    fs = np.array([p[1] for p in points])
    grid = np.linspace(0, t, 2001)
    return float(np.trapezoid(np.interp(grid, ts, fs), grid))


def rate_change(x: np.ndarray, sr: int, t0: float, t1: float, speed: float) -> tuple[np.ndarray, float]:
    """Speak ``[t0, t1]`` ``speed`` times faster (``speed > 1``) or slower by PSOLA.

    Returns ``(y, t1_new)``: the new waveform (length changes by about ``(t1 - t0) * (1/speed - 1)``
    seconds) and the window's end in ``y``'s time axis (``t0`` stays where it was).
    """
    manip = _manipulation(x, sr)
    dur = len(x) / sr
    tier = call("Create DurationTier", "rate", 0, dur)
    points = _duration_points(t0, t1, 1 / speed, dur)
    for t, f in points:
        call(tier, "Add point", t, f)
    call([manip, tier], "Replace duration tier")
    return _resynthesize(manip), _mapped_time(t1, points)


def loudness_burst(x: np.ndarray, sr: int, t0: float, t1: float, gain_db: float) -> np.ndarray:
    """Multiply ``[t0, t1]`` by ``gain_db`` dB (30 ms raised-cosine ramps at the edges)."""
    env = _window_envelope(len(x), sr, t0, t1)
    return (x * 10 ** (gain_db * env / 20)).astype(np.float32)


def _lpc(frame: np.ndarray, order: int) -> np.ndarray:
    """LPC polynomial ``[1, a1, ..., ap]`` of a windowed frame (autocorrelation method)."""
    r = np.correlate(frame, frame, mode="full")[len(frame) - 1: len(frame) + order]
    if r[0] <= 1e-12:
        return np.r_[1.0, np.zeros(order)]
    r = r.copy()
    r[0] *= 1 + 1e-6  # white-noise correction keeps the system well conditioned
    a = solve_toeplitz(r[:order], -r[1: order + 1])
    return np.r_[1.0, a]


def lpc_noise_excited(x: np.ndarray, sr: int, rng: np.random.Generator, *, order: int = 18,
                      frame: float = 0.025) -> np.ndarray:
    """Whispered copy of ``x``: each frame's LPC envelope excited by white noise, same frame energy.

    Frames of ``frame`` s with 50 % overlap and a periodic Hann window (which sums to one). Shape ``(n,)``.
    """
    n = int(round(frame * sr))
    hop = n // 2
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    xd = np.pad(x.astype(np.float64), (hop, n))
    y = np.zeros_like(xd)
    for start in range(0, len(xd) - n + 1, hop):
        seg = xd[start: start + n] * win
        energy = np.sqrt(np.mean(seg**2))
        if energy <= 1e-9:
            continue
        a = _lpc(seg, order)
        syn = lfilter([1.0], a, rng.standard_normal(n)) * win
        syn *= energy / max(np.sqrt(np.mean(syn**2)), 1e-12)
        y[start: start + n] += syn
    return y[hop: hop + len(x)].astype(np.float32)


def whisper(x: np.ndarray, sr: int, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
    """Replace ``[t0, t1]`` by its noise-excited (voiceless) copy: whispered speech, no F0."""
    env = _window_envelope(len(x), sr, t0, t1)
    w = lpc_noise_excited(x, sr, rng)
    return (x * (1 - env) + w * env).astype(np.float32)


def breathy(x: np.ndarray, sr: int, t0: float, t1: float, rng: np.random.Generator, *,
            breath: float = 0.4) -> np.ndarray:
    """Mix a noise-excited copy into ``[t0, t1]`` (weight ``breath`` in power), keeping the energy:
    voiced speech with strong aspiration noise, i.e. a lower harmonics-to-noise ratio."""
    env = _window_envelope(len(x), sr, t0, t1)
    w = lpc_noise_excited(x, sr, rng)
    mix = np.sqrt(1 - breath) * x + np.sqrt(breath) * w
    return (x * (1 - env) + mix * env).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS 1/f noise of ``n`` samples (white noise shaped in the frequency domain)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    return (y / max(np.sqrt(np.mean(y**2)), 1e-12)).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, speech: np.ndarray, rng: np.random.Generator,
              noise: np.ndarray | None = None) -> np.ndarray:
    """Add background noise at ``snr_db``: speech power (mean over the samples where the boolean mask ``speech``
    is true) over noise power. ``noise``: a unit-RMS noise signal of ``len(x)`` samples (default: pink noise drawn
    from ``rng``)."""
    p_speech = float(np.mean(np.square(x[speech], dtype=np.float64)))
    noise = pink_noise(len(x), rng) if noise is None else noise
    return (x + noise * np.sqrt(p_speech / 10 ** (snr_db / 10))).astype(np.float32)


def speech_mask(n: int, utterances, sr: int = 16000) -> np.ndarray:
    """(n,) bool: True inside the utterances (``start`` / ``end`` in seconds); all of it when there are none."""
    mask = np.zeros(n, bool)
    for u in utterances or []:
        mask[int(u.start * sr):int(u.end * sr)] = True
    if not mask.any():
        mask[:] = True
    return mask
