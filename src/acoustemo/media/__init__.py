"""Decoding media files: audio to 16 kHz mono float32, video to frames at a chosen rate (PyAV)."""

from .decode import SAMPLE_RATE, MediaError, MediaInfo, MediaWarning, load_audio, load_frames, probe

__all__ = ["SAMPLE_RATE", "MediaError", "MediaInfo", "MediaWarning", "load_audio", "load_frames", "probe"]
