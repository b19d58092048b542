"""The synthetic corpus: determinism, timestamps, measurable cues, the distractor design, splits, labels."""

import dataclasses
import json
import shutil
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf

from acoustemo.cli import main
from acoustemo.corpora import espeak
from acoustemo.corpora.labels import lexicon_words
from acoustemo.corpora.prosody import window_stats
from acoustemo.corpora.synth import (
    SynthConfig, _cue_params, build_synth_corpus, draw_dialogue, render_dialogue, speaker_split, speakers,
)
from acoustemo.data.manifest import read_manifest
from acoustemo.errors import ConfigError
from corpora_helpers import check_timestamps, needs_espeak

SR = 16000
CONFIG = SynthConfig(num=10, seed=3, video=True)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip(espeak.INSTALL_HINT)
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    build_synth_corpus(a, CONFIG, progress=False)
    build_synth_corpus(b, CONFIG, progress=False)
    return a, b


def _samples(root):
    return {s.id: (split, s) for split in ("train", "validation", "test")
            for s in read_manifest(root / f"{split}.jsonl", check_media=True)}


def _cues(root):
    return {row["id"]: row for row in map(json.loads, (root / "cues.jsonl").read_text().splitlines())}


def test_same_seed_gives_identical_bytes(corpora):
    a, b = corpora
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".flac"]) == CONFIG.num
    assert len([f for f in files if f.suffix == ".mp4"]) == CONFIG.num
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_other_seed_differs_and_dialogues_do_not_depend_on_num():
    first = draw_dialogue(CONFIG, 4)
    assert first == draw_dialogue(dataclasses.replace(CONFIG, num=500), 4)
    assert first.texts != draw_dialogue(dataclasses.replace(CONFIG, seed=4), 4).texts


def test_manifest_timestamps_agree_with_the_audio(corpora):
    a, _ = corpora
    samples = _samples(a)
    assert len(samples) == CONFIG.num
    for split, s in samples.values():
        audio, sr = sf.read(s.media_path.parent.parent / "audio" / f"{s.id}.flac", dtype="float32")
        assert sr == SR and audio.ndim == 1
        assert 2 <= len(s.utterances) <= 5 and len(audio) / sr <= 20
        check_timestamps(audio, s.utterances)


def test_video_track_holds_the_audio(corpora):
    import av

    a, _ = corpora
    _, s = next(iter(_samples(a).values()))
    assert s.media.endswith(".mp4")
    with av.open(str(s.media_path)) as c:
        kinds = sorted(st.type for st in c.streams)
        frames = sum(1 for _ in c.decode(video=0))
    audio = sf.info(a / "audio" / f"{s.id}.flac")
    assert kinds == ["audio", "video"]
    assert abs(frames / 10 - audio.duration) < 0.2


def test_labels_come_from_the_lexicon_and_follow_the_cue(corpora):
    a, _ = corpora
    words, cues = lexicon_words(), _cues(a)
    for split, s in _samples(a).values():
        assert s.labels and set(s.labels) <= words
        head = {"tremor": "anxious", "loud_burst": "angry", None: "calm"}.get(cues[s.id]["cue"])
        if head:
            assert s.labels[0] == head


def test_each_utterance_is_labelled_the_cue_utterance_with_the_dialogue_labels(corpora):
    a, _ = corpora
    cues = _cues(a)
    for split, s in _samples(a).values():
        target = cues[s.id]["target"]
        for i, u in enumerate(s.utterances):
            assert u.labels == (tuple(s.labels) if i == target else ("calm",)), (s.id, i)


def test_stats_are_written_and_count_the_corpus(corpora):
    a, _ = corpora
    stats = json.loads((a / "stats.json").read_text())
    samples = _samples(a)
    assert stats["dialogues"] == CONFIG.num
    assert stats["utterances"] == sum(len(s.utterances) for _, s in samples.values())
    assert sum(stats["labels"].values()) == sum(len(s.labels) for _, s in samples.values())
    assert sum(v["dialogues"] for v in stats["splits"].values()) == CONFIG.num
    assert "dialogues" in (a / "stats.txt").read_text()


def test_splits_are_speaker_disjoint():
    by_split = defaultdict(set)
    for i in range(300):
        spec = draw_dialogue(SynthConfig(num=300), i)
        assert speaker_split(spec.speaker) == spec.split
        by_split[spec.split].add(speakers()[spec.speaker].id)
    assert set(by_split) == {"train", "validation", "test"}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["validation"])
    assert not (by_split["validation"] & by_split["test"])


def _spec(cue, design="local", scope="segment", n=3, index=0):
    spec = draw_dialogue(SynthConfig(num=1, seed=11), index)
    length = 0.6 if (design, cue) == ("distractor", "loud_burst") else 1.5
    texts = spec.texts + ["The cables are in the blue box.", "The library opens at nine.", "The form has four pages."]
    segment = (length, 1.0) if scope == "segment" else None
    return dataclasses.replace(spec, design=design, cue=cue, target=1, scope=scope, segment=segment,
                               texts=texts[:n], pauses=[0.4] * (n - 1),
                               params=_cue_params(cue, np.random.default_rng(0), distractor=design == "distractor"))


def _span(u):
    return u.start, u.end


def _render_pair(spec):
    cfg = SynthConfig(num=1, seed=11)
    return render_dialogue(spec, cfg), render_dialogue(spec, cfg, apply_cue=False)


@needs_espeak
@pytest.mark.parametrize("cue", ["tremor", "pitch_up", "pitch_down", "loud_burst", "whisper", "breathy",
                                 "rate_fast", "rate_slow", "sarcasm"])
