"""Open-vocabulary labels for the corpora, drawn from the package's emotion lexicon.

Every label a builder emits is a word of ``resources/emotion_wheel/format.csv`` (a lexicon word or one
of its listed surface forms, as loaded by :mod:`acoustemo.metrics.lexicon`); :func:`check_labels`
enforces it. A cue or an acted emotion maps to a synonym group; a sample's labels are the group's head word
plus a seeded draw of further synonyms, e.g. tremor -> ``["anxious", "nervous", "worried"]``.

The lexicon has no word "neutral": neutral/control material is labelled ``calm`` and its synonyms.
"""

from __future__ import annotations

import numpy as np

from ..metrics.lexicon import load_lexicon

# cue (synthetic manipulation) -> synonym group; the first word is always emitted.
CUE_LABELS: dict[str, tuple[str, ...]] = {
    "control": ("calm", "relaxed", "composed", "at ease"),
    "tremor": ("anxious", "nervous", "worried", "apprehensive", "uneasy", "jittery"),
    "pitch_up": ("excited", "surprised", "astonished", "enthusiastic", "elated"),
    "pitch_down": ("sad", "gloomy", "dejected", "downhearted", "melancholy"),
    "rate_fast": ("impatient", "hurried", "agitated", "restless"),
    "rate_slow": ("tired", "weary", "bored", "drained", "lethargic"),
    "loud_burst": ("angry", "annoyed", "irritated", "furious", "frustrated"),
    "whisper": ("fearful", "afraid", "scared", "cautious", "timid"),
    "breathy": ("tender", "gentle", "affectionate", "vulnerable"),
    # positive words said with flat, slow, low prosody (section 4.6's sarcasm case)
    "sarcasm": ("sarcastic", "ironic", "contemptuous", "disappointed", "annoyed"),
}

# acted emotion of RAVDESS / EmoDB metadata.csv -> synonym group
EMOTION_LABELS: dict[str, tuple[str, ...]] = {
    "neutral": ("calm", "composed", "at ease"),
    "calm": ("calm", "relaxed", "peaceful", "serene"),
    "happy": ("happy", "joyful", "cheerful", "delighted"),
    "happiness": ("happy", "joyful", "cheerful", "delighted"),
    "sad": ("sad", "unhappy", "sorrowful", "gloomy"),
    "sadness": ("sad", "unhappy", "sorrowful", "gloomy"),
    "angry": ("angry", "furious", "irritated", "annoyed"),
    "anger": ("angry", "furious", "irritated", "annoyed"),
    "fearful": ("fearful", "afraid", "scared", "anxious"),
    "fear": ("fearful", "afraid", "scared", "anxious"),
    "disgust": ("disgusted", "repulsed", "revolted"),
    "surprised": ("surprised", "astonished", "amazed", "startled"),
    "boredom": ("bored", "weary", "indifferent", "apathetic"),
}


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
