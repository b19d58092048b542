"""Augmented training audio: deterministic per seed, what it says it is, and apart from the clean audio."""

import json
from pathlib import Path

import numpy as np
import pytest

from acoustemo.cache.store import FeatureCache
from acoustemo.cli import main
from acoustemo.corpora.augment import (AugmentConfig, Augmentation, apply, augment_manifest, babble, draw, rng_for,
                                       speech_mask, telephone)
from acoustemo.corpora.real import RealConfig, build_real_corpus
from acoustemo.data.manifest import read_manifest
from acoustemo.errors import ConfigError, InputError

FIXTURES = Path(__file__).parents[1] / "fixtures"


def tone(seconds=1.0, hz=220.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("ravdess")
    build_real_corpus("ravdess", FIXTURES / "ravdess", out, RealConfig(dialogues_per_speaker=2, seed=1),
                      progress=False)
    return out / "train.jsonl"


def test_the_same_seed_gives_the_same_audio_and_another_seed_other_audio(corpus, tmp_path):
    config = AugmentConfig(copies=2, seed=3, noise_fraction=1.0, babble_fraction=0.5)
    a = augment_manifest(corpus, tmp_path / "a", config, progress=False)
    b = augment_manifest(corpus, tmp_path / "b", config, progress=False)
    c = augment_manifest(corpus, tmp_path / "c", AugmentConfig(copies=2, seed=4, noise_fraction=1.0), progress=False)
    assert [s.id for s in a] == [s.id for s in b] and len(a) == 2 * len(read_manifest(corpus))
    for x, y, z in zip(a, b, c):
        assert x.media_path.read_bytes() == y.media_path.read_bytes()
        assert x.media_path.read_bytes() != z.media_path.read_bytes()
    records = [json.loads(line) for line in (tmp_path / "a" / "augment.jsonl").read_text().splitlines()]
    assert {r["noise"] for r in records} <= {"pink", "babble"} and all(0 <= r["snr_db"] <= 30 for r in records)


def test_augmented_samples_keep_labels_utterances_speaker_and_get_their_own_cache_entries(corpus, tmp_path):
    clean = read_manifest(corpus)
    aug = augment_manifest(corpus, tmp_path / "aug", AugmentConfig(seed=0), progress=False)
    read_back = read_manifest(tmp_path / "aug" / "train.jsonl", check_media=True)
    assert [s.id for s in read_back] == [f"{s.id}~aug0" for s in clean]
    for s, c in zip(read_back, clean):
        assert (s.labels, s.utterances, s.speaker) == (c.labels, c.utterances, c.speaker)
    cache = FeatureCache(tmp_path / "cache")
    clean_keys = {cache.media_hash(s.media_path) for s in clean}
    aug_keys = {cache.media_hash(s.media_path) for s in aug}
    assert len(aug_keys) == len(aug) and not clean_keys & aug_keys


def test_a_rerun_with_other_settings_is_refused(corpus, tmp_path):
    augment_manifest(corpus, tmp_path / "aug", AugmentConfig(seed=0), progress=False)
    with pytest.raises(InputError, match="other settings"):
        augment_manifest(corpus, tmp_path / "aug", AugmentConfig(seed=1), progress=False)


def test_noise_lands_at_the_drawn_snr_and_gain_scales_the_level():
    x = tone(2.0)
    speech = speech_mask(len(x), None)
    rng = np.random.default_rng(0)
    y = apply(x, Augmentation("pink", 10.0, 0.0, "none"), speech, rng)
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y - x).astype(np.float64) ** 2))
    assert abs(snr - 10.0) < 0.05
    quiet = apply(x, Augmentation(None, None, -20.0, "none"), speech, rng)
    np.testing.assert_allclose(quiet, x * 0.1, rtol=1e-5, atol=1e-7)
    loud = apply(x, Augmentation(None, None, 12.0, "none"), speech, rng)
    assert np.abs(loud).max() <= 1.0  # clipped


def test_telephone_removes_what_is_outside_the_band():
    low, mid = tone(1.0, 100.0), tone(1.0, 1000.0)
    rms = lambda v: float(np.sqrt(np.mean(v[2000:-2000] ** 2)))  # noqa: E731
    assert rms(telephone(low)) < 0.1 * rms(low) and rms(telephone(mid)) > 0.9 * rms(mid)


def test_babble_is_made_of_other_clips_and_needs_some():
    b = babble(8000, [tone(0.5, 200.0), tone(0.3, 330.0), tone(0.4, 500.0)], np.random.default_rng(0))
    assert b.shape == (8000,) and abs(float(np.sqrt(np.mean(b.astype(np.float64) ** 2))) - 1.0) < 1e-3
    with pytest.raises(InputError, match="other training speakers"):
        babble(100, [], np.random.default_rng(0))


def test_draws_follow_the_config():
    never = AugmentConfig(noise_fraction=0.0, telephone_fraction=0.0, reverb_fraction=0.0, gain_min=-3, gain_max=-3)
    for i in range(20):
        a = draw(never, rng_for(0, i, 0))
        assert a.noise is None and a.channel == "none" and a.gain_db == -3
    with pytest.raises(ConfigError, match="copies"):
        AugmentConfig(copies=0)


def test_the_command_writes_the_manifest(corpus, tmp_path, capsys):
    assert main(["augment", "--manifest", str(corpus), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "augmented samples" in capsys.readouterr().out
    assert main(["augment", "--manifest", str(corpus), "--out", str(tmp_path / "o2"), "--snr", "x"]) == 2
