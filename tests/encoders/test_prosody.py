"""Frame-level prosody beside the Whisper features: values on signals whose prosody is known."""

import numpy as np
import pytest
import torch

from acoustemo.encoders import build_audio_encoder
from acoustemo.encoders.prosody import PROSODY_FEATURES, ProsodyAugmentedEncoder, prosody_frames
from acoustemo.media import load_audio

from conftest import FIXTURES

SR = 16000


def tone(f0: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    """A harmonic tone (5 partials): voiced, with a clear F0."""
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) / 2).astype(np.float32)


def test_pitch_voicing_and_energy_of_a_tone_then_silence():
    wav = np.concatenate([tone(200.0, 1.0), np.zeros(SR // 2, np.float32), tone(100.0, 1.0, amplitude=0.03)])
    p = prosody_frames(wav, 50.0)
    assert p.shape == (125, len(PROSODY_FEATURES))
    f0_st, f0_rel, voiced, energy, _, hnr = p.T
    first, gap, last = slice(5, 45), slice(55, 70), slice(80, 120)
    assert voiced[first].mean() > 0.95 and voiced[gap].max() == 0 and voiced[last].mean() > 0.95
    assert torch.allclose(f0_st[first], torch.tensor(1.0), atol=0.02)  # 200 Hz = 12 st re 100 Hz, / 12
    assert torch.allclose(f0_st[last], torch.tensor(0.0), atol=0.02)  # 100 Hz
    assert float(f0_rel[first].mean() - f0_rel[last].mean()) == pytest.approx(1.0, abs=0.03)  # one octave apart
    assert float(energy[first].mean() - energy[last].mean()) * 20 == pytest.approx(20.0, abs=1.0)  # 10x amplitude
    assert energy[gap].max() * 20 <= -99  # digital silence
    assert hnr[first].mean() * 20 > 20  # a clean harmonic tone


def test_a_rising_pitch_is_tracked_frame_by_frame():
    t = np.arange(SR) / SR
    f = 150 * 2 ** (t * 4 / 12)  # glides up four semitones in one second
    wav = (0.3 * np.sin(2 * np.pi * np.cumsum(f) / SR)).astype(np.float32)
    st = prosody_frames(wav, 50.0)[:, 0] * 12
    assert float(st[40] - st[5]) == pytest.approx(4 * 35 / 50, abs=0.3)


def test_whisper_prosody_encoder_appends_six_columns_on_real_speech():
    enc = build_audio_encoder("whisper_prosody")
    assert isinstance(enc, ProsodyAugmentedEncoder) and enc.dim == 390 and enc.frame_rate == 50.0
    wav = load_audio(FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac")
    features = enc.encode(wav)
    whisper = build_audio_encoder("whisper").encode(wav)
    assert features.shape == (whisper.shape[0], 390)
    torch.testing.assert_close(features[:, :384], whisper)
    assert features[:, 384 + 2].mean() > 0.2  # speech is voiced much of the time
    assert enc.settings()["base"] == "whisper" and enc.name == "whisper_prosody"
