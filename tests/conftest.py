"""Shared test factories: tiny random AcoustEmo models, examples and checkpoints (hidden 32, 2 layers, 4 queries,
vocab 260), and an on-disk corpus with a real feature cache for the training tests.

The corpus's media files hold random bytes (the cache addresses entries by content hash, nothing decodes them);
the features are written through :class:`FeatureCache` under the key of a small stand-in encoder, so the real
dataset, key resolution and collate code run. Each sample's audio carries a class signal (a per-class offset
in the frames of its utterances) and its labels name that class.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

from acoustemo.cache.store import FeatureCache
from acoustemo.config import Config, ModelConfig, load_config
from acoustemo.data.collate import Example
from acoustemo.data.manifest import Sample, Utterance, write_manifest

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # present beside a checkout in CI


def tiny_config(**changes) -> ModelConfig:
    """The ``tiny`` preset's model config with field changes (``windows="fixed"``...)."""
    return dataclasses.replace(Config.from_name("tiny").model, **changes)


def make_example(id: str = "s0", *, seconds: float = 4.0, frame_rate: float = 50.0, audio_dim: int = 16,
                 visual_dim: int = 8, frames: int = 4, utterances=((0.2, 1.3, "hello there"), (1.6, 3.5, "bye now")),
                 labels=("happy", "calm"), seed: int = 0) -> Example:
    g = torch.Generator().manual_seed(seed)
    length = round(seconds * frame_rate)
    return Example(
        id=id,
        audio=torch.randn(length, audio_dim, generator=g),
        frame_rate=frame_rate,
        utterances=[Utterance(s, e, t) for s, e, t in utterances],
        visual=torch.randn(frames, visual_dim, generator=g),
        labels=list(labels) if labels is not None else None,
    )


@pytest.fixture
def tiny_model():
    from acoustemo.model import AcoustEmo

    torch.manual_seed(0)
    return AcoustEmo.from_config(tiny_config()).eval()


@pytest.fixture(scope="session")
def media_synth():
    """tests/fixtures/media/synth.py: small media files (wav, flac, mp3, m4a, mkv, mp4) made by the tests."""
    spec = importlib.util.spec_from_file_location("media_synth", FIXTURES / "media" / "synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_checkpoint(folder: Path, *overrides: str, audio_key: str = "whisper", poison: str | None = None) -> Path:
    """A tiny model over Whisper tiny.en features (384-d), saved as training saves it (``overrides`` of its
    config; ``poison``: a tensor made NaN)."""
    from acoustemo.model import AcoustEmo

    cfg = load_config("tiny", ["model.audio_dim=384", "model.use_visual=false", f"train.audio_key={audio_key}",
                               *overrides])
    torch.manual_seed(cfg.train.seed)
    model = AcoustEmo.from_config(cfg.model)
    if poison is not None:
        with torch.no_grad():
            dict(model.named_parameters())[poison].fill_(float("nan"))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_trainable(folder / "trainable.safetensors")
    (folder / "config.yaml").write_text(cfg.to_yaml())
    return folder


CLASSES = (["happy", "excited"], ["sad"], ["angry", "annoyed"], ["calm"])
AUDIO_DIM, VISUAL_DIM, FRAME_RATE = 16, 8, 50.0


class StandInEncoder:
    """Just what ``FeatureCache.register`` reads: name, settings, dim, frame rate."""

    def __init__(self, name: str, dim: int, frame_rate: float):
        self.name, self.dim, self.frame_rate = name, dim, frame_rate

    def settings(self) -> dict:
        return {"random": True, "dim": self.dim}


def make_corpus(root: Path, *, sizes=(("train", 16), ("validation", 4), ("test", 4)), seed: int = 0,
                speakers: int = 0) -> dict:
    """Write ``root/<split>.jsonl``, ``root/media/*.bin`` and ``root/cache``; returns their paths. ``speakers`` > 0:
    sample ``k`` names speaker ``spk<k mod speakers>``, whose voice shifts every frame by its own offset."""
    g = torch.Generator().manual_seed(seed)
    cache = FeatureCache(root / "cache")
    audio_key = cache.register("audio", StandInEncoder("randaudio", AUDIO_DIM, FRAME_RATE))
    visual_key = cache.register("visual", StandInEncoder("randvisual", VISUAL_DIM, 2.0))
    paths = {"cache": root / "cache", "audio_key": audio_key, "visual_key": visual_key}
    k = 0
    for split, n in sizes:
        samples = []
        for _ in range(n):
            sid = f"{split}{k:03d}"
            cls = k % len(CLASSES)
            media = root / "media" / f"{sid}.bin"
            media.parent.mkdir(parents=True, exist_ok=True)
            media.write_bytes(torch.randint(0, 256, (64,), generator=g, dtype=torch.uint8).numpy().tobytes())
            seconds = 2.0 + float(torch.rand((), generator=g)) * 2.0
            n_utt = 1 + k % 3
            edges = torch.linspace(0.1, seconds - 0.1, 2 * n_utt).tolist()
            utterances = [Utterance(round(edges[2 * i], 2), round(edges[2 * i + 1], 2), f"line {i} of {sid}")
                          for i in range(n_utt)]
            frames = round(seconds * FRAME_RATE)
            audio = torch.randn(frames, AUDIO_DIM, generator=g)
            for u in utterances:
                audio[int(u.start * FRAME_RATE):int(u.end * FRAME_RATE), cls] += 3.0
            speaker = f"spk{k % speakers}" if speakers else None
            if speaker:
                audio += torch.linspace(-2.0, 2.0, AUDIO_DIM) * (k % speakers - 1)
            h = cache.media_hash(media)
            cache.put("audio", audio_key, h, audio, FRAME_RATE)
            cache.put("visual", visual_key, h, torch.randn(4, VISUAL_DIM, generator=g), 2.0,
                      times=torch.arange(4) / 2.0)
            samples.append(Sample(sid, f"media/{sid}.bin", utterances, list(CLASSES[cls]), speaker=speaker))
            k += 1
        write_manifest(root / f"{split}.jsonl", samples)
        paths[split] = root / f"{split}.jsonl"
    return paths


def tiny_train_config(corpus: dict, out: Path, *overrides: str):
    """The ``tiny`` preset pointed at ``corpus`` and ``out``, with extra ``key=value`` overrides."""
    return load_config("tiny", [
        f"train.train_manifest={corpus['train']}", f"train.validation_manifest={corpus['validation']}",
        f"train.test_manifest={corpus['test']}", f"train.cache_dir={corpus['cache']}", f"train.output_dir={out}",
        *overrides,
    ])


def assert_same_weights(a: dict, b: dict, lr: float) -> None:
    """Two runs that saw the same global batches: gradients agree to float32 rounding, but AdamW divides each
    gradient by its own running RMS, so an element whose gradient is rounding noise (|g| ~ 1e-9) can move by
    up to ~lr either way. Hence: 99.9 % of the elements within 1e-6, and every element within 2 % of lr."""
    assert a.keys() == b.keys()
    diff = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    assert float((diff <= 1e-6).float().mean()) >= 0.999, f"{int((diff > 1e-6).sum())} of {diff.numel()} differ"
    assert float(diff.max()) <= 0.02 * lr, float(diff.max())


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a shared machine extra threads only wait for each other
    (a module opts in: ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
