"""The feature cache: frozen-encoder outputs stored once per media file, as safetensors.

Layout under ``root``::

    audio/<encoder key>/settings.json                 the encoder's name and settings (the key's preimage)
    audio/<encoder key>/<h[:2]>/<h>.safetensors       one entry per media content hash h
    visual/<encoder key>/...                          same for visual encoders
    hashes/<sha1 of the media path>.json              media path, size, mtime -> content hash (a memo)

An encoder key is ``<name>-<first 12 hex of sha256(settings as canonical JSON)>``, so other weights, a
different layer or hop give another key, and the same settings give the same key on any machine. An
entry holds ``features`` ``(L, d)`` float32 (visual entries also ``times`` ``(T,)`` float64 seconds)
and string metadata: ``frame_rate`` (Hz), ``key``, ``duration``. Every file is written to a temporary
name and renamed into place, so a killed writer never leaves a partial entry under a final name.
Reads are memory-mapped (``safetensors.safe_open``): a training loop can call :meth:`FeatureCache.load`
per sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError
from ..io import atomic_write_bytes, atomic_write_json

KINDS = ("audio", "visual")


def encoder_key(encoder) -> str:
    """``"whisper-1a2b3c4d5e6f"``: the encoder's name and a hash of its ``settings()``."""
    blob = json.dumps({"name": encoder.name, "settings": encoder.settings()}, sort_keys=True, separators=(",", ":"))
    return f"{encoder.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def encoder_name(key: str) -> str:
    """``"whisper-0123456789ab"`` -> ``"whisper"``; a bare name (no settings hash) is returned as it is."""
    name, _, tail = key.rpartition("-")
    return name if name and len(tail) == 12 and all(c in "0123456789abcdef" for c in tail) else key


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class Entry:
    """One cached feature sequence: ``features`` ``(L, d)`` float32 at ``frame_rate`` Hz."""

    features: torch.Tensor
    frame_rate: float
    times: torch.Tensor | None = None  # visual: (T,) seconds of each frame
    meta: dict | None = None


@dataclass
class CachedFeatures:
    """What a training sample needs: audio ``(L, d)`` at ``audio_rate`` Hz, visual ``(T, d_v)`` at ``visual_rate``.

    ``visual`` has ``T = 0`` rows for audio-only media.
    """

    audio: torch.Tensor | None
    audio_rate: float | None
    visual: torch.Tensor | None
    visual_rate: float | None
    visual_times: torch.Tensor | None = None


