import warnings

import pytest
import torch

from acoustemo.data.collate import IGNORE_INDEX, BudgetWarning, Collator
from acoustemo.errors import InputError
from acoustemo.model.llm import tiny_tokenizer
from acoustemo.model.prompts import parse_emotions

from conftest import make_example, tiny_config


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def test_labels_cover_exactly_the_answer_and_eos(tok):
    cfg = tiny_config()
    batch = Collator(cfg, tok)([make_example("a"), make_example("b", seconds=2.0, utterances=((0.1, 1.9, "hi"),))])
    for i in range(2):
        keep = batch.labels[i] != IGNORE_INDEX
        answer = tok.decode(batch.labels[i][keep])
        assert answer == " happy, calm</s>" and parse_emotions(answer.removesuffix("</s>")) == ["happy", "calm"]
        assert not (keep & batch.slot_mask[i]).any()  # acoustic/visual slots never carry labels
        assert (batch.attention_mask[i].bool() | ~keep).all()
        # the answer sits at the end of the real tokens (right padding)
        last = int(batch.attention_mask[i].sum()) - 1
        assert keep[last] and batch.input_ids[i, last] == tok.eos_token_id
    k, kv = cfg.acoustic.num_queries, cfg.visual.num_queries
    assert batch.slot_mask.sum(1).tolist() == [kv + k + 2 * k, kv + k + 1 * k]


def test_prompt_text_states_each_utterance(tok):
    batch = Collator(tiny_config(), tok)([make_example()])
    text = tok.decode(batch.input_ids[0][~batch.slot_mask[0] & (batch.labels[0] == IGNORE_INDEX)])
    assert '(0.20-1.30 s) "hello there" Audio:' in text and '(1.60-3.50 s) "bye now" Audio:' in text


def test_windows_follow_eq1_in_prompt_order(tok):
    batch = Collator(tiny_config(), tok)([make_example("a"), make_example("b", seconds=3.0,
                                                                           utterances=((2.0, 2.9, "x"),))])
    assert batch.window_sample.tolist() == [0, 0, 1]
    assert batch.window_begin.tolist() == [10, 80, 100] and batch.window_end.tolist() == [65, 175, 145]


def test_generation_batches_are_left_padded_without_answers(tok):
    batch = Collator(tiny_config(), tok, train=False)([make_example("a"), make_example("b", labels=None,
                                                                                          utterances=())])
    assert batch.labels is None
    assert batch.attention_mask[:, -1].all()  # every prompt ends at the last position
    assert tok.decode(batch.input_ids[0, -7:]) == "Answer:"


def _long_dialogue(n, text="ok", seconds=None):
    return make_example("long", seconds=seconds or n * 1.0, utterances=[(i + 0.1, i + 0.9, text) for i in range(n)])


def test_long_dialogues_merge_windows_with_a_warning_and_keep_the_answer(tok):
    cfg = tiny_config(max_length=1024)
    collate = Collator(cfg, tok)
    with pytest.warns(BudgetWarning, match="sample 'long': merged"):
        batch = collate([_long_dialogue(40)])
    assert batch.input_ids.shape[1] <= 1024 and 0 < batch.merged[0] < 39
    keep = batch.labels[0] != IGNORE_INDEX
    assert tok.decode(batch.labels[0][keep]) == " happy, calm</s>"  # the answer is whole
    # windows still cover the dialogue from its first to its last utterance, in order
    assert batch.window_begin[0] == 5 and batch.window_end[-1] == 1995
    assert (batch.window_begin[1:] >= batch.window_end[:-1] - 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collate([_long_dialogue(3)])  # a short dialogue fits without merging


def test_fixed_windows_merge_too(tok):
    cfg = tiny_config(max_length=420, windows="fixed")
    with pytest.warns(BudgetWarning):
        batch = Collator(cfg, tok)([_long_dialogue(1, seconds=80.0)])  # 40 windows of 2 s
    assert batch.input_ids.shape[1] <= 420 and 0 < batch.merged[0] < 39
    assert batch.window_begin[0] == 0 and batch.window_end[-1] == 4000


def test_a_sample_that_cannot_fit_is_refused_by_name(tok):
    cfg = tiny_config(max_length=200)
    with pytest.raises(InputError, match="sample 'long'.*exceed model.max_length=200"):
        Collator(cfg, tok)([_long_dialogue(2, text="a very long utterance " * 20)])


@pytest.mark.parametrize(
    "example, message",
    [
        (make_example("x", audio_dim=7), "sample 'x', field 'audio'"),
        (make_example("y", labels=None), "sample 'y', field 'labels'"),
        (make_example("z", utterances=((5.0, 6.0, "late"),)), "sample 'z', field 'utterances': utterance 0"),
    ],
)
def test_bad_examples_name_sample_and_field(tok, example, message):
    with pytest.raises(InputError, match=message):
        Collator(tiny_config(), tok)([example])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ex: setattr(ex, "audio", ex.audio[:0]), "sample 's0', field 'audio': no frames"),
        (lambda ex: setattr(ex, "visual", ex.visual[:0]), r"field 'visual': features of shape \(0, 8\)"),
        (lambda ex: setattr(ex, "visual", ex.visual[:, :5]), r"field 'visual': features of shape \(4, 5\)"),
    ],
)
def test_empty_or_misshapen_features_name_sample_and_field(tok, change, message):
    ex = make_example()
    change(ex)
    with pytest.raises(InputError, match=message):
        Collator(tiny_config(), tok)([ex])


