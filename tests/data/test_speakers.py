import dataclasses

import pytest
import torch

from acoustemo.data.speakers import (FrameStats, SpeakerBaseline, baseline_key, population_statistics,
                                     speaker_statistics)
from acoustemo.errors import ConfigError

from conftest import make_example


def voice(id, speaker, shift, scale, seed):
    """An example whose frames are one speaker's: a standard-normal signal scaled and shifted per dimension."""
    ex = make_example(id, seed=seed)
    return dataclasses.replace(ex, audio=ex.audio * scale + shift, speaker=speaker)


def test_merged_statistics_equal_those_of_the_frames_together():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 4, generator=g) * 3 + 1, torch.randn(7, 4, generator=g) - 5
    merged, direct = FrameStats.of(a).merge(FrameStats.of(b)), FrameStats.of(torch.cat([a, b]))
    assert merged.count == 37
    torch.testing.assert_close(merged.mean, direct.mean)
    torch.testing.assert_close(merged.var, direct.var)


def test_a_speakers_statistics_are_removed_exactly_without_a_prior():
    shift, scale = torch.linspace(-3, 3, 16), torch.linspace(0.5, 4, 16)
    examples = [voice(f"a{i}", "spk_a", shift, scale, i) for i in range(3)]
    examples += [voice(f"b{i}", "spk_b", -shift, 1 / scale, 10 + i) for i in range(2)]
    pop = population_statistics(examples)
    out = SpeakerBaseline.from_stats(pop, prior_frames=0).apply_all(examples, "speaker")
    for who in ("spk_a", "spk_b"):
        frames = torch.cat([ex.audio for ex in out if ex.speaker == who]).double()
        # each speaker's frames now have the population's mean and standard deviation, per dimension
        torch.testing.assert_close(frames.mean(0), pop.mean, atol=1e-5, rtol=0)
        torch.testing.assert_close(frames.std(0, unbiased=False), pop.std, atol=1e-5, rtol=1e-5)
    # and within a speaker nothing but that affine map happened: the same frames, standardised the same way
    a = torch.cat([ex.audio for ex in examples[:3]]).double()
    z = (a - a.mean(0)) / a.std(0, unbiased=False)
    torch.testing.assert_close(torch.cat([ex.audio for ex in out[:3]]).double(), z * pop.std + pop.mean,
                               atol=1e-5, rtol=1e-5)
    assert examples[0].audio is not out[0].audio  # the input examples are left as they were


def test_a_sample_without_speaker_falls_back_to_the_population():
    ex = voice("x", None, 2.0, 3.0, 0)
    assert baseline_key(ex, "speaker") is None and baseline_key(ex, "none") is None
    assert baseline_key(dataclasses.replace(ex, speaker="s"), "speaker") == "speaker:s"
    assert baseline_key(dataclasses.replace(ex, speaker="s"), "recording") == "recording:x"
    assert speaker_statistics([ex], "speaker") == {None: None}
    stats = speaker_statistics([ex], "recording")
    assert stats["recording:x"].count == ex.audio.shape[0]
    pop = FrameStats(100.0, torch.zeros(16, dtype=torch.float64), torch.ones(16, dtype=torch.float64))
    (same,) = SpeakerBaseline.from_stats(pop, 500).apply_all([ex], "speaker")
    assert same is ex  # left exactly as it is


def test_the_prior_shrinks_a_short_recording_toward_the_population():
    pop = FrameStats(1000.0, torch.zeros(16, dtype=torch.float64), torch.ones(16, dtype=torch.float64))
    ex = voice("short", None, 5.0, 1.0, 0)  # 200 frames at mean ~5
    own = FrameStats.of(ex.audio)
    baseline = SpeakerBaseline.from_stats(pop, prior_frames=200)
    mean, _ = baseline.baseline(own)
    torch.testing.assert_close(mean, own.mean / 2)  # as many pseudo-frames as own frames: half-way
    # nothing known of the voice: the population's own statistics, the frames unchanged
    torch.testing.assert_close(baseline.normalize(ex.audio, None), ex.audio)
    # a long recording moves almost all the way
    long = SpeakerBaseline.from_stats(pop, prior_frames=2).baseline(own)[0]
    assert (long - own.mean).abs().max() < 0.06


def test_bad_modes_and_priors_are_config_errors():
    with pytest.raises(ConfigError, match="speaker_normalization"):
        speaker_statistics([make_example()], "per-voice")
    with pytest.raises(ConfigError, match="speaker_prior_seconds"):
        SpeakerBaseline(torch.zeros(2), torch.ones(2), -1)
    with pytest.raises(ValueError, match="shape"):
        FrameStats.of(torch.zeros(0, 3))
