"""Primary-emotion accuracy: is the first label of an answer in the gold emotion's category?

Open-vocabulary scores credit every label of a list; users of a classifier ask a simpler question: is the
*first* word right? A category is a synonym group of the corpus builders (:mod:`acoustemo.metrics.categories`):
RAVDESS / EmoDB emotions (``angry`` = angry, furious, irritated, annoyed; neutral and calm count as one,
``neutral``), or a synthetic cue's group (``tremor`` = anxious, nervous, worried, ...). A predicted word
outside every group of the gold category counts as wrong.

    primary_accuracy({"d1": "angry"}, {"d1": ["furious", "tense"]}, EMOTION_CATEGORIES)  # 100.0
"""

from __future__ import annotations

from .categories import CUE_LABELS, EMOTION_LABELS

_MERGE = {"calm": "neutral", "happiness": "happy", "sadness": "sad", "anger": "angry", "fear": "fearful",
          "boredom": "bored"}


def _emotion_categories() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for emotion, group in EMOTION_LABELS.items():
        out.setdefault(_MERGE.get(emotion, emotion), set()).update(group)
    return {k: frozenset(v) for k, v in out.items()}


# category -> its words: acted emotions (neutral + calm merged) and synthetic cues
EMOTION_CATEGORIES: dict[str, frozenset[str]] = _emotion_categories()
CUE_CATEGORIES: dict[str, frozenset[str]] = {cue: frozenset(group) for cue, group in CUE_LABELS.items()}


def emotion_category(emotion: str) -> str:
    """The category of an acted emotion name (RAVDESS / EmoDB ``emotion`` column): calm -> neutral, ..."""
    return _MERGE.get(emotion, emotion)


def category_of_labels(labels: list[str], categories: dict[str, frozenset[str]]) -> str | None:
    """The category whose group holds the first label (the corpora's head word comes first), or None."""
    if not labels:
        return None
    hits = [c for c, words in categories.items() if labels[0] in words]
    return hits[0] if hits else None


def primary_hit(gold_category: str, predicted: list[str], categories: dict[str, frozenset[str]]) -> bool:
    """True when the first predicted label is a word of the gold category."""
    return bool(predicted) and predicted[0].strip().lower() in categories.get(gold_category, frozenset())


def primary_accuracy(gold: dict[str, str], pred: dict[str, list[str]],
                     categories: dict[str, frozenset[str]]) -> float:
    """Percentage of samples of ``gold`` (``{name: category}``) whose first predicted label is in that category;
    a sample without a prediction counts as wrong."""
    if not gold:
        return float("nan")
    return 100.0 * sum(primary_hit(c, pred.get(name, []), categories) for name, c in gold.items()) / len(gold)
