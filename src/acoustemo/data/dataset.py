"""A manifest plus its feature cache as a map-style dataset of :class:`~acoustemo.data.collate.Example`.

    ds = FeatureDataset.from_manifest("train.jsonl", "features/", audio_key="whisper", visual_key="fer")
    ds[0]  # Example(id, audio (L, 384) at 50 Hz, utterances, visual (T, 129), labels)

Encoder keys name the cache entries (``acoustemo extract`` prints them, ``--list-keys`` lists them). A key
may be given in full (``whisper-1a2b3c4d5e6f``), as the encoder's name when the cache holds only one key
of that name (``whisper``), or left out when the cache holds exactly one key of that kind.

Every sample's entries are checked when the dataset is built, so a missing feature stops the run
before the first step with the sample's id, not in the middle of an epoch. Audio-only media have a
visual entry with no rows; they get one all-zero frame, which for the FER features is the "no face"
frame (its face flag is 0), so that a model with visual tokens still sees a well-defined input.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..cache.store import FeatureCache, encoder_name
from ..errors import InputError
from .collate import Example
from .manifest import Sample, read_manifest
from .speakers import baseline_key, speaker_statistics


def resolve_key(cache: FeatureCache, kind: str, key: str | None) -> str:
    """The full encoder key for ``kind`` ("audio" / "visual") from a full key, an encoder name or None."""
    known = cache.keys(kind)
    if key in known:
        return key
    if key is None:
        candidates = list(known)
    else:
        candidates = [k for k in known if encoder_name(k) == key]
    if len(candidates) == 1:
        return candidates[0]
    listing = ", ".join(known) or "none"
    if not candidates:
        what = f"no {kind} key {key!r}" if key else f"no {kind} features"
        raise InputError(f"{cache.root}: {what} in the feature cache (keys there: {listing}); "
                         f"run 'acoustemo extract' or set the key")
    raise InputError(f"{cache.root}: several {kind} keys match {key or 'any'!r} ({listing}); "
                     f"name one in full (train.{kind}_key)")


class FeatureDataset(torch.utils.data.Dataset):
    """``samples[i]`` with its cached features, as an :class:`Example`.

    Args:
        samples: manifest samples (``read_manifest``).
        cache: the feature cache holding their frozen-encoder outputs.
        audio_key: full audio encoder key (see :func:`resolve_key`).
        visual_key: full visual encoder key, or None for a model without visual tokens.
        require_labels: refuse samples without labels (training and scoring need them).
        source: the manifest's path, for messages.
    """

    def __init__(self, samples: list[Sample], cache: FeatureCache, *, audio_key: str, visual_key: str | None = None,
                 require_labels: bool = False, source: str | os.PathLike = "manifest"):
        self.samples = samples
        self.cache = cache
        self.audio_key = audio_key
        self.visual_key = visual_key
        self.source = str(source)
        problems = []
        for s in samples:
            if require_labels and not s.labels:
                problems.append(f"{self.source}: sample {s.id!r}, field 'labels': missing or empty")
                continue
            h = cache.media_hash(s.media_path)
            for kind, key in (("audio", audio_key), ("visual", visual_key)):
                if key is not None and not cache.has(kind, key, h):
                    problems.append(f"{self.source}: sample {s.id!r}, field 'media': no {kind} features for "
                                    f"{s.media_path} under {key!r} in {cache.root} (run 'acoustemo extract')")
        if problems:
            raise InputError.from_problems(problems, "missing entries")
        if not samples:
            raise InputError(f"{self.source}: the manifest has no samples")
        self._baseline = None  # (SpeakerBaseline, statistics per baseline key, mode): see speaker_relative

    @classmethod
    def from_manifest(cls, manifest: str | os.PathLike, cache_dir: str | os.PathLike, *, audio_key: str | None,
                      visual_key: str | None, use_visual: bool, require_labels: bool = False) -> "FeatureDataset":
        """Read ``manifest`` and resolve the encoder keys in ``cache_dir`` (visual only if ``use_visual``)."""
        if not Path(cache_dir).is_dir():
            raise InputError(f"{cache_dir}: feature cache folder not found (run 'acoustemo extract --cache ...')")
        cache = FeatureCache(cache_dir)
        samples = read_manifest(manifest, check_media=True)
        audio = resolve_key(cache, "audio", audio_key)
        visual = resolve_key(cache, "visual", visual_key) if use_visual else None
        return cls(samples, cache, audio_key=audio, visual_key=visual, require_labels=require_labels, source=manifest)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Example:
        return self.example(i)

    def example(self, i: int, *, relative: bool = True) -> Example:
        """Sample ``i`` as an :class:`Example`; ``relative=False``: its raw frames even after
        :meth:`speaker_relative` (``train.speaker_baseline_dropout``)."""
        s = self.samples[i]
        f = self.cache.load(s, self.audio_key, self.visual_key)
        visual = None
        if self.visual_key is not None:
            visual = f.visual
            if visual.shape[0] == 0:  # audio-only media: one "no face" frame
                visual = visual.new_zeros(1, visual.shape[1])
        ex = Example(id=s.id, audio=f.audio, frame_rate=f.audio_rate, utterances=list(s.utterances or []),
                     visual=visual, labels=list(s.labels) if s.labels else None, speaker=s.speaker)
        if self._baseline is not None and relative:
            baseline, stats, mode = self._baseline
            ex = baseline.apply(ex, stats[baseline_key(ex, mode)])
        return ex

    def speaker_relative(self, baseline, mode: str) -> "FeatureDataset":
        """From now on, every example comes with its frames normalised by its speaker's baseline
        (:class:`~acoustemo.data.speakers.SpeakerBaseline`, ``mode`` "speaker" or "recording"), the speakers'
        statistics pooled over this dataset's own samples (computed here, once). Returns ``self``."""
        self._baseline = None
        if mode == "none":
            return self
        self._baseline = (baseline, speaker_statistics((self.example(i) for i in range(len(self))), mode), mode)
        return self

    def dims(self) -> dict[str, int | None]:
        """Feature sizes recorded in the cache: ``{"audio": d, "visual": d_v or None}``."""
        out: dict[str, int | None] = {"audio": None, "visual": None}
        for kind, key in (("audio", self.audio_key), ("visual", self.visual_key)):
            if key is not None:
                out[kind] = self.cache.keys(kind)[key].get("dim")
        return out


