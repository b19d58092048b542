"""A simple, small video track for a synthetic dialogue: an animated neutral face plus the audio.

The face never changes expression (the emotion is in the voice only); its mouth opens with the
speech energy, so the picture is synchronised with the utterances. 96×96 pixels, 10 frames/s, MPEG-4
part 2 video and AAC audio in mp4, encoded single-threaded with bit-exact flags so the same audio
gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from ..io import atomic_write_bytes

SIZE = 96  # pixels, square frame
FPS = 10  # frames per second


def _face(openness: float) -> np.ndarray:
    """One RGB frame ``(SIZE, SIZE, 3)`` uint8: a grey face with a mouth open by ``openness`` in [0, 1]."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    c = SIZE / 2
    img = np.full((SIZE, SIZE, 3), 40, np.uint8)
    head = (xx - c) ** 2 / (0.36 * SIZE) ** 2 + (yy - c) ** 2 / (0.44 * SIZE) ** 2 <= 1
    img[head] = (205, 180, 160)
    for ex in (c - 0.15 * SIZE, c + 0.15 * SIZE):
        eye = (xx - ex) ** 2 + (yy - 0.4 * SIZE) ** 2 <= (0.04 * SIZE) ** 2
        img[eye] = (30, 30, 30)
    h = 0.01 * SIZE + openness * 0.09 * SIZE
    mouth = (xx - c) ** 2 / (0.12 * SIZE) ** 2 + (yy - 0.68 * SIZE) ** 2 / h**2 <= 1
    img[mouth] = (110, 30, 40)
    return img


def write_video(path: str | Path, audio: np.ndarray, sr: int) -> None:
    """Write ``audio`` (float32 ``(n,)`` at ``sr`` Hz) with an animated face as an mp4 at ``path``."""
    hop = sr // FPS
    n_frames = max(1, int(np.ceil(len(audio) / hop)))
    padded = np.pad(audio.astype(np.float64), (0, n_frames * hop - len(audio)))
    rms = np.sqrt((padded.reshape(n_frames, hop) ** 2).mean(axis=1))
    openness = np.clip(rms / max(float(rms.max()), 1e-9) * 1.5, 0, 1)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        vs = container.add_stream("mpeg4", rate=FPS, options={"flags": "+bitexact", "qscale": "4"})
        vs.width = vs.height = SIZE
        vs.pix_fmt = "yuv420p"
        vs.codec_context.thread_count = 1
        aus = container.add_stream("aac", rate=sr, options={"flags": "+bitexact"})
        aus.layout = "mono"
        aus.codec_context.thread_count = 1
        for o in openness:
            frame = av.VideoFrame.from_ndarray(_face(float(o)), format="rgb24")
            for packet in vs.encode(frame):
                container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        pcm = np.clip(audio, -1, 1).astype(np.float32)[None, :]
        aframe = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
        aframe.sample_rate = sr
        for packet in aus.encode(aframe):
            container.mux(packet)
        for packet in aus.encode():
            container.mux(packet)
    atomic_write_bytes(path, buf.getvalue())
