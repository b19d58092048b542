"""A loaded :class:`~acoustemo.inference.predictor.Predictor` answering requests, with the limits a server needs:
the upload's size and length, one request at a time, and the files of each result, of which the last
``keep_results`` are kept (``acoustemo serve``).

Every request runs on the service's one worker thread, whichever thread of the web server asked: a model called
from many threads costs memory for each of them (the allocator's per-thread arenas, an OpenMP pool per calling
thread; called from 8 threads in turn it settled about 100 MB higher than from one). With
:func:`limit_malloc_arenas` as well, a server under load stays flat (docs/performance.md, serve under load)."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import AcoustemoError, InputError

MALLOC_ARENAS = 2  # a server's allocator arenas (limit_malloc_arenas)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """At most ``arenas`` glibc malloc arenas in this process, unless ``MALLOC_ARENA_MAX`` already says how many;
    True where the limit was set. A web server hands each request to a thread of its pool, and glibc gives each
    new thread an arena of its own that it keeps: under load the server grew by about 15 MB a request without a
    limit and stayed flat with 2, as fast (docs/performance.md, serve under load). No-op off glibc."""
    import ctypes
    import ctypes.util
    import os

    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
        return False
    return mallopt is not None and bool(mallopt(-8, arenas))  # -8: M_ARENA_MAX in glibc's malloc.h


TIMELINE_HEADERS = ["start (s)", "end (s)", "text", "emotions", "evidence"]


@dataclass
class ServeResult:
    labels: str  # the clip-level emotions, comma-separated
    timeline: list[list]  # one row per utterance, TIMELINE_HEADERS
    figure: str | None  # PNG path
    json_path: str  # the JSON object of the result
    result: dict


class Service:
    """What the page calls, without the page: limits, prediction, and the files of a result.

    ``Service(predictor)(path)`` -> :class:`ServeResult`; a file over the limits or that cannot be decoded
    raises :class:`~acoustemo.errors.InputError` with a one-line message for the user. Calls are serialised
    (one model, one request at a time), whatever the web server does.
    """

    def __init__(self, predictor, *, max_mb: float = 50.0, max_seconds: float = 120.0, explain: bool = True,
                 out_dir: str | Path | None = None, keep_results: int = 256):
        if max_mb <= 0 or max_seconds <= 0:
            raise InputError(f"max_mb={max_mb}, max_seconds={max_seconds}: limits must be positive")
        if keep_results < 1:
            raise InputError(f"keep_results={keep_results}: at least the latest result must be kept")
        self.keep_results = keep_results
        self.predictor, self.max_mb, self.max_seconds, self.explain = predictor, max_mb, max_seconds, explain
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="acoustemo-serve-"))
        self._lock = threading.Lock()
        self._count = 0
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acoustemo-service")

    def _predict(self, path: Path, folder: Path):
        """The prediction and its figure, on the worker thread."""
        from .explain import plot_explanation

        prediction = self.predictor(path, explain=self.explain)
        folder.mkdir(parents=True, exist_ok=True)
        if prediction.explanation is not None:
            prediction.figure = str(plot_explanation(path, prediction.utterances, prediction.emotions,
                                                     prediction.explanation, folder / "evidence.png"))
        return prediction

    def check(self, path: str | Path) -> Path:
        """The limits, before anything is decoded; returns the path."""
        from ..media import probe

        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path.name}: no such file")
        mb = path.stat().st_size / 1e6
        if mb > self.max_mb:
            raise InputError(f"{path.name}: {mb:.1f} MB is above this server's limit of {self.max_mb:g} MB")
        info = probe(path)  # MediaError (an InputError) for a file that is not media
        if not info.has_audio:
            raise InputError(f"{path.name}: no audio track; the model listens to speech")
        if info.duration is not None and info.duration > self.max_seconds:
            raise InputError(f"{path.name}: {info.duration:.1f} s is longer than this server's limit of "
                             f"{self.max_seconds:g} s")
        return path

    def __call__(self, path: str | Path) -> ServeResult:
        """The result for one upload; messages name the file, not where the server keeps it."""
        path = Path(path)
        try:
            return self._run(path)
        except AcoustemoError as e:
            raise InputError(str(e).replace(str(path), path.name)) from None

    def _run(self, path: Path) -> ServeResult:
        from ..io import atomic_write_text

        path = self.check(path)
        with self._lock:
            self._count += 1
            folder = self.out_dir / f"{self._count:05d}"
            prediction = self._worker.submit(self._predict, path, folder).result()
            old = self.out_dir / f"{self._count - self.keep_results:05d}"
            if self._count > self.keep_results and old.is_dir():  # a long-running server's disk stays bounded
                shutil.rmtree(old, ignore_errors=True)
        result = prediction.to_json()
        result["media"] = path.name  # not the server's upload path
        if prediction.figure:
            result["figure"] = "evidence.png"
        json_path = folder / f"{path.stem}.acoustemo.json"
        atomic_write_text(json_path, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        timeline = [[round(u["start"], 2), round(u["end"], 2), u["text"], ", ".join(u.get("labels", [])),
                     round(u["evidence"], 2) if "evidence" in u else None] for u in result["utterances"]]
        return ServeResult(", ".join(prediction.emotions) or "(no emotion named)", timeline, prediction.figure,
                           str(json_path), result)


LIVE_HEADERS = ["start (s)", "end (s)", "text", "emotions", "valence", "arousal", "lag (s)"]


class LiveSessions:
    """The live (microphone) sessions of a :class:`Service`: at most ``max_live`` at once; one more is refused with a
    message. Each session shares the service's model and its one-at-a-time lock."""

    def __init__(self, service: Service, *, max_live: int = 2, context: int | None = None):
        if max_live < 1:
            raise InputError(f"max_live={max_live}: at least one live session")
        self.service, self.max_live, self.context = service, max_live, context
        self.active: set[int] = set()
        self._lock = threading.Lock()
        self._next = 0

    def open(self) -> "LiveSession":
        with self._lock:
            if len(self.active) >= self.max_live:
                raise InputError(f"all {self.max_live} live sessions of this server are in use; try again later, "
                                 "or upload a recording")
            self._next += 1
            self.active.add(self._next)
            return LiveSession(self, self._next)

    def release(self, session: "LiveSession | None") -> None:
        if session is not None:
            with self._lock:
                self.active.discard(session.id)