def test_missing_visual_features_are_an_error_unless_the_model_has_no_visual_branch(tok):
    ex = make_example("v")
    ex.visual = None
    with pytest.raises(InputError, match="sample 'v', field 'visual'"):
        Collator(tiny_config(), tok)([ex])
    batch = Collator(tiny_config(use_visual=False), tok)([ex])
    assert batch.visual is None


def test_check_examples_lists_every_bad_sample_at_once(tok):
    from acoustemo.data.collate import check_examples

    good = make_example("good")
    late = make_example("late", utterances=((5.0, 6.0, "after the end"),))
    empty = make_example("empty")
    empty.audio = empty.audio[:0]
    with pytest.raises(InputError, match=r"sample 'late'.*\(and 1 more bad samples\)") as e:
        check_examples(Collator(tiny_config(), tok), [good, late, empty])
    assert len(e.value.problems) == 2 and "sample 'empty'" in e.value.problems[1]
    check_examples(Collator(tiny_config(), tok), [good])  # nothing to say


def _with_own_labels(ex, *own):
    from acoustemo.data.manifest import Utterance

    ex.utterances = [Utterance(u.start, u.end, u.text, labels) for u, labels in zip(ex.utterances, own)]
    return ex


def test_utterance_answers_train_on_each_utterance_where_the_sample_knows_them(tok):
    from acoustemo.model.prompts import COMPACT_UTTERANCE_PREFIX, parse_answer

    cfg = tiny_config(utterance_answers=True, prompt_style="compact")
    known = _with_own_labels(make_example("a"), ("calm",), ("happy", "calm"))
    unknown = make_example("b")  # utterances without their own labels: the first question form
    batch = Collator(cfg, tok)([known, unknown])
    assert batch.question == ["utterances", "clip"] and batch.num_utterances == [2, 2]
    answers = [tok.decode(batch.labels[i][batch.labels[i] != IGNORE_INDEX]) for i in range(2)]
    assert answers == [" happy, calm\n1: calm\n2: happy, calm</s>", " happy, calm</s>"]
    assert parse_answer(answers[0].removesuffix("</s>"), 2) == (["happy", "calm"], [["calm"], ["happy", "calm"]])
    prompt = tok.decode(batch.input_ids[0][batch.labels[0] == IGNORE_INDEX][batch.slot_kind[0][
        batch.labels[0] == IGNORE_INDEX] == 0])
    assert prompt.rstrip().endswith(COMPACT_UTTERANCE_PREFIX)
    # at prediction time every sample with utterances is asked the second form
    assert Collator(cfg, tok, train=False)([known, unknown]).question == ["utterances", "utterances"]
    # and a model without utterance answers never is
    assert Collator(tiny_config(), tok)([known]).question == ["clip"]


def test_merged_windows_merge_their_own_labels_and_the_answer_follows(tok):
    utts = tuple((0.2 + 0.5 * i, 0.6 + 0.5 * i, f"u{i}") for i in range(4))
    ex = _with_own_labels(make_example("m", utterances=utts), ("calm",), ("angry",), ("calm",), ("calm",))
    whole = Collator(tiny_config(utterance_answers=True, prompt_style="compact"), tok).encode(ex)
    # room for fewer windows
    cfg = tiny_config(utterance_answers=True, prompt_style="compact", max_length=len(whole.input_ids) - 12)
    with pytest.warns(BudgetWarning):
        batch = Collator(cfg, tok)([ex])
    n = batch.num_utterances[0]
    assert n < 4 and batch.merged == [4 - n]
    answer = tok.decode(batch.labels[0][batch.labels[0] != IGNORE_INDEX]).removesuffix("</s>")
    lines = answer.split("\n")[1:]
    assert len(lines) == n and any("angry" in line for line in lines)


def test_generation_returns_the_timeline_of_the_second_form(tok):
    from acoustemo.model import AcoustEmo

    torch.manual_seed(0)
    model = AcoustEmo.from_config(tiny_config(utterance_answers=True)).eval()
    batch = Collator(model.config, model.tokenizer, train=False)([make_example("a"), make_example("b", utterances=(
        (0.1, 1.0, "one"), (1.2, 2.0, "two"), (2.2, 3.0, "three")))])
    preds = model.generate(batch, max_new_tokens=2)
    assert [len(p.utterance_emotions) for p in preds] == [2, 3]  # one list per utterance, even if untrained