def prepared_for(ds: FeatureDataset, model) -> FeatureDataset:
    """``ds`` with its frames prepared as ``model`` (an AcoustEmo or a stage-1 classifier) was trained on them:
    speaker-relative as its ``speaker_normalization`` says (:mod:`acoustemo.data.speakers`), the statistics of
    each speaker pooled over ``ds``'s own samples. Unchanged for a model without it."""
    from .speakers import SpeakerBaseline

    mode = model.config.speaker_normalization
    if mode == "none":
        return ds
    return ds.speaker_relative(SpeakerBaseline.of_model(model, ds[0].frame_rate), mode)


def require(cfg, *keys: str) -> None:
    """Each ``train.<key>`` must be set (paths of the data and the run)."""
    from ..errors import ConfigError

    for key in keys:
        if getattr(cfg.train, key) is None:
            raise ConfigError(f"train.{key} is not set: give it in the YAML or as --train.{key}=...")


def dataset_for(cfg, manifest: str | os.PathLike, *, require_labels: bool) -> FeatureDataset:
    """The :class:`FeatureDataset` of ``manifest`` in ``cfg.train.cache_dir`` (``cfg``: a
    :class:`~acoustemo.config.Config`), its feature sizes checked against the model."""
    from ..errors import ConfigError

    require(cfg, "cache_dir")
    ds = FeatureDataset.from_manifest(manifest, cfg.train.cache_dir, audio_key=cfg.train.audio_key,
                                      visual_key=cfg.train.visual_key, use_visual=cfg.model.use_visual,
                                      require_labels=require_labels)
    dims = ds.dims()
    for kind, want in (("audio", cfg.model.audio_dim), ("visual", cfg.model.visual_dim if cfg.model.use_visual else None)):
        if dims[kind] is not None and want is not None and dims[kind] != want:
            raise ConfigError(f"model.{kind}_dim={want} but the {kind} features in {cfg.train.cache_dir} under "
                              f"{getattr(ds, f'{kind}_key')!r} have {dims[kind]} dimensions")
    return ds
