import csv
from pathlib import Path

import numpy as np
import pytest

from acoustemo.errors import InputError
from acoustemo.media import MediaError, load_audio, load_frames, probe

FIX = Path(__file__).parents[1] / "fixtures"


@pytest.mark.parametrize("corpus", ["ravdess", "emodb"])
def test_real_clips_decode_to_16k_mono_float32(corpus):
    rows = list(csv.DictReader(open(FIX / corpus / "metadata.csv")))[:4]
    for r in rows:
        path = FIX / corpus / r["file"]
        wav = load_audio(path)
        assert wav.dtype == np.float32 and wav.ndim == 1
        info = probe(path)
        assert abs(len(wav) / 16000 - info.duration) < 0.05  # FLAC at 16 kHz: same length
        assert 0.001 < np.sqrt(np.mean(wav ** 2)) < 0.5 and np.abs(wav).max() <= 1.0


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".m4a", ".mkv"])
def test_audio_containers_resample_and_downmix(tmp_path, media_synth, ext):
    path = media_synth.write_audio(tmp_path / f"tone{ext}", seconds=1.5, rate=44100, channels=2, freq=440.0)
    wav = load_audio(path)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) / 16000 - 1.5) < 0.06  # codecs add at most a frame of priming
    mid = wav[4000:20000]
    assert abs(np.sqrt(np.mean(mid ** 2)) - 0.5 / np.sqrt(2)) < 0.03  # channels averaged, not summed
    spectrum = np.abs(np.fft.rfft(mid))
    assert abs(np.argmax(spectrum) * 16000 / len(mid) - 440.0) < 2.0  # resampled to 16 kHz correctly


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_video_audio_and_frames(tmp_path, media_synth, ext):
    path = media_synth.write_video(tmp_path / f"clip{ext}", seconds=2.0, fps=10)
    info = probe(path)
    assert info.has_audio and info.has_video and abs(info.video_fps - 10) < 1e-6
    wav = load_audio(path)
    assert abs(len(wav) / 16000 - 2.0) < 0.06
    frames, times = load_frames(path, fps=2.0)
    assert frames.shape == (4, 256, 256, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(times, [0.0, 0.5, 1.0, 1.5], atol=1e-6)
    assert not np.array_equal(frames[0], frames[1])  # distinct frames (the bar moves)
    small, _ = load_frames(path, fps=2.0, max_side=64)
    assert small.shape[1:] == (64, 64, 3)


def test_frames_at_a_rate_above_the_video_rate_take_each_frame_once(tmp_path, media_synth):
    path = media_synth.write_video(tmp_path / "clip.mp4", seconds=1.0, fps=5, audio=False)
    frames, times = load_frames(path, fps=30.0)
    assert len(frames) == 5 and np.all(np.diff(times) > 0)


def test_bad_inputs_raise_one_clear_error(tmp_path, media_synth):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    text = tmp_path / "notes.txt"
    text.write_text("not media at all\n" * 50)
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes((FIX / "ravdess/audio/Actor_01/03-01-01-01-01-01-01.flac").read_bytes()[:300])
    silent_video = media_synth.write_video(tmp_path / "noaudio.mp4", seconds=1.0, fps=5, audio=False)
    cases = {tmp_path / "missing.wav": "not found", empty: "empty file", garbage: "", text: "",
             truncated: "", silent_video: "without an audio track"}
    for path, reason in cases.items():
        with pytest.raises(MediaError) as e:
            load_audio(path)
        msg = str(e.value)
        assert isinstance(e.value, InputError) and str(path) in msg and reason in msg and "\n" not in msg
    with pytest.raises(MediaError, match="no video stream"):
        load_frames(FIX / "emodb/audio/03a01Nc.flac", fps=1.0)


def test_decode_error_reaches_cli_as_one_line(tmp_path):
    from acoustemo.cli import main

    bad = tmp_path / "bad.m4a"
    bad.write_bytes(b"\x00" * 1000)
    assert main(["transcribe", str(bad)]) == 2
