"""EMER Accuracy_s / Recall_s and the emotion-wheel metrics: hand-computed cases and published numbers."""

from pathlib import Path

import pytest

from acoustemo.metrics import Lexicon, ScoreWarning, Wheel, read_grouping, read_labels, score_grouped, score_wheel
from acoustemo.metrics.scores import wheel_metric_names

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EMER = FIXTURES / "emer"


def test_grouped_hand_computed():
    gold = {"a": ["Happy", "joyful", "sad"], "b": ["angry"], "c": []}
    pred = {"a": ["glad"], "x": ["calm"]}
    groups = {"a": [["happy", "joyful", "glad"], ["sad"]], "b": [["angry"]], "c": []}
    with pytest.warns(ScoreWarning) as record:
        result = score_grouped(gold, pred, groups)
    messages = [str(w.message) for w in record]
    # one warning for the missing predictions (b and c), one for the extra name x
    assert any(m.startswith("2 of 3 gold samples have no prediction") for m in messages)
    assert any(m.startswith("1 predicted samples are not in the gold") for m in messages)
    # a: gold {happy, sad}, pred {happy} -> 1, 1/2;  b: empty prediction -> 0, 0;  c: empty gold, skipped
    assert result["accuracy_s"] == pytest.approx(50.0)
    assert result["recall_s"] == pytest.approx(25.0)
    assert result["avg"] == pytest.approx(37.5)
    assert result["num_samples"] == 2


def test_grouped_labels_outside_groups_are_their_own_group():
    gold = {"a": ["happy", "sad"]}
    pred = {"a": ["sad", "tense", "Happy "]}
    result = score_grouped(gold, pred, {"a": []})
    assert result["accuracy_s"] == pytest.approx(100 * 2 / 3)
    assert result["recall_s"] == pytest.approx(100.0)


def test_grouped_splits_at_apostrophes_only_when_the_grouping_does():
    # the grouping was made from "don't believe" split at the quote: "don" and "t believe"
    groups = {"a": [["t believe", "doubt"], ["don"]]}
    result = score_grouped({"a": ["doubt"]}, {"a": ["don't believe"]}, groups)
    assert (result["accuracy_s"], result["recall_s"]) == pytest.approx((50.0, 100.0))
    # when the grouping knows the whole label, it stays whole
    groups = {"a": [["don't believe", "doubt"]]}
    result = score_grouped({"a": ["doubt"]}, {"a": ["don't believe"]}, groups)
    assert (result["accuracy_s"], result["recall_s"]) == pytest.approx((100.0, 100.0))


def test_grouped_reproduces_published_emer_fine_score():
    gold = read_labels(EMER / "check-openset.csv", gold=True)
    pred = read_labels(EMER / "predict-openset.csv")
    result = score_grouped(gold, pred, read_grouping(EMER / "openset-synonym.json"))
    assert round(result["accuracy_s"], 2) == 58.18
    assert round(result["recall_s"], 2) == 49.78
    assert round(result["avg"], 2) == 53.98
    assert result["num_samples"] == 332


def _tiny_lexicon() -> Lexicon:
    tree = {"joy": {"happy": ["content"]}, "mad": {"angry": ["furious"], "annoyed": ["irritated"]}, "sadness": {"sad": ["lonely"]}}
    return Lexicon(
        surface_to_words={
            "happy": ("happy",), "happiness": ("happy",), "joyful": ("joyful",),
            "sad": ("sad",), "angry": ("angry",), "furious": ("furious",),
        },
        word_to_wheel_words={
            "happy": ("happy",), "joyful": ("happy",), "sad": ("sad",), "angry": ("angry",), "furious": ("angry",),
        },
        wheels=tuple(Wheel(name=f"wheel{i}", tree=tree) for i in range(1, 6)),
    )


def test_wheel_hand_computed():
    lexicon = _tiny_lexicon()
    gold = {"s1": ["Happiness", "sad"], "s2": ["furious"], "s3": ["unknownword"]}
    pred = {"s1": ["happy", "joyful", "xyz"], "s2": [], "s3": ["happy"]}
    result = score_wheel(gold, pred, lexicon, details=True)
    # M1 (lexicon words): s1 gold {happy, sad}, pred {happy, joyful} -> P 1/2, R 1/2; s2 empty pred -> 0, 0;
    # s3 has no gold label in the lexicon -> skipped.  P = R = 1/4, F = 1/4.
    assert result["M1"] == pytest.approx(25.0)
    assert result["details"]["M1"]["num_samples"] == 2
    # M2 (synonym groups): s1 gold {happy, sad}, pred {happy} -> 1, 1/2; s2 -> 0, 0.  P 1/2, R 1/4, F 1/3
    assert result["M2"] == pytest.approx(100 / 3)
    # M3: happy -> joy / happy, sad -> sadness / sad, furious -> mad / angry: same counts as M2
    for name in wheel_metric_names()[2:]:
        assert result[name] == pytest.approx(100 / 3)
    assert result["M-avg"] == pytest.approx((25.0 + 11 * 100 / 3) / 12)
    assert result["num_samples"] == 3


def test_wheel_fscore_uses_averaged_precision_and_recall():
    lexicon = _tiny_lexicon()
    # s1: P 1, R 1/2;  s2: P 1/2, R 1  ->  P = R = 3/4, F = 3/4 (a mean of per-sample F would give 2/3)
    gold = {"s1": ["happy", "sad"], "s2": ["angry"]}
    pred = {"s1": ["happy"], "s2": ["angry", "sad"]}
    assert score_wheel(gold, pred, lexicon)["M1"] == pytest.approx(75.0)


def test_wheel_level2_of_a_level1_word_is_its_first_child():
    wheel = _tiny_lexicon().wheels[0]
    assert wheel.level2["mad"] == "angry"  # min("angry", "annoyed")
    assert wheel.level1["irritated"] == "mad" and wheel.level2["irritated"] == "annoyed"


@pytest.mark.parametrize("model, published", [("Chat-UniVi", 46.75), ("SALMONN", 43.53), ("Qwen-Audio", 31.84)])
def test_wheel_reproduces_published_ovmer_m_avg(model, published):
    gold = read_labels(EMER / "check-openset.csv", gold=True)
    pred = read_labels(FIXTURES / "ovmer" / model / "nosubtitle-addsub.csv")
    result = score_wheel(gold, pred)
    assert set(result) == set(wheel_metric_names()) | {"M-avg", "num_samples"}
    assert abs(result["M-avg"] - published) <= 1.0
