import csv
import importlib.resources

import numpy as np
import pytest

from acoustemo.corpora.labels import CUE_LABELS, EMOTION_LABELS, check_labels, cue_labels, draw_labels, lexicon_words


def _format_csv_words() -> set[str]:
    """Independent reading of format.csv: names and their comma-separated surface forms."""
    path = importlib.resources.files("acoustemo") / "resources" / "emotion_wheel" / "format.csv"
    words = set()
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            words.add(row["name"].strip().lower())
            words.update(w.strip().lower() for w in row["format"].split(",") if w.strip())
    return words


@pytest.mark.parametrize("group", list(CUE_LABELS.values()) + list(EMOTION_LABELS.values()))
def test_every_label_is_a_lexicon_word(group):
    words = _format_csv_words()
    assert all(label in words for label in group), [g for g in group if g not in words]
    check_labels(group)


def test_check_labels_rejects_words_outside_the_lexicon():
    assert "neutral" not in lexicon_words()  # why controls are labelled "calm"
    with pytest.raises(ValueError, match="neutral"):
        check_labels(["calm", "neutral"])


def test_draw_labels_head_word_first_distinct_and_seeded():
    group = CUE_LABELS["tremor"]
    a = [draw_labels(group, np.random.default_rng(i)) for i in range(20)]
    b = [draw_labels(group, np.random.default_rng(i)) for i in range(20)]
    assert a == b
    for labels in a:
        assert labels[0] == "anxious" and 2 <= len(labels) <= 3 and len(set(labels)) == len(labels)
        assert set(labels) <= set(group)
    assert len({tuple(x) for x in a}) > 3  # synonyms vary across dialogues
    assert cue_labels("control", np.random.default_rng(0))[0] == "calm"
