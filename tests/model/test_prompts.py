import pytest

from acoustemo.model.prompts import Segment, Slot, build_prompt, format_answer, parse_emotions


@pytest.mark.parametrize(
    "answer, expected",
    [
        (" anxious, nervous", ["anxious", "nervous"]),
        ("['Anxious', 'nervous']", ["anxious", "nervous"]),
        ("Answer: happy; excited and Happy.", ["happy", "excited"]),
        ("worried，tense、sad", ["worried", "tense", "sad"]),
        ("sad\nangry\n", ["sad", "angry"]),
        ("Sad. The speaker sounds tired, and calm.", ["sad"]),
        ("(1)\n\nworried, tense", ["worried", "tense"]),
        ("happy, relieved\nThe speaker smiles and laughs, so", ["happy", "relieved"]),
        ("1. angry, 2. angry, 3. sad", ["angry", "sad"]),
        ("- tense\n- worried", ["tense", "worried"]),
        ("", []),
        ("[]", []),
    ],
)
def test_parse_emotions(answer, expected):
    assert parse_emotions(answer) == expected


def test_answer_round_trips():
    assert parse_emotions(format_answer(["anxious", "nervous"])) == ["anxious", "nervous"]


def test_prompt_states_times_text_and_slots_in_model_order():
    utts = [Segment(0.42, 2.1, "I left the keys."), Segment(2.65, 4.9, "Fine.")]
    pieces = build_prompt(utterances=utts, windows=None, duration=9.84, visual_tokens=2, global_tokens=4,
                          window_tokens=4)
    slots = [p.kind for p in pieces if isinstance(p, Slot)]
    assert slots == ["visual", "global", "utterance", "utterance"]
    text = "".join(p for p in pieces if isinstance(p, str))
    assert '(0.42-2.10 s) "I left the keys."' in text and '(2.65-4.90 s) "Fine."' in text
    assert "(0.00-9.84 s)" in text and text.endswith("Answer:")


def test_fixed_windows_get_their_own_lines_and_utterances_no_slot():
    utts = [Segment(0.5, 3.0, "hello")]
    wins = [Segment(0.0, 2.0), Segment(2.0, 3.3)]
    pieces = build_prompt(utterances=utts, windows=wins, duration=3.3, visual_tokens=0, global_tokens=0,
                          window_tokens=4)
    assert [p.kind for p in pieces if isinstance(p, Slot)] == ["utterance", "utterance"]
    text = "".join(p for p in pieces if isinstance(p, str))
    assert "(2.00-3.30 s)" in text and '(0.50-3.00 s) "hello"' in text and "Video" not in text


def test_prefix_layout_puts_every_slot_first_in_the_same_order_and_names_each_group():
    utts = [Segment(0.42, 2.1, "I left the keys."), Segment(2.65, 4.9, "Fine.")]
    kwargs = dict(utterances=utts, windows=None, duration=9.84, visual_tokens=2, global_tokens=4, window_tokens=4)
    inter = build_prompt(**kwargs)
    prefix = build_prompt(**kwargs, layout="prefix")
    assert [p for p in prefix[:4]] == [p for p in inter if isinstance(p, Slot)]  # [T_V; T_A^global; T_A^1; T_A^2]
    assert len(prefix) == 5 and isinstance(prefix[4], str)
    assert '(0.42-2.10 s) "I left the keys." Audio: (audio group 1)' in prefix[4]
    assert prefix[4].endswith("Answer:")
    with pytest.raises(ValueError, match="unknown prompt layout"):
        build_prompt(**kwargs, layout="sideways")


