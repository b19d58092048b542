"""Cutting timed words into utterances: punctuation, pauses, Whisper's segment ends, never inside a word."""

import pytest

from acoustemo.asr.segment import TimedWord, ends_sentence, split_words, utterance_text


def words(spec: str) -> list[TimedWord]:
    """``"Hello 0.0-0.4 there. 0.5-0.9"``: each word followed by its start-end."""
    items = spec.split()
    out = []
    for w, t in zip(items[::2], items[1::2]):
        a, b = t.split("-")
        out.append(TimedWord(float(a), float(b), w))
    return out


def texts(groups) -> list[str]:
    return [utterance_text(g) for g in groups]


def test_sentence_final_punctuation_cuts_even_without_a_pause():
    ws = words("I 0.0-0.1 left. 0.1-0.4 Fine, 0.45-0.7 whatever! 0.7-1.0 Really? 1.0-1.3 Yes 1.3-1.5")
    assert texts(split_words(ws, min_gap=None)) == ["I left.", "Fine, whatever!", "Really?", "Yes"]


def test_a_pause_cuts_a_sentence_without_punctuation():
    ws = words("kids 0.0-0.3 are 0.3-0.5 talking 0.5-0.9 dogs 1.6-1.9 are 1.9-2.0 sitting 2.0-2.4")
    assert texts(split_words(ws, min_gap=0.3)) == ["kids are talking", "dogs are sitting"]
    assert texts(split_words(ws, min_gap=1.0)) == ["kids are talking dogs are sitting"]  # the gap is 0.7 s


def test_a_short_pause_inside_a_sentence_does_not_cut():
    ws = words("I 0.0-0.2 think, 0.2-0.5 well, 0.7-0.9 maybe. 0.9-1.3")
    assert texts(split_words(ws, min_gap=0.3)) == ["I think, well, maybe."]


def test_no_punctuation_and_no_pause_is_one_utterance_and_whisper_segment_ends_always_cut():
    ws = words("one 0.0-0.3 two 0.3-0.6 three 0.6-0.9 four 0.9-1.2")
    assert texts(split_words(ws)) == ["one two three four"]
    assert texts(split_words(ws, segment_ends={1})) == ["one two", "three four"]


def test_abbreviations_and_closing_quotes():
    assert not ends_sentence("Mr.") and not ends_sentence("e.g.")
    assert ends_sentence('door."') and ends_sentence("door.)")
    ws = words("Mr. 0.0-0.2 Smith 0.2-0.5 left. 0.5-0.8 Bye 0.9-1.0")
    assert texts(split_words(ws)) == ["Mr. Smith left.", "Bye"]


def test_every_word_lands_in_exactly_one_utterance_in_order():
    ws = words("a. 0.0-0.1 b 0.5-0.6 c? 0.6-0.7 d 1.5-1.6")
    groups = split_words(ws, min_gap=0.3)
    assert [w for g in groups for w in g] == ws and all(groups)
    with pytest.raises(ValueError, match="min_gap"):
        split_words(ws, min_gap=-1)
    assert split_words([]) == []


def test_words_go_to_the_span_holding_their_middle_and_a_word_in_a_pause_finishes_its_sentence():
    from acoustemo.asr.segment import words_in_spans

    spans = [(0.0, 1.0), (1.5, 1.6), (2.0, 3.0)]  # span 1 gets no word
    words = [TimedWord(0.1, 0.4, "Kids"), TimedWord(0.5, 0.9, "talk"),  # inside span 0
             TimedWord(1.75, 1.85, "loudly."),  # in the pause: the sentence of span 0 had not ended
             TimedWord(1.86, 1.9, "Dogs"),  # in the pause after a sentence end: begins the next span
             TimedWord(2.1, 2.6, "bark."), TimedWord(5.0, 5.2, "Late")]  # inside span 2; after every span: the last
    groups = words_in_spans(words, spans)
    assert [(k, [w.word for w in g]) for k, g in groups] == [(0, ["Kids", "talk", "loudly."]),
                                                             (2, ["Dogs", "bark.", "Late"])]
    early = words_in_spans([TimedWord(-0.5, -0.2, "Oh,"), TimedWord(0.1, 0.2, "well")], spans)
    assert [(k, len(g)) for k, g in early] == [(0, 2)]  # before the first span: it begins the first
    assert words_in_spans(words, []) == [] and words_in_spans([], spans) == []


def test_spans_are_joined_where_the_sentence_goes_on_across_the_pause():
    from acoustemo.asr.segment import join_unfinished

    spans = [(0.0, 1.0), (1.3, 2.0), (2.5, 3.0), (3.4, 4.0)]
    groups = [(0, [TimedWord(0.1, 0.9, "Kids are talking")]),  # no sentence end: the pause is inside it
              (1, [TimedWord(1.4, 1.9, "by the door.")]),
              (2, [TimedWord(2.6, 2.9, "Dogs bark")]),  # unfinished too, but the next begins with a capital
              (3, [TimedWord(3.5, 3.9, "Kids play.")])]

    def cut(rule):
        return [(bounds, " ".join(w.word for w in ws)) for bounds, ws in join_unfinished(groups, spans, rule)]

    assert cut("none") == [(spans[k], ws[0].word) for k, ws in groups]
    assert cut("unfinished") == [((0.0, 2.0), "Kids are talking by the door."), ((2.5, 4.0), "Dogs bark Kids play.")]
    assert cut("continued") == [((0.0, 2.0), "Kids are talking by the door."), ((2.5, 3.0), "Dogs bark"),
                                ((3.4, 4.0), "Kids play.")]
    assert join_unfinished([], spans) == []
    with pytest.raises(ValueError, match="vad join must be one of"):
        join_unfinished(groups, spans, "always")
