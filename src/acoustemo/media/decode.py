"""Decoding media with PyAV (its wheels carry their own FFmpeg; no system ffmpeg needed).

* :func:`load_audio` -- any audio or video file (wav, flac, mp3, m4a, mp4, mkv, ...) to a 16 kHz mono
  float32 waveform in [-1, 1], shape ``(N,)``; the first audio stream is used.
* :func:`load_frames` -- RGB frames of the first video stream sampled at a chosen rate,
  ``(T, H, W, 3)`` uint8, with each frame's time in seconds.
* :func:`probe` -- durations and which streams a file has.

Every failure -- missing, zero-byte, corrupt, audio-less or unsupported file -- raises
:class:`~acoustemo.errors.MediaError` (an :class:`~acoustemo.errors.InputError`) whose one-line
message names the file and the reason; FFmpeg's own exceptions never escape. Audio that decodes to
clearly less than the duration its file declares (a file cut short) gives a :class:`MediaWarning` naming
the file and both durations.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import InputError

SAMPLE_RATE = 16_000  # Hz
SHORTFALL_SECONDS, SHORTFALL_FRACTION = 0.25, 0.02  # decoded audio may fall this short of the declared duration


class MediaError(InputError):
    """A media file that cannot be read: the message names the file and the reason."""


class MediaWarning(UserWarning):
    """A media file that decodes, but not as it declares (shorter than its stated duration)."""


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float | None  # seconds (container duration), None if unknown
    has_audio: bool
    has_video: bool
    video_fps: float | None  # average frame rate of the first video stream


def _check_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if not path.is_file():
        raise MediaError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    return path


def _open(path: Path):
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise MediaError(f"{path}: not a readable audio or video file (unsupported format or corrupt: {_reason(e)})") from None


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e).split(":")[0] or type(e).__name__


def probe(path: str | os.PathLike) -> MediaInfo:
    """Which streams ``path`` has and how long it is, without decoding it."""
    path = _check_file(path)
    with _open(path) as c:
        v = c.streams.video[0] if c.streams.video else None
        fps = float(v.average_rate) if v is not None and v.average_rate else None
        duration = c.duration / av.time_base if c.duration else None
        return MediaInfo(path, duration, bool(c.streams.audio), v is not None, fps)


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream of ``path`` to mono float32 at ``sample_rate`` Hz, shape ``(N,)``.

    Channels are averaged (so a sine at amplitude a in both channels stays at amplitude a);
    resampling is FFmpeg's (libswresample).
    """
    path = _check_file(path)
    with _open(path) as c:
        if not c.streams.audio:
            kind = "a video file without an audio track" if c.streams.video else "no audio stream"
            raise MediaError(f"{path}: {kind}; cannot extract audio")
        stream = c.streams.audio[0]
        declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else (
            c.duration / av.time_base if c.duration else None)
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)  # planar, channel layout kept
        pieces: list[np.ndarray] = []
        try:
            for frame in c.decode(stream):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().mean(axis=0))  # (channels, n) -> (n,)
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().mean(axis=0))
        except (av.FFmpegError, ValueError) as e:
            raise MediaError(f"{path}: audio stream is corrupt and cannot be decoded ({_reason(e)})") from None
    if not pieces or sum(len(p) for p in pieces) == 0:
        raise MediaError(f"{path}: audio stream has no samples")
    wav = np.concatenate(pieces).astype(np.float32, copy=False)
    decoded = len(wav) / sample_rate
    if declared and declared - decoded > SHORTFALL_SECONDS + SHORTFALL_FRACTION * declared:
        warnings.warn(f"{path}: decoded {decoded:.2f} s of audio, the file declares {declared:.2f} s "
                      "(cut short or damaged?); the rest is missing from its features", MediaWarning, stacklevel=2)
    return np.clip(wav, -1.0, 1.0)


def load_frames(path: str | os.PathLike, fps: float, *, max_frames: int | None = None,
                max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample the first video stream at ``fps`` frames per second.

    Returns ``(frames, times)``: ``(T, H, W, 3)`` uint8 RGB and ``(T,)`` float64 seconds. For each
    target time ``k / fps`` the first decoded frame at or after it is taken (each frame at most once).
    ``max_side`` scales frames down so that the longer side is at most that many pixels.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    path = _check_file(path)
    frames: list[np.ndarray] = []
    times: list[float] = []
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: no video stream; cannot sample frames")
        stream = c.streams.video[0]
        next_t = 0.0
        step = 1.0 / fps
        try:
            for frame in c.decode(stream):
                if frame.time is None:
                    continue
                t = float(frame.time)
                if t + 1e-6 < next_t:
                    continue
                w, h = frame.width, frame.height
                if max_side and max(w, h) > max_side:
                    scale = max_side / max(w, h)
                    frame = frame.reformat(width=max(2, round(w * scale)), height=max(2, round(h * scale)))
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(t)
                while next_t <= t + 1e-6:
                    next_t += step
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except (av.FFmpegError, ValueError) as e:
            raise MediaError(f"{path}: video stream is corrupt and cannot be decoded ({_reason(e)})") from None
    if not frames:
        raise MediaError(f"{path}: video stream has no frames")
    return np.stack(frames), np.asarray(times, dtype=np.float64)
