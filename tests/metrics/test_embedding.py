"""Synonym groups from embeddings: a toy embedder by hand, and the packaged model on real words."""

import math

import pytest

from acoustemo.metrics.embedding import (
    DEFAULT_THRESHOLD,
    SentenceEmbedder,
    embedding_groups,
    group_by_similarity,
    pairwise_agreement,
    score_embedding,
)

# 2-d unit vectors: cos(happy, joyful) = 0.9, cos(happy, sad) = 0, cos(joyful, sad) ~ 0.44
VECTORS = {"happy": (1.0, 0.0), "joyful": (0.9, math.sqrt(1 - 0.81)), "sad": (0.0, 1.0), "glad": (0.95, math.sqrt(1 - 0.9025))}


def toy_embed(labels):
    return [VECTORS[x] for x in labels]


def test_group_by_similarity_is_connected_components():
    assert group_by_similarity(["happy", "sad", "joyful"], VECTORS, 0.8) == [["happy", "joyful"], ["sad"]]
    assert group_by_similarity(["happy", "sad", "joyful"], VECTORS, 0.95) == [["happy"], ["sad"], ["joyful"]]
    # joyful-glad and happy-glad are close: all three chain into one group even though happy-joyful < 0.92
    assert group_by_similarity(["happy", "joyful", "glad"], VECTORS, 0.92) == [["happy", "joyful", "glad"]]


def test_score_embedding_hand_computed():
    gold = {"a": ["happy", "sad"], "b": ["sad"], "c": []}
    pred = {"a": ["Joyful"], "b": [], "c": ["happy"]}
    groups = embedding_groups(gold, pred, threshold=0.8, embed=toy_embed)
    assert groups["a"] == [["happy", "joyful"], ["sad"]]
    # a: gold {happy, sad}, pred {happy} -> 1, 1/2;  b: empty prediction -> 0, 0;  c: empty gold, skipped
    result = score_embedding(gold, pred, threshold=0.8, embed=toy_embed)
    assert (result["accuracy_s"], result["recall_s"], result["avg"]) == pytest.approx((50.0, 25.0, 37.5))
    assert result["num_samples"] == 2
    # above cos(happy, joyful) the prediction no longer matches
    result = score_embedding(gold, pred, threshold=0.95, embed=toy_embed)
    assert (result["accuracy_s"], result["recall_s"]) == pytest.approx((0.0, 0.0))


def test_pairwise_agreement_hand_computed():
    reference = {"s": [["a", "b"], ["c"]], "t": [["x"], ["y"]]}
    candidate = {"s": [["a", "b", "c"]], "t": [["x"], ["y"]]}
    # pairs: ab (same, same), ac (diff, same), bc (diff, same), xy (diff, diff)
    result = pairwise_agreement(reference, candidate)
    assert result["pairs"] == 4
    assert result["precision"] == pytest.approx(100 / 3)
    assert result["recall"] == pytest.approx(100.0)
    assert result["f1"] == pytest.approx(50.0)


@pytest.mark.slow
def test_packaged_model_groups_synonyms_not_opposites():
    embed = SentenceEmbedder()
    vectors = embed(["happy", "joyful", "sad"])
    assert len(vectors) == 3 and len(vectors[0]) == 384
    assert sum(v * v for v in vectors[0]) == pytest.approx(1.0, abs=1e-4)
    groups = group_by_similarity(["happy", "joyful", "sad"], dict(zip(["happy", "joyful", "sad"], vectors)), DEFAULT_THRESHOLD)
    assert groups == [["happy", "joyful"], ["sad"]]
