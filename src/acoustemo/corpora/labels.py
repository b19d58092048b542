"""Open-vocabulary labels for the corpora, drawn from the package's emotion lexicon.

The synonym groups themselves (:data:`CUE_LABELS`, :data:`EMOTION_LABELS`) live in
:mod:`acoustemo.metrics.categories`, beside the primary-emotion metric that scores against them.

Every label a builder emits is a word of ``resources/emotion_wheel/format.csv`` (a lexicon word or one
of its listed surface forms, as loaded by :mod:`acoustemo.metrics.lexicon`); :func:`check_labels`
enforces it. A cue or an acted emotion maps to a synonym group; a sample's labels are the group's head word
plus a seeded draw of further synonyms, e.g. tremor -> ``["anxious", "nervous", "worried"]``.

The lexicon has no word "neutral": neutral/control material is labelled ``calm`` and its synonyms.
"""

from __future__ import annotations

import numpy as np

from ..metrics.categories import CUE_LABELS, EMOTION_LABELS
from ..metrics.lexicon import load_lexicon

__all__ = ["CUE_LABELS", "EMOTION_LABELS", "check_labels", "cue_labels", "draw_labels", "emotion_labels",
           "lexicon_words"]

def lexicon_words() -> frozenset[str]:
    """All words of the emotion lexicon: every lexicon word of ``format.csv`` and its surface forms."""
    return frozenset(load_lexicon().surface_to_words)


def check_labels(labels: list[str] | tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the first label that is not a lexicon word."""
    words = lexicon_words()
    for label in labels:
        if label not in words:
            raise ValueError(f"label {label!r} is not a word of the emotion lexicon (format.csv)")


def draw_labels(group: tuple[str, ...], rng: np.random.Generator, *, min_extra: int = 1,
                max_extra: int = 2) -> list[str]:
    """The group's head word plus ``min_extra..max_extra`` distinct synonyms drawn with ``rng``."""
    n = int(rng.integers(min_extra, max_extra + 1))
    n = min(n, len(group) - 1)
    extra = rng.choice(np.arange(1, len(group)), size=n, replace=False) if n else []
    return [group[0]] + [group[int(i)] for i in sorted(extra)]


def cue_labels(cue: str, rng: np.random.Generator) -> list[str]:
    """Labels of a synthetic dialogue whose target utterance carries ``cue`` (or ``"control"``)."""
    return draw_labels(CUE_LABELS[cue], rng)


def emotion_labels(emotion: str, rng: np.random.Generator) -> list[str]:
    """Labels of an acted emotion (RAVDESS / EmoDB ``emotion`` column value)."""
    return draw_labels(EMOTION_LABELS[emotion], rng)
