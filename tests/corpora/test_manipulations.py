"""Each manipulation is measurable in its window and leaves the rest alone (real speech: a RAVDESS clip)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from acoustemo.corpora import manipulations as M
from acoustemo.corpora.audio import trim_silence
from acoustemo.corpora.prosody import window_stats

SR = 16000
CLIP = Path(__file__).parents[1] / "fixtures" / "ravdess" / "audio" / "Actor_05" / "03-01-01-01-01-01-05.flac"


@pytest.fixture(scope="module")
def speech():
    x, sr = sf.read(CLIP, dtype="float32")
    assert sr == SR
    a, b = trim_silence(x, SR)
    x = x[a:b]
    x = x * 0.1 / np.sqrt(np.mean(x**2))
    d = len(x) / SR
    return x.astype(np.float32), d / 2 - 0.5, d / 2 + 0.5  # waveform, window = the middle 1.0 s


@pytest.fixture(scope="module")
def identity(speech):
    return M.psola_identity(speech[0], SR)


def test_identity_resynthesis_keeps_length_and_pitch(speech, identity):
    x, _, _ = speech
    assert len(identity) == len(x)
    assert abs(window_stats(identity, SR).f0_median - window_stats(x, SR).f0_median) < 0.3


def test_tremor_raises_f0_wobble_and_jitter_only_in_the_window(speech, identity):
    x, t0, t1 = speech
    y = M.tremor(x, SR, t0, t1, np.random.default_rng(0), vibrato_cents=90)
    twin_win, win = window_stats(identity, SR, t0, t1), window_stats(y, SR, t0, t1)
    twin_rest, rest = window_stats(identity, SR, 0, t0), window_stats(y, SR, 0, t0)
    assert win.f0_wobble > 1.5 * twin_win.f0_wobble
    assert win.jitter > 1.5 * twin_win.jitter
    assert abs(rest.f0_wobble - twin_rest.f0_wobble) < 0.2 * twin_rest.f0_wobble
    assert abs(rest.rms_db - twin_rest.rms_db) < 0.3
    assert win.rms_db < twin_win.rms_db - 1  # tremolo dips the amplitude


@pytest.mark.parametrize("semitones", [4.0, -4.0])
def test_pitch_shift_moves_the_window_median(speech, identity, semitones):
    x, t0, t1 = speech
    y = M.pitch_shift(x, SR, t0, t1, semitones)
    delta = window_stats(y, SR, t0, t1).f0_median - window_stats(identity, SR, t0, t1).f0_median
    rest = window_stats(y, SR, 0, t0).f0_median - window_stats(identity, SR, 0, t0).f0_median
    assert abs(delta - semitones) < 1.0 and abs(rest) < 0.3
    assert len(y) == len(x)


@pytest.mark.parametrize("speed", [1.5, 0.65])
def test_rate_change_rescales_the_window_duration(speech, speed):
    x, t0, t1 = speech
    y, t1_new = M.rate_change(x, SR, t0, t1, speed)
    expected = (t1 - t0) / speed
    assert abs((t1_new - t0) - expected) < 0.03
    assert abs(len(y) / SR - (len(x) / SR + expected - (t1 - t0))) < 0.05
    # F0 is kept: the change is in tempo, not in pitch
    assert abs(window_stats(y, SR, t0, t1_new).f0_median - window_stats(x, SR, t0, t1).f0_median) < 1.0


def test_loudness_burst_is_exact_and_local(speech):
    x, t0, t1 = speech
    y = M.loudness_burst(x, SR, t0, t1, 9.0)
    a, b = int((t0 + M.RAMP) * SR), int((t1 - M.RAMP) * SR)
    np.testing.assert_allclose(y[a:b], x[a:b] * 10 ** (9 / 20), rtol=1e-5)
    np.testing.assert_array_equal(y[: int(t0 * SR)], x[: int(t0 * SR)])


def test_whisper_removes_voicing_keeps_energy(speech, identity):
    x, t0, t1 = speech
    y = M.whisper(identity, SR, t0, t1, np.random.default_rng(0))
    win, twin = window_stats(y, SR, t0, t1), window_stats(identity, SR, t0, t1)
    assert win.voiced_fraction < 0.5 * twin.voiced_fraction
    assert abs(win.rms_db - twin.rms_db) < 2.0
    np.testing.assert_array_equal(y[: int(t0 * SR)], identity[: int(t0 * SR)])


def test_breathy_lowers_harmonics_to_noise_ratio(speech, identity):
    x, t0, t1 = speech
    y = M.breathy(identity, SR, t0, t1, np.random.default_rng(0), breath=0.4)
    assert window_stats(y, SR, t0, t1).hnr < window_stats(identity, SR, t0, t1).hnr - 3


def test_flatten_pitch_compresses_the_contour(speech, identity):
    x, _, _ = speech
    d = len(x) / SR
    y = M.flatten_pitch(x, SR, 0, d, range_factor=0.2, semitones=-2)
    s, twin = window_stats(y, SR), window_stats(identity, SR)
    assert s.f0_sd < 0.5 * twin.f0_sd
    assert abs(s.f0_median - twin.f0_median + 2) < 0.7


def test_add_noise_hits_the_requested_snr(speech):
    x, _, _ = speech
    mask = np.ones(len(x), bool)
    y = M.add_noise(x, 5.0, mask, np.random.default_rng(0))
    noise = y.astype(np.float64) - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(snr - 5.0) < 0.05
    np.testing.assert_array_equal(y, M.add_noise(x, 5.0, mask, np.random.default_rng(0)))


def test_psola_manipulations_are_deterministic(speech):
    x, t0, t1 = speech
    a, _ = M.rate_change(x, SR, t0, t1, 0.65)
    b, _ = M.rate_change(x, SR, t0, t1, 0.65)
    np.testing.assert_array_equal(a, b)
