"""Frame-level prosody (pitch, voicing, energy, harmonicity) beside a speech encoder's features.

Whisper was trained to recognise words, not tone of voice: its features keep some prosody, but a tremor
or a pitch jump is a few frames of F0 movement that the encoder was never asked to preserve. This module
measures the prosody directly with Praat (through parselmouth) and resamples it to the encoder's frame
grid, so that frame ``i`` of both covers ``[i / f_s, (i + 1) / f_s)`` seconds.

Per frame, :data:`PROSODY_FEATURES` (each scaled to about unit range):

- ``f0_st``      F0 in semitones re 100 Hz, / 12 (0 where unvoiced)
- ``f0_rel``     F0 in semitones re the clip's median voiced F0, / 12 (0 where unvoiced): pitch shifts of
                 a speaker whose habitual pitch is unknown
- ``voiced``     1 where Praat finds a pitch, else 0
- ``energy_db``  frame RMS in dB re full scale, / 20
- ``energy_rel`` the same re the clip's median voiced-frame energy, / 20
- ``hnr``        harmonics-to-noise ratio in dB, / 20 (0 where unvoiced): breathiness, whisper

:class:`ProsodyAugmentedEncoder` wraps any audio encoder (``whisper`` by default) and appends these
columns: ``build_audio_encoder("whisper_prosody")`` gives 384 + 6 = 390-d features at 50 Hz.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import SAMPLE_RATE, as_waveform, num_frames

PROSODY_FEATURES = ("f0_st", "f0_rel", "voiced", "energy_db", "energy_rel", "hnr")
PITCH_FLOOR, PITCH_CEILING = 60.0, 600.0  # Hz: covers adult speech, acted anger and surprise included
PRAAT_STEP = 0.01  # s between Praat's analysis frames


def prosody_frames(waveform_16k: np.ndarray | torch.Tensor, frame_rate: float) -> torch.Tensor:
    """``(N,)`` samples at 16 kHz -> ``(ceil(N * frame_rate / 16000), 6)`` float32 prosody features."""
    import parselmouth

    wav = as_waveform(waveform_16k).astype(np.float64)
    total = num_frames(len(wav), frame_rate)
    out = np.zeros((total, len(PROSODY_FEATURES)), dtype=np.float32)
    if total == 0 or len(wav) < int(0.05 * SAMPLE_RATE):  # too short for a pitch period at 60 Hz
        return torch.from_numpy(out)
    sound = parselmouth.Sound(wav, sampling_frequency=SAMPLE_RATE)
    pitch = sound.to_pitch_ac(time_step=PRAAT_STEP, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    harmonicity = sound.to_harmonicity_cc(time_step=PRAAT_STEP, minimum_pitch=PITCH_FLOOR)
    centres = (np.arange(total) + 0.5) / frame_rate  # the centre of each output frame, seconds
    f0 = np.array([pitch.get_value_at_time(t) for t in centres], dtype=np.float64)  # NaN where unvoiced
    hnr = np.array([harmonicity.get_value(t) for t in centres], dtype=np.float64)
    voiced = np.isfinite(f0) & (f0 > 0)
    # RMS over each output frame's samples
    hop = SAMPLE_RATE / frame_rate
    bounds = np.minimum(np.round(np.arange(total + 1) * hop).astype(int), len(wav))
    power = np.add.reduceat(wav ** 2, bounds[:-1]) / np.maximum(np.diff(bounds), 1)
    power[np.diff(bounds) == 0] = 0.0
    energy = 10 * np.log10(np.maximum(power, 1e-10))  # dB re full scale, >= -100
    st = np.where(voiced, 12 * np.log2(np.where(voiced, f0, 100.0) / 100.0), 0.0)
    ref_st = np.median(st[voiced]) if voiced.any() else 0.0
    ref_energy = np.median(energy[voiced]) if voiced.any() else np.median(energy)
    out[:, 0] = st / 12
    out[:, 1] = np.where(voiced, st - ref_st, 0.0) / 12
    out[:, 2] = voiced
    out[:, 3] = energy / 20
    out[:, 4] = np.clip(energy - ref_energy, -60, 30) / 20
    out[:, 5] = np.where(voiced & np.isfinite(hnr) & (hnr > -100), hnr, 0.0) / 20
    return torch.from_numpy(out)


class ProsodyAugmentedEncoder:
    """A frame-level audio encoder whose features get the :data:`PROSODY_FEATURES` columns appended."""

    def __init__(self, base, *, name: str | None = None):
        self.base = base
        self.name = name or f"{base.name}_prosody"
        self.frame_rate = base.frame_rate
        self.dim = base.dim + len(PROSODY_FEATURES)

    def settings(self) -> dict:
        return {"base": self.base.name, "base_settings": self.base.settings(), "prosody": list(PROSODY_FEATURES),
                "pitch_range": [PITCH_FLOOR, PITCH_CEILING], "praat_step": PRAAT_STEP}

    @property
    def speaks(self) -> bool:
        return bool(getattr(self.base, "speaks", False))

    def encode_with_text(self, waveform_16k: np.ndarray | torch.Tensor, **kwargs) -> tuple[torch.Tensor, str, float]:
        """The base encoder's :meth:`~acoustemo.encoders.whisper.WhisperEncoder.encode_with_text`, the prosody
        columns appended to its features."""
        wav = as_waveform(waveform_16k)
        features, text, no_speech = self.base.encode_with_text(wav, **kwargs)
        return self._with_prosody(wav, features), text, no_speech

    def _with_prosody(self, wav: np.ndarray, features: torch.Tensor) -> torch.Tensor:
        prosody = prosody_frames(wav, self.frame_rate)
        n = min(len(features), len(prosody))
        return torch.cat([features[:n], prosody[:n]], dim=1).contiguous()

    def encode(self, waveform_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``(N,)`` samples at 16 kHz -> ``(L, base.dim + 6)`` float32."""
        wav = as_waveform(waveform_16k)
        return self._with_prosody(wav, self.base.encode(wav))