class LiveSession:
    """One microphone: chunks in (any rate, int16 or float, mono or not), the timeline so far out.

    :meth:`push` only hands the chunk to the session's own thread, which endpoints and labels (under the service's
    lock, one answer at a time for the whole server), so the page's chunk events return at once and no audio waits
    behind an answer."""

    def __init__(self, sessions: LiveSessions, id: int):
        import queue

        from .stream import DEFAULT_CONTEXT, Endpointer, StreamLabeler

        self.sessions, self.id = sessions, id
        self.endpointer = Endpointer()
        self.labeler = StreamLabeler(sessions.service.predictor, context=sessions.context or DEFAULT_CONTEXT)
        self.lines: list = []
        self.shown = 0  # lines the page has been sent
        self.error: Exception | None = None
        self._resample = None  # MonoResampler from the page's rate to 16 kHz
        self._chunks: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, daemon=True, name=f"acoustemo-live-{id}")
        self._worker.start()

    def push(self, rate: int, data) -> None:
        """Add a chunk of the recording (returns at once; its utterances appear in :attr:`lines` when labelled)."""
        from ..media.live import MonoResampler, as_mono_float

        if self.error is not None:
            raise InputError(f"live session stopped: {self.error}")
        if self._resample is None or self._resample.rate != int(rate):
            self._resample = MonoResampler(int(rate))
        self._chunks.put(self._resample(as_mono_float(data)))

    def finish(self, timeout: float | None = 120.0) -> list:
        """The recording stopped: what remains of the speech, labelled; returns every line of the session."""
        self._chunks.put(None)
        self._worker.join(timeout)
        self.labeler.close()
        return list(self.lines)

    def rows(self) -> list[list]:
        from ..metrics.dimensions import valence_arousal_fields

        return [[round(line.start, 2), round(line.end, 2), line.text, ", ".join(line.labels),
                 *valence_arousal_fields(line.labels).values(), round(line.lag, 2)] for line in list(self.lines)]

    def _work(self) -> None:
        try:
            while True:
                chunk = self._chunks.get()
                if chunk is None:
                    self._answer(self.endpointer.flush())
                    return
                self.endpointer.push(chunk)
                if self._chunks.empty():  # everything that came meanwhile in one pass of the VAD
                    self._answer(self.endpointer.ready())
        except Exception as e:  # noqa: BLE001 -- reported by the next push
            self.error = e

    def _answer(self, segments) -> None:
        for segment in segments:
            with self.sessions.service._lock:
                line = self.labeler(segment)
            if line is not None:
                self.lines.append(line)
