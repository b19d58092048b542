from acoustemo.metrics.primary import (CUE_CATEGORIES, EMOTION_CATEGORIES, category_of_labels, emotion_category,
                                       primary_accuracy, primary_hit)


def test_categories_merge_neutral_and_calm_and_follow_the_corpus_synonyms():
    assert EMOTION_CATEGORIES["neutral"] >= {"calm", "relaxed", "composed"}
    assert "calm" not in EMOTION_CATEGORIES and emotion_category("calm") == "neutral"
    assert emotion_category("anger") == "angry" and "furious" in EMOTION_CATEGORIES["angry"]
    assert category_of_labels(["relaxed", "calm"], EMOTION_CATEGORIES) == "neutral"
    assert category_of_labels(["anxious", "nervous"], CUE_CATEGORIES) == "tremor"
    assert category_of_labels(["wistful"], EMOTION_CATEGORIES) is None and category_of_labels([], CUE_CATEGORIES) is None


def test_only_the_first_predicted_label_counts():
    assert primary_hit("angry", ["furious", "sad"], EMOTION_CATEGORIES)
    assert not primary_hit("angry", ["sad", "furious"], EMOTION_CATEGORIES)
    assert not primary_hit("angry", [], EMOTION_CATEGORIES)
    gold = {"a": "angry", "b": "neutral", "c": "sad", "d": "happy"}
    pred = {"a": ["Annoyed"], "b": ["serene", "happy"], "c": ["happy"]}  # d: no prediction counts as wrong
    assert primary_accuracy(gold, pred, EMOTION_CATEGORIES) == 50.0