def test_each_cue_is_measurable_in_its_window_and_nowhere_else(cue):
    scope = "utterance" if cue == "sarcasm" else "segment"
    spec = _spec(cue, design="sarcasm" if cue == "sarcasm" else "local", scope=scope)
    man, twin = _render_pair(spec)
    assert man.window is not None and twin.window is None
    u = man.utterances[spec.target]
    assert u.start <= man.window[0] < man.window[1] <= u.end + 1e-3
    check_timestamps(man.audio, man.utterances)
    # the twin's window: same start, the original length (rate cues change the length)
    offset = man.window[0] - u.start
    tu = twin.utterances[spec.target]
    t_win = (tu.start + offset, tu.end if scope == "segment" else tu.end)
    w, tw = window_stats(man.audio, SR, *man.window), window_stats(twin.audio, SR, *t_win)
    others = [i for i in range(len(spec.texts)) if i != spec.target]
    for i in others:  # other utterances are untouched (same PSOLA twin)
        np.testing.assert_allclose(window_stats(man.audio, SR, *_span(man.utterances[i])).rms_db,
                                   window_stats(twin.audio, SR, *_span(twin.utterances[i])).rms_db, atol=0.01)
    other_stats = [window_stats(man.audio, SR, *_span(man.utterances[i])) for i in others]
    p = spec.params
    if cue == "tremor":
        assert w.f0_wobble > 1.8 * tw.f0_wobble and w.f0_wobble > 1.8 * max(o.f0_wobble for o in other_stats)
        assert w.jitter > 1.5 * tw.jitter
    elif cue in ("pitch_up", "pitch_down"):
        assert abs((w.f0_median - tw.f0_median) - p["semitones"]) < 1.0
    elif cue == "loud_burst":
        assert w.rms_db - tw.rms_db > p["gain_db"] - 1.5
        assert w.rms_db > max(o.rms_db for o in other_stats) + 4
    elif cue == "whisper":
        assert w.voiced_fraction < 0.4 * tw.voiced_fraction
        assert w.voiced_fraction < 0.4 * min(o.voiced_fraction for o in other_stats)
    elif cue == "breathy":
        assert w.hnr < tw.hnr - 3 and w.hnr < min(o.hnr for o in other_stats) - 3
    elif cue in ("rate_fast", "rate_slow"):
        assert abs(w.duration / tw.duration - 1 / p["speed"]) < 0.05
    elif cue == "sarcasm":
        assert w.f0_sd < 0.6 * tw.f0_sd and w.f0_median < tw.f0_median - 1
        assert w.duration > 1.1 * tw.duration


@needs_espeak
@pytest.mark.parametrize("cue", ["pitch_up", "loud_burst", "rate_slow", "tremor"])
def test_distractor_keeps_whole_clip_statistics_while_the_local_cue_changes(cue):
    spec = _spec(cue, design="distractor", n=5)
    man, twin = _render_pair(spec)
    assert man.window[1] - man.window[0] <= 1.5 * (1 / spec.params.get("speed", 1)) + 1e-3
    g, tg = window_stats(man.audio, SR), window_stats(twin.audio, SR)
    offset = man.window[0] - man.utterances[spec.target].start
    tu = twin.utterances[spec.target]
    w, tw = window_stats(man.audio, SR, *man.window), window_stats(twin.audio, SR, tu.start + offset, tu.end)
    assert abs(g.rms_db - tg.rms_db) < 0.3  # speech energy compensated
    assert abs(len(man.audio) - len(twin.audio)) / len(twin.audio) < 0.02  # clip length kept
    if cue == "pitch_up":
        assert abs(g.f0_median - tg.f0_median) < 0.5 and w.f0_median - tw.f0_median > 2.5
    elif cue == "loud_burst":
        assert w.rms_db - tw.rms_db > 5
    elif cue == "rate_slow":
        assert w.duration / tw.duration > 1.3
    elif cue == "tremor":
        assert (g.f0_wobble - tg.f0_wobble) < 0.3 * (w.f0_wobble - tw.f0_wobble)


@needs_espeak
def test_noise_is_added_at_the_requested_snr():
    spec = _spec("tremor")
    clean = render_dialogue(spec, SynthConfig(num=1, seed=11))
    noisy = render_dialogue(spec, SynthConfig(num=1, seed=11, snr_db=5.0))
    speech = np.zeros(len(clean.audio), bool)
    for u in clean.utterances:
        speech[int(u.start * SR): int(u.end * SR)] = True
    noise = noisy.audio.astype(np.float64) - clean.audio
    snr = 10 * np.log10(np.mean(clean.audio[speech].astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(snr - 5.0) < 0.2
    assert noisy.utterances == clean.utterances


def test_missing_espeak_gives_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    code = main(["synth", "--out", str(tmp_path / "x"), "--num", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "install" in err and "apt-get install espeak-ng" in err and "brew install espeak-ng" in err


def test_bad_config_is_rejected():
    with pytest.raises(ConfigError, match="unknown cue"):
        SynthConfig(cues=("tremor", "shout"))
    with pytest.raises(ConfigError, match="min_utterances"):
        SynthConfig(min_utterances=4, max_utterances=3)


@needs_espeak
def test_cli_writes_a_corpus(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["synth", "--out", str(out), "--num", "3", "--seed", "1", "--quiet", "--cues", "whisper",
                 "--control-fraction", "0", "--sarcasm-fraction", "0", "--audio-format", "wav"]) == 0
    assert "3 dialogues" in capsys.readouterr().out
    rows = _cues(out)
    assert {r["cue"] for r in rows.values()} == {"whisper"}
    assert len(list((out / "audio").glob("*.wav"))) == 3