class FeatureCache:
    """Frozen-encoder features on disk, addressed by (kind, encoder key, media content hash)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._hash_memo: dict[tuple[str, int, int], str] = {}
        self._unsaved: dict[str, list[dict]] = {}  # hash -> memo records written once the file has an entry

    # --- keys and paths -------------------------------------------------------------------------
    def register(self, kind: str, encoder) -> str:
        """Record an encoder's settings under its key (once) and return the key."""
        key = encoder_key(encoder)
        path = self.root / _kind(kind) / key / "settings.json"
        if not path.exists():
            atomic_write_json(path, {"name": encoder.name, "settings": encoder.settings(),
                                     "dim": encoder.dim, "frame_rate": encoder.frame_rate})
        return key

    def keys(self, kind: str) -> dict[str, dict]:
        """Encoder keys present in the cache for ``kind``, each with its recorded settings."""
        out = {}
        for p in sorted((self.root / _kind(kind)).glob("*/settings.json")):
            out[p.parent.name] = json.loads(p.read_text())
        return out

    def entry_path(self, kind: str, key: str, media_hash: str) -> Path:
        return self.root / _kind(kind) / key / media_hash[:2] / f"{media_hash}.safetensors"

    def media_hash(self, path: str | os.PathLike) -> str:
        """Content hash of a media file, memoised by (absolute path, size, mtime) in memory and on disk.

        The on-disk memo of a file is written only once the file has a cache entry (:meth:`put`, :meth:`load`):
        nothing about a file that is refused (not decodable media) stays behind.
        """
        p = Path(path).resolve()
        try:
            st = p.stat()
        except FileNotFoundError:
            raise InputError(f"{p}: media file not found") from None
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{p}: not a media file (a folder or a device)")
        memo_key = (str(p), st.st_size, st.st_mtime_ns)
        if memo_key in self._hash_memo:
            return self._hash_memo[memo_key]
        memo_file = self.root / "hashes" / f"{hashlib.sha1(str(p).encode()).hexdigest()}.json"
        h = None
        if memo_file.is_file():
            try:
                rec = json.loads(memo_file.read_text(encoding="utf-8"))
                if (rec.get("path"), rec.get("size"), rec.get("mtime_ns")) == memo_key:
                    h = rec["sha256"]
            except (ValueError, KeyError, AttributeError, RecursionError):
                h = None  # an unreadable memo is only a memo: recompute and rewrite it
        if h is None:
            h = content_hash(p)
            self._unsaved.setdefault(h, []).append(
                {"file": memo_file, "path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h})
        self._hash_memo[memo_key] = h
        return h

    def remember(self, media_hash: str) -> None:
        """Write the on-disk hash memo of the files hashed to ``media_hash`` (done once the file has an entry)."""
        for rec in self._unsaved.pop(media_hash, []):
            atomic_write_json(rec.pop("file"), rec)

    # --- entries --------------------------------------------------------------------------------
    def has(self, kind: str, key: str, media_hash: str) -> bool:
        return self.entry_path(kind, key, media_hash).is_file()

    def put(self, kind: str, key: str, media_hash: str, features: torch.Tensor, frame_rate: float, *,
            times: torch.Tensor | None = None, meta: dict | None = None) -> Path:
        """Store ``features`` ``(L, d)`` (float32) atomically; returns the entry's path."""
        from safetensors.torch import save

        if features.ndim != 2:
            raise ValueError(f"features must be (L, d), got {tuple(features.shape)}")
        tensors = {"features": features.detach().to("cpu", torch.float32).contiguous()}
        if times is not None:
            tensors["times"] = times.detach().to("cpu", torch.float64).contiguous()
        metadata = {"frame_rate": repr(float(frame_rate)), "key": key, "kind": kind,
                    **{k: str(v) for k, v in (meta or {}).items()}}
        path = self.entry_path(kind, key, media_hash)
        atomic_write_bytes(path, save(tensors, metadata=metadata))
        self.remember(media_hash)
        return path

    def get(self, kind: str, key: str, media_hash: str) -> Entry | None:
        """The entry, memory-mapped, or None if absent."""
        from safetensors import SafetensorError, safe_open

        path = self.entry_path(kind, key, media_hash)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                feats = f.get_tensor("features")
                times = f.get_tensor("times") if "times" in f.keys() else None
        except (SafetensorError, OSError) as e:
            raise InputError(f"{path}: corrupt cache entry ({e}); delete it and run 'acoustemo extract' again") from None
        return Entry(feats, float(meta["frame_rate"]), times, meta)

    def load(self, sample, audio_key: str | None, visual_key: str | None = None) -> CachedFeatures:
        """Features of a manifest sample (:class:`acoustemo.data.manifest.Sample`) by encoder keys.

        Raises :class:`InputError` naming the sample when an entry is missing (run ``acoustemo extract``).
        """
        h = self.media_hash(sample.media_path)
        out = CachedFeatures(None, None, None, None)
        for kind, key in (("audio", audio_key), ("visual", visual_key)):
            if key is None:
                continue
            e = self.get(kind, key, h)
            if e is None:
                raise InputError(f"sample {sample.id!r}, field 'media': no {kind} features for {sample.media_path} "
                                 f"under key {key!r} in {self.root} (run 'acoustemo extract')")
            if kind == "audio":
                out.audio, out.audio_rate = e.features, e.frame_rate
            else:
                out.visual, out.visual_rate, out.visual_times = e.features, e.frame_rate, e.times
        self.remember(h)
        return out


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind
