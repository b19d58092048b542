import math

import pytest
import torch

from acoustemo.model.windows import fixed_time_windows, gather_windows, pad_sequences, utterance_windows


def fixed_windows(num_frames: int, frame_rate: float, seconds: float = 2.0):
    """Frame windows of the fixed-window ablation, as the collators make them: time spans, then Eq. (1)."""
    spans = fixed_time_windows(num_frames / frame_rate, seconds)
    return utterance_windows([s for s, _ in spans], [e for _, e in spans], frame_rate, num_frames)


def test_eq1_hand_computed():
    # 0.42 s * 50 Hz = 21.0 -> 21; 2.13 s * 50 = 106.5 -> ceil 107
    assert utterance_windows([0.42], [2.13], 50.0, 500) == ([21], [107])
    # 0.01 s * 100 = 1; 0.019 * 100 = 1.9 -> 2
    assert utterance_windows([0.01, 0.5], [0.019, 0.75], 100.0, 1000) == ([1, 50], [2, 75])


def test_float_noise_snaps_to_the_frame_grid():
    assert 1.1 * 100 > 110  # 110.00000000000001: a naive ceil gives 111
    assert utterance_windows([0.0], [1.1], 100.0, 1000) == ([0], [110])
    assert 4.6 * 50 < 230  # 229.99999999999997: a naive floor gives 229
    assert utterance_windows([4.6], [5.0], 50.0, 1000) == ([230], [250])
    # off the grid by more than the tolerance: not snapped
    assert utterance_windows([0.0], [1.10001], 100.0, 1000) == ([0], [111])


def test_end_past_the_audio_is_clipped():
    assert utterance_windows([1.0], [9.0], 50.0, 200) == ([50], [200])


def test_zero_width_window_takes_one_frame():
    # 0.101 s .. 0.105 s at 10 Hz: floor(1.01) = 1, ceil(1.05) = 2 -> one frame anyway
    assert utterance_windows([0.101], [0.105], 10.0, 100) == ([1], [2])
    # a window of one frame at the very end of the audio stays inside it
    assert utterance_windows([1.99], [1.995], 50.0, 100) == ([99], [100])


def test_unsorted_and_overlapping_utterances_keep_their_order():
    begin, end = utterance_windows([2.0, 0.0, 1.0], [3.0, 1.5, 2.5], 10.0, 40)
    assert begin == [20, 0, 10] and end == [30, 15, 25]


@pytest.mark.parametrize(
    "starts, ends, message",
    [
        ([0.0, 5.0], [1.0, 6.0], "utterance 1: starts at 5.0 s, after the end"),
        ([0.0, 1.0], [1.0, 1.0], "utterance 1: end 1.0 s is not after start"),
        ([0.5], [0.2], "utterance 0: end 0.2 s is not after start"),
        ([float("nan")], [1.0], "utterance 0: start/end is NaN"),
        ([0.0, 0.2], [1.0, float("nan")], "utterance 1: start/end is NaN"),
        ([-0.1], [1.0], "utterance 0: negative time"),
    ],
)
def test_bad_utterances_raise_naming_the_index(starts, ends, message):
    with pytest.raises(ValueError, match=message):
        utterance_windows(starts, ends, 50.0, 200)  # 4 s of audio


def test_fixed_two_second_windows_keep_the_last_partial_one():
    # 5.3 s at 50 Hz = 265 frames: [0, 100), [100, 200), [200, 265)
    assert fixed_windows(265, 50.0) == ([0, 100, 200], [100, 200, 265])
    assert fixed_time_windows(5.3) == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.3)]
    # exactly 6 s: three full windows, no empty fourth one
    assert fixed_windows(300, 50.0) == ([0, 100, 200], [100, 200, 300])
    # shorter than one window
    assert fixed_windows(30, 50.0) == ([0], [30])
    # ImageBind-like rate of 2 Hz, 3 s windows
    assert fixed_windows(13, 2.0, seconds=3.0) == ([0, 6, 12], [6, 12, 13])


def test_gather_equals_a_per_window_loop():
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(n, 5, generator=g) for n in (37, 80, 12)]
    features, mask = pad_sequences(seqs)
    assert features.shape == (3, 80, 5) and mask.sum(1).tolist() == [37, 80, 12]
    sample = torch.tensor([0, 0, 1, 1, 1, 2])
    begin = torch.tensor([0, 30, 5, 40, 79, 3])
    end = torch.tensor([10, 37, 50, 80, 80, 12])
    frames, key_mask = gather_windows(features, sample, begin, end)
    assert frames.shape == (6, 45, 5) and key_mask.shape == (6, 45)
    for w in range(6):
        n = int(end[w] - begin[w])
        torch.testing.assert_close(frames[w, :n], seqs[sample[w]][begin[w]:end[w]], rtol=0, atol=1e-5)
        assert key_mask[w, :n].all() and not key_mask[w, n:].any()
        assert (frames[w, n:] == 0).all()


def test_windows_of_real_durations_cover_each_utterance():
    # every frame whose centre lies inside an utterance belongs to its window
    rate, starts, ends = 50.0, [0.37, 2.01, 4.555], [1.93, 4.2, 7.0]
    begin, end = utterance_windows(starts, ends, rate, 400)
    for s, e, b, n in zip(starts, ends, begin, end):
        centres = [(k + 0.5) / rate for k in range(400)]
        inside = [k for k, c in enumerate(centres) if s <= c <= e]
        assert b <= inside[0] and n - 1 >= inside[-1]
        assert b == math.floor(s * rate) and n == math.ceil(e * rate)
