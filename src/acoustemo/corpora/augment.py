"""Training audio heard as real recordings are: noisy, quiet, reverberant, band-limited.

Each training sample gets ``copies`` augmented versions. A version draws, from its own seed (the corpus seed, the
sample's index, the copy), an :class:`Augmentation`:

    noise     pink noise (the SNR sweep's) or babble: the sum of 3-5 clips of *other* training speakers,
              at an SNR drawn uniformly in [snr_min, snr_max] dB (speech power inside the utterances over
              noise power); ``noise_fraction`` of the versions get noise
    gain      a level change drawn uniformly in [gain_min, gain_max] dB (quiet recordings are common), the
              result clipped to [-1, 1]
    channel   ``telephone`` (a 300-3400 Hz band-pass), ``reverb`` (an exponentially decaying noise impulse
              response, RT60 0.2-0.6 s, mixed in at 30-60 %), or none, with the given shares

The same seed gives the same audio, bit for bit. The augmented files are written as 16-bit WAV with a manifest
whose ids are ``<id>~aug<k>`` (utterances, labels and speaker as the clean sample's), so ``acoustemo extract``
caches their features under their own content hashes, apart from the clean ones, and ``acoustemo merge`` adds
them to a training set:

    acoustemo augment --manifest data/release/train.jsonl --out data/release/augmented --copies 1
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from .manipulations import add_noise, pink_noise, speech_mask

SAMPLE_RATE = 16000
CHANNELS = ("none", "telephone", "reverb")


@dataclass(frozen=True)
class AugmentConfig:
    copies: int = 1
    seed: int = 0
    noise_fraction: float = 0.8  # share of versions with added noise
    babble_fraction: float = 0.5  # of those, the share with babble instead of pink noise
    snr_min: float = 0.0
    snr_max: float = 30.0
    gain_min: float = -30.0
    gain_max: float = 6.0
    telephone_fraction: float = 0.15
    reverb_fraction: float = 0.15

    def __post_init__(self):
        if self.copies < 1:
            raise ConfigError(f"copies must be >= 1, got {self.copies}")
        for name in ("noise_fraction", "babble_fraction", "telephone_fraction", "reverb_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.telephone_fraction + self.reverb_fraction > 1.0:
            raise ConfigError("telephone_fraction + reverb_fraction must be <= 1")
        if not (self.snr_min <= self.snr_max and self.gain_min <= self.gain_max):
            raise ConfigError("need snr_min <= snr_max and gain_min <= gain_max")


@dataclass(frozen=True)
class Augmentation:
    """What one augmented version of a sample is (drawn by :func:`draw`, written to ``augment.jsonl``)."""

    noise: str | None  # "pink", "babble" or None
    snr_db: float | None
    gain_db: float
    channel: str  # one of CHANNELS
    rt60: float | None = None  # s, for reverb
    wet: float | None = None  # reverb mix


def rng_for(seed: int, index: int, copy: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, copy, 0xA06])


def draw(config: AugmentConfig, rng: np.random.Generator) -> Augmentation:
    """One version's augmentation, from ``rng`` (:func:`rng_for`)."""
    noisy = rng.random() < config.noise_fraction
    noise = ("babble" if rng.random() < config.babble_fraction else "pink") if noisy else None
    snr = round(float(rng.uniform(config.snr_min, config.snr_max)), 2) if noisy else None
    gain = round(float(rng.uniform(config.gain_min, config.gain_max)), 2)
    u = rng.random()
    channel = "telephone" if u < config.telephone_fraction else \
        "reverb" if u < config.telephone_fraction + config.reverb_fraction else "none"
    rt60 = round(float(rng.uniform(0.2, 0.6)), 3) if channel == "reverb" else None
    wet = round(float(rng.uniform(0.3, 0.6)), 3) if channel == "reverb" else None
    return Augmentation(noise, snr, gain, channel, rt60, wet)


def telephone(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A 300-3400 Hz band-pass (4th-order Butterworth, zero phase): the sound of a phone line."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=sr, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def reverb(x: np.ndarray, rt60: float, wet: float, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` in a room: convolved with decaying noise (60 dB down after ``rt60`` s), mixed in at ``wet``, at the
    dry signal's RMS."""
    from scipy.signal import fftconvolve

    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000): -60 dB at rt60
    ir[0] = 1.0
    y = fftconvolve(x, ir)[: len(x)]
    y *= np.sqrt(np.mean(x.astype(np.float64) ** 2) / max(np.mean(y**2), 1e-20))
    return ((1 - wet) * x + wet * y).astype(np.float32)


