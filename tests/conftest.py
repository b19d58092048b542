"""Shared fixtures: tiny random AcoustEmo models and examples (hidden 32, 2 layers, 4 queries, vocab 260)."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

from acoustemo.config import Config, ModelConfig
from acoustemo.data.collate import Example
from acoustemo.data.manifest import Utterance

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
