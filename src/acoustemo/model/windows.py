"""Eq. (1): timestamp-synchronised windows over frame-level features, and their batched gather.

For utterance i with times (t_start, t_end) in seconds and an encoder at f_s frames per second,

    F_A^i = F_A[floor(t_start * f_s) : ceil(t_end * f_s)]

Rules (all tested):
- times are snapped to the frame grid when within ``SNAP`` frames of it, so float noise does not add a
  frame (1.1 s at 100 Hz ends at frame 110, not 111; 4.6 s at 50 Hz starts at frame 230, not 229);
- a window is clipped to [0, num_frames); one that ends past the audio keeps its part inside;
- a window that rounds to zero width takes one frame;
- an utterance entirely outside the audio, with t_end <= t_start, or with NaN or negative times raises
  ValueError naming the utterance index;
- unsorted and overlapping utterances are allowed: windows keep the given order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

SNAP = 1e-6  # frames: distance to the grid within which a time is taken to be on it


def _to_frame(t: float, frame_rate: float) -> float:
    x = t * frame_rate
    r = round(x)
    return float(r) if abs(x - r) <= SNAP else x


def utterance_windows(
    starts: Sequence[float], ends: Sequence[float], frame_rate: float, num_frames: int
) -> tuple[list[int], list[int]]:
    """Frame windows ``[begin_i, end_i)`` of utterances given in seconds (Eq. 1).

    Args:
        starts, ends: N times in seconds.
        frame_rate: f_s, frames per second of the features.
        num_frames: L, number of frames of the features.
    Returns:
        (begin, end): two lists of N ints with 0 <= begin_i < end_i <= num_frames.
    """
    if len(starts) != len(ends):
        raise ValueError(f"{len(starts)} start times but {len(ends)} end times")
    if not frame_rate > 0:
        raise ValueError(f"frame_rate={frame_rate} must be > 0")
    if num_frames <= 0:
        raise ValueError(f"num_frames={num_frames}: no frames to take windows from")
    duration = num_frames / frame_rate
    begin, end = [], []
    for i, (s, e) in enumerate(zip(starts, ends)):
        s, e = float(s), float(e)
        if math.isnan(s) or math.isnan(e):
            raise ValueError(f"utterance {i}: start/end is NaN")
        if s < 0 or e < 0:
            raise ValueError(f"utterance {i}: negative time ({s} s .. {e} s)")
        if e <= s:
            raise ValueError(f"utterance {i}: end {e} s is not after start {s} s")
        b = math.floor(_to_frame(s, frame_rate))
        n = math.ceil(_to_frame(e, frame_rate))
        if b >= num_frames:
            raise ValueError(f"utterance {i}: starts at {s} s, after the end of the audio ({duration:.3f} s, "
                             f"{num_frames} frames at {frame_rate} Hz)")
        n = min(max(n, b + 1), num_frames)
        begin.append(b)
        end.append(n)
    return begin, end


def fixed_time_windows(duration: float, seconds: float = 2.0) -> list[tuple[float, float]]:
    """The fixed-length ablation in seconds: non-overlapping windows of ``seconds`` covering
    [0, duration), the last partial one kept: [(0, 2), (2, 4), ..., (2j, duration)]."""
    if not seconds > 0:
        raise ValueError(f"window length {seconds} s must be > 0")
    count = max(1, math.ceil(_to_frame(duration, 1.0 / seconds)))
    return [(j * seconds, min((j + 1) * seconds, duration)) for j in range(count)]


def pad_sequences(seqs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``B`` tensors of shape (L_b, d) to (B, L_max, d) and return it with a (B, L_max) bool mask."""
    lengths = torch.tensor([s.shape[0] for s in seqs])
    out = seqs[0].new_zeros(len(seqs), int(lengths.max()), seqs[0].shape[-1])
    for b, s in enumerate(seqs):
        out[b, : s.shape[0]] = s
    mask = torch.arange(out.shape[1]) < lengths[:, None]  # (B, L_max)
    return out, mask


def gather_windows(
    features: torch.Tensor, sample: torch.Tensor, begin: torch.Tensor, end: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut W windows out of padded features in one indexing operation (no loop over windows).

    Args:
        features: (B, L_max, d) padded frame features of B samples.
        sample: (W,) long, the sample each window belongs to.
        begin, end: (W,) long, frame window [begin, end) inside that sample.
    Returns:
        frames: (W, max_len, d) with max_len = max(end - begin); positions past a window's end are 0.
        mask: (W, max_len) bool, True on real frames (the Q-Former's key mask).
    """
    lengths = end - begin  # (W,)
    max_len = int(lengths.max()) if lengths.numel() else 0
    offsets = torch.arange(max_len, device=features.device)  # (max_len,)
    mask = offsets[None, :] < lengths[:, None]  # (W, max_len)
    index = (begin[:, None] + offsets[None, :]).clamp_max(features.shape[1] - 1)  # (W, max_len)
    frames = features[sample[:, None], index]  # (W, max_len, d)
    return frames * mask[..., None].to(frames.dtype), mask
