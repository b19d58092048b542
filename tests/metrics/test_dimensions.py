"""Valence and arousal derived from label words through the Warriner et al. (2013) norms."""

import pytest

from acoustemo.metrics.categories import CUE_LABELS, EMOTION_LABELS
from acoustemo.metrics.dimensions import norms, valence_arousal


def test_the_norms_hold_the_corpora_words_on_their_own_scale():
    table = norms()
    assert table["calm"] == (6.89, 1.67) and table["angry"] == (2.53, 6.2)  # Warriner et al.'s V/A.Mean.Sum
    vocabulary = {w for group in [*CUE_LABELS.values(), *EMOTION_LABELS.values()] for w in group}
    assert set(table) <= vocabulary and len(table) == 49
    assert all(1.0 <= v <= 9.0 and 1.0 <= a <= 9.0 for v, a in table.values())


def test_a_list_is_the_mean_of_its_known_words_on_minus_one_to_one():
    v, a = valence_arousal(["Sad", "unhappy", "irritated"])  # irritated: not a lemma of the norms
    assert v == pytest.approx(((2.1 + 1.84) / 2 - 5) / 4, abs=1e-3)
    assert a == pytest.approx(((3.49 + 5.1) / 2 - 5) / 4, abs=1e-3)
    assert valence_arousal(["irritated"]) is None and valence_arousal([]) is None


def test_the_circumplex_reads_as_expected():
    """Pleasant above unpleasant, aroused above calm: the quadrants of the emotions the corpora act."""
    happy, sad = valence_arousal(["happy"]), valence_arousal(["sad"])
    angry, calm = valence_arousal(["angry"]), valence_arousal(["calm"])
    assert happy[0] > 0 > sad[0] and angry[1] > 0 > calm[1] and angry[0] < 0 < calm[0]
