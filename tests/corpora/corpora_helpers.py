"""Helpers shared by the corpora tests."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from acoustemo.corpora.espeak import INSTALL_HINT

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=INSTALL_HINT)


def frame_db(x: np.ndarray, sr: int = 16000, frame: float = 0.02) -> np.ndarray:
    """dBFS of consecutive 20 ms frames (-inf for digital silence)."""
    hop = int(frame * sr)
    n = len(x) // hop
    f = x[: n * hop].astype(np.float64).reshape(n, hop)
    rms = np.sqrt((f**2).mean(axis=1))
    with np.errstate(divide="ignore"):
        return 20 * np.log10(rms)


def check_timestamps(audio: np.ndarray, utterances, sr: int = 16000) -> None:
    """Energy inside every utterance (at its start and end too), near-silence between and around them."""
    peak_db = frame_db(audio, sr).max()
    bounds = [0.0] + [t for u in utterances for t in (u.start, u.end)] + [len(audio) / sr]
    for u in utterances:
        seg = audio[int(u.start * sr): int(u.end * sr)]
        db = frame_db(seg, sr)
        # acted emotions differ in level by 40 dB and more (calm vs. angry), so each utterance is
        # judged against its own loudest frame; the pauses against the whole dialogue's
        assert db.max() > peak_db - 50, (u, db.max(), peak_db)
        assert np.median(db) > db.max() - 30, (u, np.median(db), db.max())
        # speech reaches close to each edge: within the first and the last 160 ms there is a frame
        # within 36 dB of the utterance's loudest (the trimming rule keeps frames within 35 dB)
        assert db[:8].max() > db.max() - 36 and db[-8:].max() > db.max() - 36, u
    for gap_start, gap_end in zip(bounds[0::2], bounds[1::2]):
        gap = audio[int(np.ceil(gap_start * sr)) + 1: int(gap_end * sr) - 1]
        if len(gap):
            assert np.abs(gap).max() < 10 ** ((peak_db - 50) / 20), (gap_start, gap_end)
