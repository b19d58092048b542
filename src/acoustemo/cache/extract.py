"""Run the frozen encoders once per media file into a :class:`FeatureCache` (resumable, shardable).

Work is the list of distinct media contents in the manifest (duplicates by content hash run once),
split between processes by position (``shard = (i, n)`` takes every n-th item starting at i). Each
(encoder, media) entry is written atomically as soon as it is computed, so a run killed at any moment
resumes with the entries it finished and recomputes only the rest.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from ..errors import InputError, excerpt
from ..media import SAMPLE_RATE, MediaError, load_audio, load_frames, probe
from .store import FeatureCache


@dataclass
class ExtractReport:
    computed: int = 0  # entries computed in this run
    reused: int = 0  # entries already in the cache
    audio_seconds: float = 0.0  # audio decoded and encoded in this run
    failed: list[str] = field(default_factory=list)  # "sample 'x': reason" (with skip_errors)
    audio_key: str | None = None
    visual_key: str | None = None


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"1/4"`` -> ``(1, 4)``; None -> from accelerate/torchrun's ``RANK``/``WORLD_SIZE``, else ``(0, 1)``."""
    if text is None:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        return rank, max(world, 1)
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r}: expected i/n, e.g. 0/2") from None
    if not (n >= 1 and 0 <= i < n):
        raise InputError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


def extract(samples, cache: FeatureCache, audio_encoder=None, visual_encoder=None, *,
            shard: tuple[int, int] = (0, 1), skip_errors: bool = False, progress: bool = True) -> ExtractReport:
    """Fill ``cache`` with the features of every sample's media (this shard's part of them).

    Raises :class:`InputError` naming the sample at the first unreadable media unless ``skip_errors``,
    in which case failures are listed in the report (and nothing is written for them, not even the hash
    memo). Temporary files that killed runs left in the cache are removed first.
    """
    from tqdm import tqdm

    from ..io import remove_stale_temporaries

    report = ExtractReport()
    if cache.root.is_dir():
        remove_stale_temporaries(cache.root)
    if audio_encoder is not None:
        report.audio_key = cache.register("audio", audio_encoder)
    if visual_encoder is not None:
        report.visual_key = cache.register("visual", visual_encoder)
    # distinct media contents, in manifest order
    work, seen = [], set()
    for s in samples:
        try:
            h = cache.media_hash(s.media_path)
        except InputError as e:
            if not skip_errors:
                raise InputError(f"sample {excerpt(s.id)}: {e}") from None
            report.failed.append(f"sample {excerpt(s.id)}: {e}")
            continue
        if h not in seen:
            seen.add(h)
            work.append((s, h))
    i, n = shard
    work = work[i::n]
    durations = []
    for s, _ in work:
        try:
            durations.append(probe(s.media_path).duration or 0.0)
        except MediaError:
            durations.append(0.0)  # reported when the file is decoded below
    total = sum(durations)
    bar = tqdm(total=round(total, 1), unit="s", disable=not progress, file=sys.stderr, dynamic_ncols=True,
               bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
    name = f"extract{'' if n == 1 else f' {i}/{n}'}"
    done_seconds = 0.0
    for k, ((s, h), dur) in enumerate(zip(work, durations)):
        bar.set_description_str(f"{name}: files {k}/{len(work)}, audio {done_seconds / 3600:.3f}/{total / 3600:.3f} h")
        try:
            _one(s, h, cache, audio_encoder, visual_encoder, report)
        except (MediaError, InputError) as e:
            msg = f"sample {excerpt(s.id)}: {e}"
            if not skip_errors:
                bar.close()
                raise InputError(msg) from None
            report.failed.append(msg)
        done_seconds += dur
        bar.update(round(dur, 1))
    bar.set_description_str(f"{name}: files {len(work)}/{len(work)}, audio {total / 3600:.3f}/{total / 3600:.3f} h")
    bar.close()
    return report


def _one(sample, h: str, cache: FeatureCache, audio_encoder, visual_encoder, report: ExtractReport) -> None:
    if audio_encoder is not None:
        if cache.has("audio", report.audio_key, h):
            report.reused += 1
            cache.remember(h)
        else:
            wav = load_audio(sample.media_path)
            feats = audio_encoder.encode(wav)
            duration = len(wav) / SAMPLE_RATE
            cache.put("audio", report.audio_key, h, feats, audio_encoder.frame_rate,
                      meta={"duration": f"{duration:.6f}", "media": sample.media_path.name})
            report.computed += 1
            report.audio_seconds += duration
    if visual_encoder is not None:
        if cache.has("visual", report.visual_key, h):
            report.reused += 1
            cache.remember(h)
            return
        info = probe(sample.media_path)
        if info.has_video:
            frames, times = load_frames(sample.media_path, visual_encoder.frame_rate,
                                        max_side=getattr(visual_encoder, "max_side", None))
            feats = visual_encoder.encode(frames)
        else:  # audio-only media: an explicit empty entry, so that loading never has to guess
            import numpy as np
            import torch

            feats, times = torch.zeros(0, visual_encoder.dim), np.zeros(0)
        import torch

        cache.put("visual", report.visual_key, h, feats, visual_encoder.frame_rate,
                  times=torch.as_tensor(times, dtype=torch.float64),
                  meta={"has_video": str(info.has_video).lower(), "media": sample.media_path.name})
        report.computed += 1
