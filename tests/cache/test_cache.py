import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from acoustemo.cache import FeatureCache, encoder_key
from acoustemo.cache.extract import extract, parse_shard
from acoustemo.data.manifest import read_manifest
from acoustemo.encoders import build_audio_encoder, build_visual_encoder
from acoustemo.errors import InputError

FIX = Path(__file__).parents[1] / "fixtures"
CLIPS = sorted((FIX / "ravdess/audio").glob("*/*.flac"))[:8]


@pytest.fixture(scope="module")
def whisper():
    return build_audio_encoder("whisper")


@pytest.fixture(scope="module")
def fer():
    return build_visual_encoder("fer", frame_rate=2.0)


def _manifest(path: Path, media: list[Path]) -> Path:
    path.write_text("".join(json.dumps({"id": f"s{i}", "media": str(m)}) + "\n" for i, m in enumerate(media)))
    return path


def _entries(root: Path) -> dict[str, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    return {str(p.relative_to(root)): load_file(str(p)) for p in sorted(root.rglob("*.safetensors"))}


def test_extract_and_load_audio_and_video(tmp_path, whisper, fer, media_synth):
    video = media_synth.write_video(tmp_path / "face.mp4", seconds=2.0, fps=10)
    manifest = _manifest(tmp_path / "m.jsonl", [video, CLIPS[0], CLIPS[0]])  # duplicate content runs once
    samples = read_manifest(manifest)
    cache = FeatureCache(tmp_path / "cache")
    report = extract(samples, cache, whisper, fer, progress=False)
    assert report.computed == 4 and report.reused == 0
    assert report.audio_key == encoder_key(whisper) and report.audio_key.startswith("whisper-")
    f = cache.load(samples[0], report.audio_key, report.visual_key)
    assert abs(f.audio.shape[0] - 100) <= 2 and f.audio.shape[1] == 384 and f.audio_rate == 50.0  # 2 s at 50 Hz (+ AAC priming)
    assert f.visual.shape == (4, 129) and f.visual_rate == 2.0 and (f.visual[:, 128] == 1).all()
    torch.testing.assert_close(f.visual_times, torch.tensor([0.0, 0.5, 1.0, 1.5], dtype=torch.float64))
    g = cache.load(samples[1], report.audio_key, report.visual_key)
    assert g.visual.shape == (0, 129)  # audio-only media: an explicit empty visual entry
    assert torch.equal(cache.load(samples[2], report.audio_key).audio, g.audio)
    again = extract(samples, cache, whisper, fer, progress=False)
    assert again.computed == 0 and again.reused == 4
    assert set(cache.keys("audio")) == {report.audio_key}
    with pytest.raises(InputError, match="sample 's0'.*no audio features"):
        cache.load(samples[0], "whisper-000000000000")


def test_settings_change_the_key(whisper):
    other = build_audio_encoder("whisper", backend="torch")
    assert encoder_key(other) == encoder_key(whisper)  # same weights, same features
    from acoustemo.encoders.imagebind import ImageBindAudio, ImageBindAudioConfig

    tiny = ImageBindAudio(ImageBindAudioConfig(embed_dim=16, depth=1, num_heads=2, out_dim=8))
    a = build_audio_encoder("imagebind", model=tiny, hop=0.5)
    b = build_audio_encoder("imagebind", model=tiny, hop=0.25)
    assert encoder_key(a) != encoder_key(b)


def test_extract_errors_name_the_sample(tmp_path, whisper):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk" * 10)
    samples = read_manifest(_manifest(tmp_path / "m.jsonl", [CLIPS[1], bad]))
    cache = FeatureCache(tmp_path / "c")
    with pytest.raises(InputError, match=r"sample 's1'.*bad\.wav"):
        extract(samples, cache, whisper, None, progress=False)
    report = extract(samples, cache, whisper, None, progress=False, skip_errors=True)
    assert len(report.failed) == 1 and "s1" in report.failed[0] and report.reused == 1


def test_shards_split_the_work(tmp_path, whisper):
    samples = read_manifest(_manifest(tmp_path / "m.jsonl", CLIPS[:3]))
    assert parse_shard("1/2") == (1, 2)
    with pytest.raises(InputError):
        parse_shard("2/2")
    a, b = FeatureCache(tmp_path / "a"), FeatureCache(tmp_path / "b")
    extract(samples, a, whisper, None, shard=(0, 2), progress=False)
    extract(samples, b, whisper, None, shard=(1, 2), progress=False)
    assert len(_entries(a.root)) == 2 and len(_entries(b.root)) == 1


def test_cache_hit_reads_a_memory_mapped_tensor(tmp_path):
    cache = FeatureCache(tmp_path)
    x = torch.randn(40, 8)
    cache.put("audio", "k-1", "ab" * 32, x, 50.0)
    e = cache.get("audio", "k-1", "ab" * 32)
    assert torch.equal(e.features, x) and e.frame_rate == 50.0
    # a corrupt file under a final name (e.g. copied in by hand) is reported, not silently used
    cache.entry_path("audio", "k-1", "cd" * 32).parent.mkdir(parents=True)
    cache.entry_path("audio", "k-1", "cd" * 32).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(InputError, match="corrupt cache entry"):
        cache.get("audio", "k-1", "cd" * 32)


@pytest.mark.slow
def test_kill_and_resume_gives_the_clean_cache(tmp_path, whisper):
    manifest = _manifest(tmp_path / "m.jsonl", CLIPS)
    clean = FeatureCache(tmp_path / "clean")
    extract(read_manifest(manifest), clean, whisper, None, progress=False)

    root = tmp_path / "killed"
    cmd = [sys.executable, "-m", "acoustemo.cli", "extract", "--manifest", str(manifest), "--cache", str(root),
           "--visual", "none"]
    env = dict(os.environ)  # same threads as the clean run above: bitwise-equal results
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(root.rglob("*.safetensors"))) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _entries(root)
    assert 2 <= len(partial) < len(CLIPS), "the worker was not killed mid-run"
    clean_entries = _entries(clean.root)
    for name, tensors in partial.items():  # whatever exists under a final name is complete and right
        assert torch.equal(tensors["features"], clean_entries[name]["features"])
    done = set(partial)
    mtimes = {p: (root / p).stat().st_mtime_ns for p in done}

    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"reused {len(done)}" in proc.stdout  # the summary is the result: on stdout
    resumed = _entries(root)
    assert set(resumed) == set(clean_entries)
    for name in resumed:
        assert torch.equal(resumed[name]["features"], clean_entries[name]["features"]), name
    assert all((root / p).stat().st_mtime_ns == t for p, t in mtimes.items())  # finished files not recomputed
    # a write cut by the kill can only leave a hidden temporary file, never a file under a final name
    leftovers = [p for p in root.rglob("*") if p.is_file() and p.suffix not in (".safetensors", ".json")]
    assert all(p.name.startswith(".") and p.suffix == ".tmp" for p in leftovers), leftovers
