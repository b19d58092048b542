import pytest

from acoustemo.data.folds import speaker_folds, split_by_folds
from acoustemo.data.manifest import Sample
from acoustemo.errors import InputError


def samples(speakers, per=3):
    return [Sample(f"{s}_{i}", f"{s}_{i}.wav", speaker=s) for s in speakers for i in range(per)]


def test_every_speaker_is_in_exactly_one_fold_and_folds_are_balanced():
    speakers = [f"ravdess_{i:02d}" for i in range(1, 17)] + ["emodb_03", "synth_en_f1"]
    folds = speaker_folds(samples(speakers), 5)
    assert len(folds) == 5
    assert sorted(s for f in folds for s in f) == sorted(speakers)  # each once: no speaker in two folds
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    for train, test in split_by_folds(samples(speakers), folds):
        assert not {s.speaker for s in train} & {s.speaker for s in test}
        assert len(train) + len(test) == 3 * len(speakers)


def test_folds_are_dealt_in_natural_order_and_do_not_depend_on_sample_order():
    names = [f"ravdess_{i}" for i in (10, 2, 1, 3)]
    folds = speaker_folds(samples(names), 2)
    assert folds == [{"ravdess_1", "ravdess_3"}, {"ravdess_2", "ravdess_10"}]
    assert speaker_folds(samples(names)[::-1], 2) == folds


def test_a_sample_without_speaker_is_named():
    rows = samples(["a", "b"]) + [Sample("loose", "loose.wav")]
    with pytest.raises(InputError, match=r"train.jsonl: sample 'loose', field 'speaker': missing"):
        speaker_folds(rows, 2, source="train.jsonl")
    with pytest.raises(InputError, match="2 speakers cannot fill 3"):
        speaker_folds(samples(["a", "b"]), 3)
