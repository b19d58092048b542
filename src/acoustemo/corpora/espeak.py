"""espeak-ng speech synthesis: text, voice, pitch, rate -> float32 waveform at 16 kHz.

espeak-ng is a system package (Debian/Ubuntu ``apt-get install espeak-ng``, macOS
``brew install espeak-ng``). Its output for a given text and options is deterministic on one
installation; different espeak-ng versions may produce slightly different audio.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..errors import AcoustemoError

SAMPLE_RATE = 16000  # Hz, the project's audio rate
ESPEAK_RATE = 22050  # Hz, espeak-ng's native output rate

INSTALL_HINT = ("espeak-ng is not installed; install it with 'apt-get install espeak-ng' "
                "(Debian/Ubuntu) or 'brew install espeak-ng' (macOS)")


class MissingToolError(AcoustemoError):
    """A required system program is not installed (the command line prints one line and exits 2)."""


def require_espeak() -> str:
    """Path of the espeak-ng executable; raises :class:`MissingToolError` with the install hint."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingToolError(INSTALL_HINT)
    return exe


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an espeak-ng voice with a variant, and its habitual pitch and rate."""

    name: str  # espeak-ng voice with variant, e.g. "en-us+f3"
    pitch: int  # espeak-ng -p, 0..99 (50 is the voice's default)
    speed: int  # espeak-ng -s, words per minute

    @property
    def id(self) -> str:
        return f"{self.name.replace('+', '_')}_p{self.pitch}_s{self.speed}"


def synthesize(text: str, voice: Voice, *, pitch: int | None = None, speed: int | None = None,
               amplitude: int = 100) -> np.ndarray:
    """Speak ``text``; returns float32 samples in [-1, 1] at 16 kHz, shape ``(n,)``.

    ``pitch`` (0..99) and ``speed`` (words per minute) override the voice's own; ``amplitude`` is
    espeak-ng's ``-a`` (0..200, 100 = default). espeak-ng's leading and trailing silence is kept; the
    caller trims it (see :func:`acoustemo.corpora.audio.trim_silence`).
    """
    exe = require_espeak()
    cmd = [exe, "-v", voice.name, "-p", str(voice.pitch if pitch is None else pitch),
           "-s", str(voice.speed if speed is None else speed), "-a", str(amplitude), "--stdout", text]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise MissingToolError(f"espeak-ng failed for voice {voice.name!r}: {msg[0] if msg else 'no output'}")
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sr != ESPEAK_RATE:
        raise MissingToolError(f"espeak-ng produced {sr} Hz audio, expected {ESPEAK_RATE} Hz")
    out = resample_poly(audio.astype(np.float64), SAMPLE_RATE // 50, ESPEAK_RATE // 50)  # 320/441
    return out.astype(np.float32)
