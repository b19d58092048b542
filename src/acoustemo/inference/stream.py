"""Live labelling: each utterance of an audio stream labelled as soon as it ends (what ``acoustemo stream`` runs).

Two parts, each usable on its own:

* :class:`Endpointer` finds where speech ends in audio that arrives chunk by chunk, with the Silero VAD that
  faster-whisper ships: a stretch of speech is an utterance once ``min_silence`` seconds of silence follow it
  (or once it reaches ``max_utterance`` seconds). It keeps only the audio not yet given out, so its memory is
  bounded by ``max_utterance``.
* :class:`StreamLabeler` turns each :class:`SpeechSegment` into a :class:`StreamedUtterance`: its transcription
  (Whisper, while the frozen encoder computes its frames), and the model's answer for it with the dialogue so far
  as context: the last ``context`` utterances' frames back to back (each segment keeps ``speech_pad`` of silence
  on either side; longer pauses are not kept), their texts and times in the prompt, and the global Q-Former over
  all of them. The newest utterance's own labels (from a model that answers per utterance; the clip's list
  otherwise) are the line's ``labels``; the answer for the whole window is its ``context_labels``.

A model trained with speaker-relative acoustics (``model.speaker_normalization``) reads the frames against the
voice's running baseline: the statistics of every frame heard so far, updated online, seeded with
``Predictor.set_speaker_baseline`` files where given. With ``speaker`` the running baseline is used once it
holds ``baseline_seconds`` of audio (before that, the frames as they are: a voice heard for one utterance has
that utterance's emotion in its mean); with ``recording`` from the first utterance, as the batch path does.

    predictor = Predictor(pretrained_path())
    endpointer, labeler = Endpointer(), StreamLabeler(predictor)
    for chunk in decoded_chunks("talk.wav"):
        endpointer.push(chunk)
        for segment in endpointer.ready():
            print(labeler(segment).to_json())
    for segment in endpointer.flush():
        ...

:func:`label_stream` runs both over a source of chunks, reading the source in a thread of its own so that
the answers never hold it up (a live source's backlog shows as lag instead).

The stream is taken to be one voice: a conversation between several people shares one running baseline.
``baseline_window`` makes the baseline forget: it holds only the last that many seconds of speech, so that it
follows a change of voice, at the cost of a noisier estimate for one voice.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from ..asr.segment import DEFAULT_VAD_SILENCE
from ..errors import InputError
from ..media import SAMPLE_RATE
from ..utterance import Utterance

DEFAULT_CONTEXT = 3  # utterances of the dialogue so far in each answer, the newest included (docs/performance.md: 6
# gave the same first labels on the validation dialogues, 0.25 s later)
DEFAULT_MIN_SILENCE = DEFAULT_VAD_SILENCE  # seconds (benchmarks/utterance_split.py, validation; docs/features.md)


@dataclass
class SpeechSegment:
    start: float  # seconds from the start of the stream: where the VAD hears the speech begin
    end: float  # ... and end
    audio: np.ndarray  # (n,) float32 at 16 kHz: the speech with ``speech_pad`` of audio either side
    arrived: float  # clock time at which the stream delivered the segment's last sample
    audio_start: float = 0.0  # seconds from the start of the stream of ``audio``'s first sample


class Endpointer:
    """Silero VAD (faster-whisper's) over audio pushed chunk by chunk; :meth:`ready` gives the finished segments.

    Args:
        min_silence: seconds of silence that end an utterance (shorter pauses stay inside it). The default,
            0.2, cut the validation dialogues best (``benchmarks/utterance_split.py --split validation``).
        speech_pad: seconds of audio kept on either side of the detected speech.
        min_speech: speech shorter than this many seconds is dropped (clicks, breaths).
        max_utterance: an utterance still going on after this many seconds is cut (at a pause of 100 ms where
            one exists); it bounds the memory and the lag of one line.
        threshold: Silero's speech probability threshold.
    """

    def __init__(self, *, min_silence: float = DEFAULT_MIN_SILENCE, speech_pad: float = 0.1, min_speech: float = 0.25,
                 max_utterance: float = 15.0, threshold: float = 0.5, sample_rate: int = SAMPLE_RATE,
                 clock=time.monotonic):
        from faster_whisper.vad import VadOptions

        for name, value in (("min_silence", min_silence), ("speech_pad", speech_pad), ("min_speech", min_speech)):
            if not value >= 0:
                raise InputError(f"{name} must be >= 0 seconds, got {value}")
        if not max_utterance > 2 * speech_pad + min_speech:
            raise InputError(f"max_utterance={max_utterance} s leaves no room for speech")
        self.options = VadOptions(threshold=threshold, min_speech_duration_ms=round(1000 * min_speech),
                                  max_speech_duration_s=max_utterance - 2 * speech_pad,
                                  min_silence_duration_ms=round(1000 * min_silence),
                                  speech_pad_ms=round(1000 * speech_pad))
        self.sample_rate, self.clock = sample_rate, clock
        self._pad, self._silence = round(speech_pad * sample_rate), round(min_silence * sample_rate)
        self._keep = round(max(0.5, 2 * speech_pad) * sample_rate)  # audio kept while nothing is heard
        self._pieces: list[np.ndarray] = []
        self._buffer = np.zeros(0, dtype=np.float32)
        self.offset = 0  # samples of the stream before the buffer's first
        self._arrivals: deque = deque()  # (stream sample after the chunk, clock time it came)

    @property
    def seconds(self) -> float:
        """Seconds of audio pushed so far."""
        return (self.offset + len(self._buffer) + sum(map(len, self._pieces))) / self.sample_rate

    def push(self, chunk: np.ndarray, arrived: float | None = None) -> None:
        """Append ``chunk`` (float32 at 16 kHz); ``arrived``: when the source delivered it (default now)."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if not len(chunk):
            return
        self._pieces.append(chunk)
        self._arrivals.append((round(self.seconds * self.sample_rate), self.clock() if arrived is None else arrived))

    def ready(self) -> list[SpeechSegment]:
        """The utterances that have ended since the last call, oldest first."""
        return self._segments(final=False)

    def flush(self) -> list[SpeechSegment]:
        """At the end of the stream: whatever speech remains, ended or not."""
        out = self._segments(final=True)
        self._buffer, self.offset = np.zeros(0, dtype=np.float32), round(self.seconds * self.sample_rate)
        self._arrivals.clear()
        return out

    def _segments(self, final: bool) -> list[SpeechSegment]:
        from faster_whisper.vad import get_speech_timestamps

        if self._pieces:
            self._buffer = np.concatenate([self._buffer, *self._pieces])
            self._pieces = []
        buf = self._buffer
        if not len(buf):
            return []
        spans = get_speech_timestamps(buf, self.options, sampling_rate=self.sample_rate)
        out, done = [], None
        for i, span in enumerate(spans):
            closed = final or i < len(spans) - 1 or span["end"] - self._pad + self._silence <= len(buf)
            if not closed:
                break
            start, end = int(span["start"]), int(span["end"])
            a, b = (self.offset + start) / self.sample_rate, (self.offset + end) / self.sample_rate
            pad = min(self._pad / self.sample_rate, (b - a) / 2)  # the VAD's pad taken back off: its speech edges
            out.append(SpeechSegment(round(a + pad, 4), round(b - pad, 4), buf[start:end].copy(),
                                     self._arrival(self.offset + end), a))
            done = end
        if done is not None:
            cut = done
        elif spans:  # speech going on: keep it all
            cut = max(0, int(spans[0]["start"]) - self._pad)
        else:  # nothing heard: keep a little for the onset of what comes
            cut = max(0, len(buf) - self._keep)
        self._buffer, self.offset = buf[cut:], self.offset + cut
        while len(self._arrivals) > 1 and self._arrivals[0][0] <= self.offset:
            self._arrivals.popleft()
        return out

    def _arrival(self, sample: int) -> float:
        for end, when in self._arrivals:
            if end >= sample:
                return when
        return self._arrivals[-1][1] if self._arrivals else self.clock()


@dataclass
class StreamedUtterance:
    index: int  # 0, 1, ... in the stream
    start: float  # seconds from the start of the stream
    end: float
    text: str
    labels: list[str]  # this utterance's own emotions
    context_labels: list[str]  # the model's answer for the dialogue window ending with this utterance
    lag: float  # seconds from the stream delivering the utterance's end to this answer

    def to_json(self) -> dict:
        """The line: ``valence`` and ``arousal`` are derived from the label words (:mod:`acoustemo.metrics.dimensions`;
        null when the norms hold none of them)."""
        from ..metrics.dimensions import valence_arousal_fields

        return {"type": "utterance", "index": self.index, "start": round(self.start, 3), "end": round(self.end, 3),
                "text": self.text, "labels": self.labels, "context_labels": self.context_labels,
                **valence_arousal_fields(self.labels), "lag": round(self.lag, 3)}

    def format(self) -> str:
        from ..metrics.dimensions import valence_arousal

        va = valence_arousal(self.labels)
        dims = f"  v {va[0]:+.2f} a {va[1]:+.2f}" if va else ""
        return (f"  {self.start:7.2f}-{self.end:7.2f} s  {self.text}  [{', '.join(self.labels) or '?'}]{dims}"
                f"  (lag {self.lag:.2f} s)")


@dataclass
class _Heard:
    frames: torch.Tensor  # (L, d) raw encoder frames of the segment
    text: str
    labels: list[str] | None = None  # the labels its line gave (given back to the model as its earlier lines)


class StreamLabeler:
    """A :class:`~acoustemo.inference.predictor.Predictor` answering per :class:`SpeechSegment`, with the last
    ``context`` utterances as the dialogue (see the module docstring)."""

    def __init__(self, predictor, *, context: int = DEFAULT_CONTEXT, baseline_seconds: float = 10.0,
                 baseline_window: float | None = None, clock=time.monotonic):
        """``baseline_window``: the running baseline holds only the last this many seconds of speech (at least the
        newest utterance), so that it follows a change of voice; None (the default): everything heard, the best
        estimate for one voice. Seeded files (``Predictor.set_speaker_baseline``) stay in it either way."""
        from ..data.speakers import SpeakerBaseline

        if context < 1:
            raise InputError(f"context must be at least 1 utterance, got {context}")
        if baseline_window is not None and not baseline_window > 0:
            raise InputError(f"baseline window must be positive seconds, got {baseline_window}")
        self.predictor, self.clock = predictor, clock
        self.history: deque[_Heard] = deque(maxlen=context)
        self.frame_rate = predictor.audio_encoder.frame_rate
        self.mode = predictor.cfg.model.speaker_normalization
        self.baseline = None if self.mode == "none" else SpeakerBaseline.of_model(predictor.model, self.frame_rate)
        self.seed = predictor.speaker_baseline  # FrameStats of the voice's other recordings, or None
        self.voice = self.seed  # FrameStats of the voice so far (None: nothing heard)
        self.window = None if baseline_window is None else baseline_window * self.frame_rate  # frames
        self._recent: deque = deque()  # FrameStats of the utterances in the window, oldest first
        self.baseline_frames = baseline_seconds * self.frame_rate  # heard before the baseline is used (speaker)
        if self.window is not None:
            self.baseline_frames = min(self.baseline_frames, self.window)
        self.count = 0
        self._pool = ThreadPoolExecutor(max_workers=1)
        self.one_pass = predictor.transcribes_with_encoder

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    @torch.no_grad()
    def __call__(self, segment: SpeechSegment) -> StreamedUtterance | None:
        """The segment's line, or None when Whisper hears no words in it (it is then left out of the dialogue,
        as the batch path leaves out speech without words)."""
        from ..data.collate import Example
        from ..data.speakers import FrameStats

        p = self.predictor
        frames, text = self._hear(segment)
        if not text or not len(frames):
            return None
        if self.baseline is not None:
            self.voice = self._heard_voice(FrameStats.of(frames))
        self.history.append(_Heard(frames, text))
        audio = torch.cat([h.frames for h in self.history])
        if self.baseline is not None and (self.mode == "recording" or self.voice.count >= self.baseline_frames):
            audio = self.baseline.normalize(audio, self.voice)
        utterances, t = [], 0.0
        for h in self.history:
            length = len(h.frames) / self.frame_rate
            utterances.append(Utterance(round(t, 3), round(t + length, 3), h.text))
            t += length
        visual = None if p.visual_encoder is None else torch.zeros(1, p.visual_encoder.dim)  # audio: no face
        example = Example(id=f"stream-{self.count}", audio=audio, frame_rate=self.frame_rate, utterances=utterances,
                          visual=visual)
        pred, own = p.answer(example, [h.labels for h in list(self.history)[:-1]])
        labels = list(own[-1]) if own is not None else list(pred.emotions)
        self.history[-1].labels = labels
        line = StreamedUtterance(self.count, segment.start, segment.end, text, labels, list(pred.emotions),
                                 self.clock() - segment.arrived)
        self.count += 1
        return line

    def _heard_voice(self, own):
        """The running baseline once an utterance of statistics ``own`` is heard."""
        from ..data.speakers import pooled

        if self.window is None:
            return own if self.voice is None else self.voice.merge(own)
        self._recent.append(own)
        while len(self._recent) > 1 and sum(s.count for s in self._recent) - self._recent[0].count >= self.window:
            self._recent.popleft()
        recent = pooled(self._recent)
        return recent if self.seed is None else self.seed.merge(recent)

    def _hear(self, segment: SpeechSegment) -> tuple[torch.Tensor, str]:
        """(the segment's raw encoder frames, its words): from one Whisper pass where the audio encoder is the
        transcriber's own model (the default: :meth:`~acoustemo.encoders.whisper.WhisperEncoder.encode_with_text`),
        else Whisper transcribing while the encoder computes the frames."""
        from ..asr.transcribe import NoSpeechWarning

        from .predictor import has_speech

        p = self.predictor
        if self.one_pass and len(segment.audio) <= 30 * SAMPLE_RATE:
            if not has_speech(segment.audio):  # as the transcriber's own VAD filter: Whisper invents words in noise
                return torch.zeros(0, p.audio_encoder.dim), ""
            frames, text, _ = p.audio_encoder.encode_with_text(segment.audio)
            return frames, text
        features = self._pool.submit(p.audio_encoder.encode, segment.audio)
        with warnings.catch_warnings():  # a segment without words is expected here (a cough, a laugh)
            warnings.simplefilter("ignore", NoSpeechWarning)
            heard = p.transcribe(segment.audio, f"stream@{segment.start:.2f}s")
        return features.result(), " ".join(u.text for u in heard).strip()


@dataclass
class StreamResult:
    lines: list[StreamedUtterance]
    seconds: float  # of audio heard
    processing_seconds: float  # from the first chunk asked for to the last line
    interrupted: bool = False  # ended by Ctrl-C (the speech heard until then was still labelled)
    error: Exception | None = None  # the source broke (the speech heard until then was still labelled)

    def to_json(self) -> dict:
        out = {"type": "end", "seconds": round(self.seconds, 3), "processing_seconds": round(self.processing_seconds, 3),
               "utterances": [{k: v for k, v in line.to_json().items() if k != "type"} for line in self.lines],
               "context_labels": self.lines[-1].context_labels if self.lines else []}
        if self.error is not None:
            out["error"] = str(self.error).splitlines()[0] if str(self.error) else type(self.error).__name__
        return out


_END = object()


def _read(chunks, out: queue.Queue) -> None:
    """The source's chunks into ``out`` with the time each came."""
    try:
        for chunk in chunks:
            out.put((chunk, time.monotonic()))
        out.put((_END, None))
    except BaseException as e:  # noqa: BLE001 -- handed to the consumer, which raises it
        out.put((e, None))


def label_stream(chunks: Iterable[np.ndarray], labeler: StreamLabeler, endpointer: Endpointer | None = None, *,
                 live: bool = False, on_line: Callable[[StreamedUtterance], None] | None = None) -> StreamResult:
    """Every utterance of ``chunks`` (float32 at 16 kHz) labelled as it ends; ``on_line`` gets each line at once.

    ``live``: the source delivers at its own pace (a microphone, a URL, a paced file) and is never held up; otherwise
    it is read at most 30 s of audio ahead of the answers, so a long file runs in bounded memory. A source that
    breaks (raises) ends the stream as its end would: the utterance it cut is labelled with what was heard, and the
    result holds the error."""
    endpointer = endpointer or Endpointer()
    incoming: queue.Queue = queue.Queue(maxsize=0 if live else 120)
    threading.Thread(target=_read, args=(chunks, incoming), daemon=True).start()
    lines: list[StreamedUtterance] = []
    started, interrupted, error = time.monotonic(), False, None

    def answer(segments):
        for segment in segments:
            line = labeler(segment)
            if line is not None:
                lines.append(line)
                if on_line is not None:
                    on_line(line)

    try:
        ended = False
        while not ended:
            item, arrived = incoming.get()
            while True:  # everything that has come since, in one pass of the VAD
                if item is _END:
                    ended = True
                    break
                if isinstance(item, KeyboardInterrupt):
                    raise item
                if isinstance(item, Exception):
                    error, ended = item, True
                    break
                endpointer.push(item, arrived)
                try:
                    item, arrived = incoming.get_nowait()
                except queue.Empty:
                    break
            answer(endpointer.ready())
        answer(endpointer.flush())
    except KeyboardInterrupt:
        interrupted = True
        answer(endpointer.flush())
    return StreamResult(lines, endpointer.seconds, time.monotonic() - started, interrupted, error)