def test_compact_style_keeps_text_and_slots_in_fewer_words():
    utts = [Segment(0.42, 2.1, "I left the keys."), Segment(2.65, 4.9, "Fine.")]
    kwargs = dict(utterances=utts, windows=None, duration=9.84, visual_tokens=2, global_tokens=4, window_tokens=4)
    full, compact = build_prompt(**kwargs), build_prompt(**kwargs, style="compact")
    assert [p.kind for p in compact if isinstance(p, Slot)] == [p.kind for p in full if isinstance(p, Slot)]
    text = "".join(p for p in compact if isinstance(p, str))
    assert '1. "I left the keys."' in text and '2. "Fine."' in text and text.endswith("Emotions:")
    assert "0.42" not in text and len(text) < len("".join(p for p in full if isinstance(p, str))) / 2
    assert parse_emotions("Emotions: sad, tired") == ["sad", "tired"]
    with pytest.raises(ValueError, match="prompt style"):
        build_prompt(**kwargs, style="terse")


def test_the_second_question_form_asks_for_each_utterance_and_its_answer_parses_back():
    from acoustemo.model.prompts import COMPACT_UTTERANCE_PREFIX, UTTERANCE_QUESTION, parse_answer

    utts = [Segment(0.42, 2.1, "I left the keys."), Segment(2.65, 4.9, "Fine.")]
    kwargs = dict(utterances=utts, windows=None, duration=9.84, visual_tokens=0, global_tokens=4, window_tokens=4)
    assert build_prompt(**kwargs, question="utterances")[-1].endswith(UTTERANCE_QUESTION + "\nAnswer:")
    assert build_prompt(**kwargs, question="utterances", style="compact")[-1] == COMPACT_UTTERANCE_PREFIX
    # the slots and the rest of the text are those of the first form
    assert build_prompt(**kwargs, question="utterances")[:-1] == build_prompt(**kwargs)[:-1]
    with pytest.raises(ValueError, match="question form"):
        build_prompt(**kwargs, question="why")

    answer = format_answer(["sad", "unhappy"], [("calm",), ("sad", "unhappy")])
    assert answer == " sad, unhappy\n1: calm\n2: sad, unhappy"
    assert parse_answer(answer, 2) == (["sad", "unhappy"], [["calm"], ["sad", "unhappy"]])
    assert parse_answer(COMPACT_UTTERANCE_PREFIX + answer, 2)[0] == ["sad", "unhappy"]
    # a single clip word is not mistaken for a one-word-per-line list that swallows the utterance lines
    assert parse_answer(" sad\n1: calm\n2: sad", 2) == (["sad"], [["calm"], ["sad"]])
    # skipped utterances are empty, numbers out of range ignored, a repeated number keeps its first line
    assert parse_answer(" angry\n2: angry\n7: calm\n2: calm", 3) == (["angry"], [[], ["angry"], []])
    # an answer of the first form has no timeline
    assert parse_answer(" anxious, nervous", 2) == (["anxious", "nervous"], None)


def test_the_prompt_the_shipped_weights_were_trained_with_is_unchanged():
    """A golden string: the shipped model reads this prompt and writes this answer form; any change to either
    needs a retrained model (and a change here)."""
    from acoustemo.config import load_config
    from acoustemo.inference import pretrained_path
    from acoustemo.model.prompts import parse_answer

    m = load_config(pretrained_path() / "config.yaml").model
    tokens = m.acoustic.num_queries + int(m.acoustic.stats_token)
    utts = [Segment(0.42, 2.1, "I left the keys on the table."), Segment(2.65, 4.9, "Fine, whatever you say.")]
    pieces = build_prompt(utterances=utts, windows=None, duration=9.84, visual_tokens=0, global_tokens=tokens,
                          window_tokens=tokens, layout=m.prompt_layout, style=m.prompt_style,
                          question="utterances" if m.utterance_answers else "clip")
    text = "".join(p if isinstance(p, str) else f"<{p.kind} x{p.num_tokens}>" for p in pieces)
    assert text == ('Clip: <global x9>\n1. "I left the keys on the table." <utterance x9>\n'
                    '2. "Fine, whatever you say." <utterance x9>\nEmotions, then each utterance:')
    answer = format_answer(["sad", "unhappy"], [("calm",), ("sad", "unhappy")])
    assert answer == " sad, unhappy\n1: calm\n2: sad, unhappy"
    assert parse_answer(answer, 2) == (["sad", "unhappy"], [["calm"], ["sad", "unhappy"]])
