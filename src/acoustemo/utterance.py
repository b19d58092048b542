"""A timed piece of speech: what transcription cuts (:mod:`acoustemo.asr`) and what a manifest stores per utterance
(:mod:`acoustemo.data.manifest`), with the utterance's own emotions where a corpus knows them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Utterance:
    start: float  # seconds from the start of the media
    end: float  # seconds, > start
    text: str = ""
    labels: tuple[str, ...] | None = None  # this utterance's own emotions, where a corpus knows them

    def to_json(self) -> dict:
        d = {"start": self.start, "end": self.end, "text": self.text}
        if self.labels is not None:
            d["labels"] = list(self.labels)
        return d
