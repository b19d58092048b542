"""Audio that arrives over time, as 16 kHz mono float32 chunks (what ``acoustemo stream`` listens to).

* :func:`decoded_chunks` -- a media file, a URL FFmpeg opens (rtsp, http, udp, srt, ...) or a binary stream in
  any container FFmpeg reads (standard input), decoded incrementally with PyAV;
* :func:`pcm_chunks` -- raw signed 16-bit little-endian PCM on a binary stream (``--pcm RATE``);
* :func:`microphone_chunks` -- the default input device, through ``sounddevice`` (PortAudio);
* :func:`paced` -- any of them no faster than real time (a file played at its own pace).

Every chunk is ``(n,)`` float32 in [-1, 1]; nothing is kept once yielded, so a source of any length runs in
bounded memory. A source that cannot be opened or decoded raises :class:`~acoustemo.media.MediaError` naming it.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterable, Iterator

import av
import numpy as np

from .decode import SAMPLE_RATE, MediaError, _check_file, _reason

DEFAULT_CHUNK_SECONDS = 0.25


def is_url(source: str) -> bool:
    return "://" in source


def _rechunk(pieces: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """``pieces`` of any length as chunks of exactly ``size`` samples (the last one shorter)."""
    pending, n = [], 0
    for p in pieces:
        pending.append(p)
        n += len(p)
        if n >= size:
            buf = np.concatenate(pending)
            cut = len(buf) - len(buf) % size
            for i in range(0, cut, size):
                yield buf[i:i + size]
            pending, n = [buf[cut:]], len(buf) - cut
    if n:
        yield np.concatenate(pending)


def decoded_chunks(source, *, chunk_seconds: float = DEFAULT_CHUNK_SECONDS, name: str | None = None,
                   sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """The first audio stream of ``source`` (a path, a URL, or a binary file object such as ``sys.stdin.buffer``)
    decoded as it is read. The source is opened here, so one that cannot be fails at once."""
    name = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<stream>")
    if isinstance(source, (str, os.PathLike)) and not is_url(str(source)):
        source = str(_check_file(source))
    try:
        container = av.open(source, metadata_errors="ignore", timeout=10.0 if isinstance(source, str) else None)
    except (av.FFmpegError, OSError) as e:
        raise MediaError(f"{name}: cannot be opened as audio or video ({_reason(e)})") from None
    if not container.streams.audio:
        container.close()
        raise MediaError(f"{name}: no audio stream")
    return _decode(container, name, max(1, round(chunk_seconds * sample_rate)), sample_rate)


def _decode(container, name: str, size: int, sample_rate: int) -> Iterator[np.ndarray]:
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="fltp", rate=sample_rate)

    def pieces():
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().mean(axis=0).astype(np.float32)
            for out in resampler.resample(None):
                yield out.to_ndarray().mean(axis=0).astype(np.float32)
        except (av.FFmpegError, ValueError) as e:
            raise MediaError(f"{name}: audio stream is corrupt and cannot be decoded ({_reason(e)})") from None

    with container:
        for chunk in _rechunk(pieces(), size):
            yield np.clip(chunk, -1.0, 1.0)


def as_mono_float(data) -> np.ndarray:
    """Samples as ``(n,)`` float32 in [-1, 1]: channels (last axis of a 2-D array) averaged, integers scaled by
    their type's range (int16 by 32768)."""
    x = np.asarray(data)
    scale = float(np.iinfo(x.dtype).max + 1) if np.issubdtype(x.dtype, np.integer) else 1.0
    if x.ndim == 2:
        x = x.mean(axis=1)
    return (x.astype(np.float32) / scale).astype(np.float32, copy=False)


class MonoResampler:
    """Mono float32 chunks at ``rate`` Hz to ``sample_rate`` Hz, chunk by chunk (FFmpeg's libswresample keeps its
    state across chunks, so their joins add nothing); at the same rate the chunks pass unchanged."""

    def __init__(self, rate: int, sample_rate: int = SAMPLE_RATE):
        self.rate = rate
        self._resampler = (av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
                           if rate != sample_rate else None)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._resampler is None:
            return x
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x, dtype=np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = self.rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def pcm_chunks(stream, rate: int, *, chunk_seconds: float = DEFAULT_CHUNK_SECONDS, name: str = "<stdin>",
               sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Mono s16le PCM at ``rate`` Hz read from the binary ``stream`` until it ends, resampled to ``sample_rate``."""
    if rate <= 0:
        raise MediaError(f"{name}: PCM sample rate must be positive, got {rate}")
    resample = MonoResampler(rate, sample_rate)
    step = 2 * max(1, round(chunk_seconds * rate))
    carry = b""
    while True:
        data = stream.read(step)
        if not data:
            break
        data = carry + data
        carry = data[len(data) - len(data) % 2:]
        data = data[:len(data) - len(data) % 2]
        if not data:
            continue
        out = resample(as_mono_float(np.frombuffer(data, dtype="<i2")))
        if len(out):
            yield out


def microphone_chunks(*, chunk_seconds: float = DEFAULT_CHUNK_SECONDS, device=None,
                      sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """The microphone (``device``: a sounddevice device name or index; default the system's input) until the
    consumer stops; needs the ``sounddevice`` package and PortAudio. The device is opened here."""
    try:
        import sounddevice
    except (ImportError, OSError) as e:  # OSError: the package is there, PortAudio is not
        raise MediaError(f"--mic: no microphone access here ({one_reason(e)}); install PortAudio and "
                         "'pip install sounddevice', or stream a file, a URL or standard input") from None
    chunks: queue.Queue = queue.Queue()
    try:
        stream = sounddevice.InputStream(samplerate=sample_rate, channels=1, dtype="float32",
                                         blocksize=max(1, round(chunk_seconds * sample_rate)), device=device,
                                         callback=lambda data, *_: chunks.put(data[:, 0].copy()))
    except Exception as e:  # PortAudioError, ValueError for a bad device
        raise MediaError(f"--mic: cannot open the input device ({one_reason(e)})") from None
    return _listen(stream, chunks)


def _listen(stream, chunks: queue.Queue) -> Iterator[np.ndarray]:
    with stream:
        while True:
            yield chunks.get()


def one_reason(e: Exception) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def paced(chunks: Iterable[np.ndarray], sample_rate: int = SAMPLE_RATE, clock=time.monotonic,
          sleep=time.sleep) -> Iterator[np.ndarray]:
    """``chunks`` handed on no sooner than their audio would have been spoken (a file played in real time)."""
    start, played = clock(), 0
    for chunk in chunks:
        played += len(chunk)
        wait = start + played / sample_rate - clock()
        if wait > 0:
            sleep(wait)
        yield chunk
