"""Batched utterance-aware Q-Former vs a per-utterance loop.

16 utterances of a 60 s clip go through the utterance Q-Former either in one batched call (windows
gathered with padding and a key mask) or one call per utterance. Both must give the same tokens; the
script prints the time of each, the speed-up and the largest difference.

    python benchmarks/qformer_batching.py [--threads 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from acoustemo.config import Config
from acoustemo.model.qformer import QFormer
from acoustemo.model.windows import gather_windows, utterance_windows

CLIP_SECONDS = 60.0
NUM_UTTERANCES = 16


def utterances(seed: int = 0) -> tuple[list[float], list[float]]:
    """16 utterances of 1.2-5 s separated by pauses, spread over the 60 s clip."""
    g = torch.Generator().manual_seed(seed)
    lengths = 1.2 + 3.8 * torch.rand(NUM_UTTERANCES, generator=g)
    gap = (CLIP_SECONDS - float(lengths.sum())) / (NUM_UTTERANCES + 1)
    starts, ends, t = [], [], gap
    for n in lengths.tolist():
        starts.append(t)
        ends.append(t + n)
        t += n + gap
    return starts, ends


def timed(fn, repeats: int, device: torch.device = torch.device("cpu")) -> float:
    def call():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    call()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t)
    return best


def run(name: str, preset: str, audio_dim: int, frame_rate: float, repeats: int,
        device: torch.device = torch.device("cpu"), dtype: torch.dtype = torch.float32) -> dict:
    """Both paths on ``device``, under autocast to ``dtype`` unless it is fp32 (the Q-Former keeps fp32 weights)."""
    cfg = dataclasses.replace(Config.from_name(preset).model.acoustic, dropout=0.0)
    torch.manual_seed(0)
    qformer = QFormer(cfg, input_dim=audio_dim).to(device).eval()
    num_frames = round(CLIP_SECONDS * frame_rate)
    features = torch.randn(1, num_frames, audio_dim, device=device)
    begin, end = utterance_windows(*utterances(), frame_rate, num_frames)
    sample = torch.zeros(NUM_UTTERANCES, dtype=torch.long, device=device)
    b, e = torch.tensor(begin, device=device), torch.tensor(end, device=device)

    def batched():
        frames, mask = gather_windows(features, sample, b, e)  # (16, max_len, d)
        return qformer(frames, mask)  # (16, K, hidden)

    def loop():
        return torch.cat([qformer(features[:, i:j]) for i, j in zip(begin, end)])

    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    with torch.inference_mode(), autocast:
        diff = float((batched().float() - loop().float()).abs().max())
        t_batched, t_loop = timed(batched, repeats, device), timed(loop, repeats, device)
    return dict(setting=name, frames=num_frames, window_frames=f"{min(e - b)}-{max(e - b)}",
                batched_ms=1e3 * t_batched, loop_ms=1e3 * t_loop, speedup=t_loop / t_batched, max_abs_diff=diff)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    settings = [
        ("paper Q-Former, ImageBind 1024-d, 2 s clips hop 0.5 s (2 Hz)", "paper", 1024, 2.0),
        ("paper Q-Former, 1024-d at 50 Hz", "paper", 1024, 50.0),
        ("small Q-Former, Whisper tiny 384-d at 50 Hz", "small", 384, 50.0),
    ]
    print(f"{NUM_UTTERANCES} utterances of a {CLIP_SECONDS:.0f} s clip, {args.threads} threads, best of "
          f"{args.repeats}\n")
    print("| setting | frames | window frames | batched (ms) | loop (ms) | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for name, preset, dim, rate in settings:
        r = run(name, preset, dim, rate, args.repeats)
        print(f"| {r['setting']} | {r['frames']} | {r['window_frames']} | {r['batched_ms']:.1f} | "
              f"{r['loop_ms']:.1f} | {r['speedup']:.1f}x | {r['max_abs_diff']:.1e} |")


if __name__ == "__main__":
    main()
