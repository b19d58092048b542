"""Timestamped transcription (faster-whisper) into :class:`acoustemo.data.manifest.Utterance` objects."""

from .transcribe import NoSpeechWarning, Transcriber, Transcript, Word

__all__ = ["NoSpeechWarning", "Transcriber", "Transcript", "Word"]
