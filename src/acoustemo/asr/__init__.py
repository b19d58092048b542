"""Timestamped transcription (faster-whisper) into :class:`acoustemo.utterance.Utterance` objects."""

from .transcribe import NoSpeechWarning, Transcriber, Transcript, Word

__all__ = ["NoSpeechWarning", "Transcriber", "Transcript", "Word"]
