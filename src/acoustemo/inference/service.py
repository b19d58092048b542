"""A loaded :class:`~acoustemo.inference.predictor.Predictor` answering requests, with the limits a server needs:
the upload's size and length, one request at a time, and the files of each result (``acoustemo serve``)."""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import AcoustemoError, InputError

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
                 out_dir: str | Path | None = None):
        if max_mb <= 0 or max_seconds <= 0:
            raise InputError(f"max_mb={max_mb}, max_seconds={max_seconds}: limits must be positive")
        self.predictor, self.max_mb, self.max_seconds, self.explain = predictor, max_mb, max_seconds, explain
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="acoustemo-serve-"))
        self._lock = threading.Lock()
        self._count = 0

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
        from .explain import plot_explanation
        from ..io import atomic_write_text

        path = self.check(path)
        with self._lock:
            self._count += 1
            folder = self.out_dir / f"{self._count:05d}"
            prediction = self.predictor(path, explain=self.explain)
            folder.mkdir(parents=True, exist_ok=True)
            if prediction.explanation is not None:
                prediction.figure = str(plot_explanation(path, prediction.utterances, prediction.emotions,
                                                         prediction.explanation, folder / "evidence.png"))
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