def babble(n: int, others: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS babble of ``n`` samples: 3-5 of ``others`` (other speakers' speech), each looped from a random
    offset, summed."""
    if not others:
        raise InputError("babble noise needs clips of other training speakers; the manifest has one speaker only")
    k = int(rng.integers(3, 6))
    y = np.zeros(n, np.float64)
    for j in rng.choice(len(others), size=k, replace=len(others) < k):
        clip = others[int(j)]
        start = int(rng.integers(len(clip)))
        idx = (start + np.arange(n)) % len(clip)
        y += clip[idx] / max(np.sqrt(np.mean(clip.astype(np.float64) ** 2)), 1e-12)
    return (y / max(np.sqrt(np.mean(y**2)), 1e-12)).astype(np.float32)


def apply(x: np.ndarray, aug: Augmentation, speech: np.ndarray, rng: np.random.Generator,
          others: list[np.ndarray] | None = None) -> np.ndarray:
    """``x`` (float32 at 16 kHz) augmented as ``aug`` says: channel, then noise, then gain (clipped to [-1, 1]).
    ``speech``: boolean mask of the samples inside utterances (the SNR's speech power); ``others``: other
    speakers' clips for babble."""
    y = x.astype(np.float32)
    if aug.channel == "telephone":
        y = telephone(y)
    elif aug.channel == "reverb":
        y = reverb(y, aug.rt60, aug.wet, rng)
    if aug.noise is not None:
        noise = pink_noise(len(y), rng) if aug.noise == "pink" else babble(len(y), others or [], rng)
        y = add_noise(y, aug.snr_db, speech, rng, noise)
    y = y * np.float32(10 ** (aug.gain_db / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def augment_manifest(manifest: str | Path, out: str | Path, config: AugmentConfig, *,
                     progress: bool = True) -> list:
    """Write ``config.copies`` augmented versions of every sample of ``manifest`` into ``out``: ``audio/*.wav``,
    ``train.jsonl`` (the augmented samples) and ``augment.jsonl`` (each version's :class:`Augmentation`).
    Finished files are kept when the same call runs again (resume); a different config in the same ``out`` is
    refused. Returns the augmented samples."""
    import soundfile as sf
    from tqdm import tqdm

    from ..data.manifest import read_manifest, write_manifest
    from ..io import atomic_open, atomic_write_json, read_json
    from ..media import load_audio

    manifest, out = Path(manifest), Path(out)
    samples = read_manifest(manifest, check_media=True)
    settings = {**asdict(config), "manifest": str(manifest.resolve())}
    done = out / "config.json"
    if done.is_file() and read_json(done) != settings:
        raise InputError(f"{out}: augmented before with other settings ({done}); use another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(done, settings)

    def audio(s):
        try:
            return load_audio(s.media_path)
        except InputError as e:
            raise InputError(f"{manifest}: sample {s.id!r}, field 'media': {e}") from None

    pool: dict[str, list[np.ndarray]] = {}  # speaker -> a few clean clips, the babble of the others
    needs_babble = config.noise_fraction > 0 and config.babble_fraction > 0
    rows, records = [], []
    bar = tqdm(total=len(samples) * config.copies, desc="augment", unit="file", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    for index, s in enumerate(samples):
        wav = None
        for copy in range(config.copies):
            rng = rng_for(config.seed, index, copy)
            aug = draw(config, rng)
            name = f"audio/{index:05d}-{copy}.wav"
            if not (out / name).is_file():
                wav = audio(s) if wav is None else wav
                others = None
                if aug.noise == "babble":
                    if not pool and needs_babble:
                        pool = babble_pool(samples, audio)
                    others = [c for sp, clips in pool.items() if sp != (s.speaker or s.id) for c in clips]
                y = apply(wav, aug, speech_mask(len(wav), s.utterances), rng, others)
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                with atomic_open(out / name, "wb") as f:
                    sf.write(f, y, SAMPLE_RATE, format="WAV", subtype="PCM_16")
            rows.append(replace(s, id=f"{s.id}~aug{copy}", media=name, root=out))
            records.append({"id": rows[-1].id, "source": s.id, **asdict(aug)})
            bar.update(1)
    bar.close()
    write_manifest(out / "train.jsonl", rows)
    with atomic_open(out / "augment.jsonl", "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    return rows


def babble_pool(samples, audio, per_speaker: int = 3) -> dict[str, list[np.ndarray]]:
    """Up to ``per_speaker`` clean clips of each speaker (the first of the manifest), keyed by speaker (or, for a
    sample without one, its id)."""
    pool: dict[str, list[np.ndarray]] = {}
    for s in samples:
        key = s.speaker or s.id
        if len(pool.setdefault(key, [])) < per_speaker:
            pool[key].append(audio(s))
    return pool
