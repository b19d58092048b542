"""Real-speech dialogues from RAVDESS / EmoDB folders (the fixtures share the full corpora's layout)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from acoustemo.cli import main
from acoustemo.corpora.labels import EMOTION_LABELS, lexicon_words
from acoustemo.corpora.real import EMODB, RAVDESS, RealConfig, assign_splits, build_real_corpus, load_clip, read_metadata
from acoustemo.data.manifest import read_manifest
from acoustemo.errors import InputError
from corpora_helpers import check_timestamps

FIXTURES = Path(__file__).parents[1] / "fixtures"
CONFIG = RealConfig(dialogues_per_speaker=3, seed=5)


@pytest.fixture(scope="module", params=["ravdess", "emodb"])
def built(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    build_real_corpus(request.param, FIXTURES / request.param, out, CONFIG, progress=False)
    return request.param, out


def _samples(out):
    return {split: read_manifest(out / f"{split}.jsonl", check_media=True) for split in ("train", "validation", "test")}


def _dialogues(out):
    return [json.loads(line) for line in (out / "dialogues.jsonl").read_text().splitlines()]


def test_splits_are_speaker_disjoint(built):
    _, out = built
    speakers = {}
    for d in _dialogues(out):
        speakers.setdefault(d["split"], set()).add(d["speaker"])
    assert speakers["train"] and speakers["test"]
    splits = list(speakers.values())
    for i in range(len(splits)):
        for j in range(i + 1, len(splits)):
            assert not splits[i] & splits[j]
    ids = {split: {s.id for s in ss} for split, ss in _samples(out).items()}
    for d in _dialogues(out):
        assert d["id"] in ids[d["split"]]
    # every sample names its speaker, corpus-qualified with two digits, as the dialogue record does
    name, _ = built
    speaker_of = {d["id"]: f"{name}_{int(d['speaker']):02d}" for d in _dialogues(out)}
    for split in _samples(out).values():
        for s in split:
            assert s.speaker == speaker_of[s.id]


def test_split_rule_takes_the_highest_ids():
    config = RealConfig()
    twenty = assign_splits([str(i) for i in range(1, 21)], config)
    assert [s for s, v in twenty.items() if v == "test"] == ["19", "20"]
    assert [s for s, v in twenty.items() if v == "validation"] == ["17", "18"]
    emodb = assign_splits(["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"], config)
    assert emodb["16"] == "test" and emodb["15"] == "validation" and emodb["03"] == "train"
    two = assign_splits(["03", "09"], config)
    assert two == {"03": "train", "09": "test"}
    explicit = assign_splits(["1", "2", "3"], RealConfig(test_speakers=("01",), validation_speakers=("2",)))
    assert explicit == {"1": "test", "2": "validation", "3": "train"}
    with pytest.raises(InputError, match="'7' is not in the corpus"):
        assign_splits(["1", "2"], RealConfig(test_speakers=("7",)))


def test_timestamps_come_from_the_composition(built):
    name, out = built
    root = FIXTURES / name
    layout = RAVDESS if name == "ravdess" else EMODB
    samples = {s.id: s for ss in _samples(out).values() for s in ss}
    for d in _dialogues(out):
        s = samples[d["id"]]
        audio, sr = sf.read(s.media_path, dtype="float32")
        assert sr == 16000
        check_timestamps(audio, s.utterances)
        assert 2 <= len(s.utterances) <= 5
        for clip, u in zip(d["clips"], s.utterances):
            trimmed = load_clip(root, next(c for c in read_metadata(root, layout) if c.file == clip["file"]))
            assert abs((u.end - u.start) * sr - len(trimmed)) <= 2
            np.testing.assert_allclose(audio[round(u.start * sr): round(u.start * sr) + len(trimmed)],
                                       trimmed, atol=1 / 32768)
        emotional = [c for c in d["clips"] if c["emotion"] not in layout.baseline]
        if d["design"] == "one_emotional":
            assert len(emotional) == 1 and emotional[0]["emotion"] == d["emotion"]
        else:
            assert len({c["emotion"] for c in d["clips"]}) == 1


def test_labels_name_the_emotion_and_come_from_the_lexicon(built):
    _, out = built
    words = lexicon_words()
    samples = {s.id: s for ss in _samples(out).values() for s in ss}
    for d in _dialogues(out):
        labels = samples[d["id"]].labels
        assert set(labels) <= words and set(labels) <= set(EMOTION_LABELS[d["emotion"]])
        assert labels[0] == EMOTION_LABELS[d["emotion"]][0]


def test_each_utterance_is_labelled_with_its_own_clip_emotion(built):
    _, out = built
    samples = {s.id: s for ss in _samples(out).values() for s in ss}
    for d in _dialogues(out):
        s = samples[d["id"]]
        for clip, u in zip(d["clips"], s.utterances, strict=True):
            expected = tuple(s.labels) if clip["emotion"] == d["emotion"] else (EMOTION_LABELS[clip["emotion"]][0],)
            assert u.labels == expected, (d["id"], clip["file"])
        # the dialogue's emotion is carried by at least one utterance
        assert any(u.labels == tuple(s.labels) for u in s.utterances)


def test_same_seed_same_bytes(built, tmp_path):
    name, out = built
    again = tmp_path / "again"
    build_real_corpus(name, FIXTURES / name, again, CONFIG, progress=False)
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert (out / f).read_bytes() == (again / f).read_bytes(), f
    assert json.loads((out / "stats.json").read_text())["dialogues"] == len(_dialogues(out))


def test_bad_metadata_names_row_and_field(tmp_path):
    root = tmp_path / "r"
    shutil.copytree(FIXTURES / "emodb", root)
    lines = (root / "metadata.csv").read_text().splitlines()
    lines[2] = lines[2].replace("neutral", "elated")
    lines[3] = lines[3].replace("03a01Fa", "missing")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        read_metadata(root, EMODB)
    assert "row 3" in str(e.value) and "'emotion'" in str(e.value)
    assert any("row 4" in p and "file not found" in p for p in e.value.problems)


def test_cli_builds_and_reports_stats(tmp_path, capsys):
    out = tmp_path / "rav"
    assert main(["corpus", "ravdess", "--root", str(FIXTURES / "ravdess"), "--out", str(out),
                 "--dialogues-per-speaker", "2", "--test-speakers", "1,2", "--validation-speakers", "5", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "16 dialogues" in printed and "utterances per dialogue" in printed and "labels:" in printed
    stats = json.loads((out / "stats.json").read_text())
    assert stats["speaker_splits"]["test"] == ["1", "2"] and stats["splits"]["test"]["dialogues"] == 4
    assert main(["corpus", "emodb", "--root", str(tmp_path / "nowhere"), "--out", str(out), "--quiet"]) == 2
    assert "metadata.csv not found" in capsys.readouterr().err


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "ravdess"


@pytest.mark.skipif(not (SHARED / "metadata.csv").is_file(), reason="../shared/data/ravdess not present")
def test_full_ravdess_folder_gives_twenty_speakers_and_the_documented_split(tmp_path):
    clips = read_metadata(SHARED, RAVDESS)
    assert len({c.speaker for c in clips}) == 20
    splits = assign_splits([c.speaker for c in clips], RealConfig())
    assert sorted((s for s, v in splits.items() if v == "test"), key=int) == ["19", "20"]


@pytest.mark.parametrize("name", ["ravdess", "emodb"])
def test_a_folder_with_the_original_file_names_needs_no_metadata(name, tmp_path):
    layout = RAVDESS if name == "ravdess" else EMODB
    shutil.copytree(FIXTURES / name / "audio", tmp_path / "audio")
    listed = sorted(read_metadata(FIXTURES / name, layout), key=lambda c: c.file)
    assert sorted(read_metadata(tmp_path, layout), key=lambda c: c.file) == listed
    (tmp_path / "audio" / "notes.txt").write_text("not a clip")  # other files are ignored
    assert len(read_metadata(tmp_path, layout)) == len(listed)
    with pytest.raises(InputError, match="original file names"):
        read_metadata(tmp_path / "audio" / "nothing", layout)


@pytest.mark.parametrize("name", ["ravdess", "emodb"])
def test_every_clip_gives_each_clip_once_alone_in_its_speakers_split(name, tmp_path):
    layout = RAVDESS if name == "ravdess" else EMODB
    clips = read_metadata(FIXTURES / name, layout)
    build_real_corpus(name, FIXTURES / name, tmp_path, RealConfig(every_clip=True), progress=False)
    rows = _dialogues(tmp_path)
    assert sorted(c["file"] for r in rows for c in r["clips"]) == sorted(c.file for c in clips)
    assert all(len(r["clips"]) == 1 and r["clips"][0]["emotion"] == r["emotion"] for r in rows)
    splits = assign_splits([c.speaker for c in clips], RealConfig())
    assert all(r["split"] == splits[r["speaker"]] for r in rows)
    samples = [s for split in _samples(tmp_path).values() for s in split]
    assert len(samples) == len(clips) and len({s.id for s in samples}) == len(clips)
