"""Training speed of a preset on this machine: steps/s, tokens/s, model-FLOPs utilisation, cached vs on-the-fly.

    python benchmarks/train_speed.py                       # small preset, batch of the preset
    python benchmarks/train_speed.py --config tiny --steps 20
    python benchmarks/train_speed.py --override model.acoustic.num_queries=4 --no-encoders

What it does:

1. writes ``--dialogues`` random dialogues of ``--seconds`` seconds with ``--utterances`` utterances into a
   temporary feature cache (the preset's feature sizes: Whisper 384-d at 50 Hz, FER 129-d at 2 fps) and
   builds the real :class:`FeatureDataset`, so a step includes reading the cache and collating;
2. times ``--steps`` optimizer steps of the training loop's step (forward, backward, clip, AdamW) after
   ``--warmup`` untimed steps; counts the FLOPs of one step with ``torch.utils.flop_counter`` (every matmul
   and attention actually executed, forward and backward: frozen LLM weights get no weight gradient, so
   this is about 4 x params x tokens for the LLM, not 6);
3. measures the fp32 matmul peak on the same threads (best of square matmuls) and reports MFU;
4. unless ``--no-encoders``: times the frozen encoders (Whisper tiny.en on the waveform, FER on the
   frames) on one batch, the work a step would add without the cache.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def matmul_peak(n: int = 2048, repeats: int = 8) -> float:
    """Best fp32 FLOP/s of an (n x n) @ (n x n) matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def time_steps(model, ds, cfg, *, steps: int, warmup: int, device: torch.device = torch.device("cpu"),
               dtype: torch.dtype = torch.float32) -> tuple[int, list[float], int]:
    """The training loop's step (collate, forward under autocast unless fp32, backward, clip, AdamW) on ``ds``:
    ``warmup`` untimed steps, one counted by ``FlopCounterMode``, then ``steps`` timed ones.
    Returns (FLOPs of one step, seconds of each timed step, tokens of the timed steps)."""
    from torch.utils.flop_counter import FlopCounterMode

    from acoustemo.data.collate import Collator
    from acoustemo.training.loop import answer_tokens
    from acoustemo.training.optim import weight_decay_groups

    t = cfg.train
    collator = Collator(cfg.model, model.tokenizer)
    groups, _ = weight_decay_groups(model, t.weight_decay)
    opt = torch.optim.AdamW(groups, lr=t.lr, betas=tuple(t.betas))
    params = [q for q in model.parameters() if q.requires_grad]
    bs = t.batch_size
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step(i: int) -> int:
        batch = collator([ds[(i * bs + j) % len(ds)] for j in range(bs)]).to(device)
        n = answer_tokens(batch)
        with autocast:
            loss = model(batch).loss * n / n
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, t.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return int(batch.attention_mask.sum())

    for i in range(warmup):
        step(i)
    counter = FlopCounterMode(display=False)
    with counter:
        step(0)
    times, tokens = [], 0
    for i in range(steps):
        sync()
        t1 = time.perf_counter()
        tokens += step(i)
        sync()
        times.append(time.perf_counter() - t1)
    return counter.get_total_flops(), times, tokens


def write_corpus(root: Path, cfg, num: int, seconds: float, utterances: int, seed: int = 0):
    from acoustemo.cache.store import FeatureCache
    from acoustemo.data.manifest import Sample, Utterance, write_manifest

    class Enc:
        def __init__(self, name, dim, rate):
            self.name, self.dim, self.frame_rate = name, dim, rate

        def settings(self):
            return {"benchmark": True}

    g = torch.Generator().manual_seed(seed)
    cache = FeatureCache(root / "cache")
    ak = cache.register("audio", Enc("whisper", cfg.model.audio_dim, 50.0))
    vk = cache.register("visual", Enc("fer", cfg.model.visual_dim, 2.0))
    samples = []
    span = seconds / utterances
    for i in range(num):
        media = root / "media" / f"d{i}.bin"
        media.parent.mkdir(parents=True, exist_ok=True)
        media.write_bytes(f"dialogue {i}".encode())
        h = cache.media_hash(media)
        cache.put("audio", ak, h, torch.randn(int(seconds * 50), cfg.model.audio_dim, generator=g), 50.0)
        cache.put("visual", vk, h, torch.randn(int(seconds * 2), cfg.model.visual_dim, generator=g), 2.0,
                  times=torch.arange(int(seconds * 2)) / 2.0)
        utt = [Utterance(round(j * span + 0.2, 2), round((j + 1) * span - 0.2, 2),
                         "The meeting starts at ten tomorrow, I put the folder on the shelf.") for j in range(utterances)]
        samples.append(Sample(f"d{i}", f"media/d{i}.bin", utt, ["anxious", "nervous", "uneasy"]))
    write_manifest(root / "train.jsonl", samples)
    return root / "train.jsonl", root / "cache"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="small")
    p.add_argument("--override", action="append", default=[], help="key=value, repeatable")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--dialogues", type=int, default=16)
    p.add_argument("--seconds", type=float, default=9.4, help="dialogue length (synthetic corpus mean: 9.4 s)")
    p.add_argument("--utterances", type=int, default=4, help="utterances per dialogue (synthetic mean: 3.8)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--no-encoders", action="store_true", help="skip timing the frozen encoders")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from acoustemo.config import load_config
    from acoustemo.model import AcoustEmo
    from acoustemo.data.dataset import dataset_for

    with tempfile.TemporaryDirectory() as tmp:
        manifest, cache = write_corpus(Path(tmp), load_config(args.config, args.override), args.dialogues,
                                       args.seconds, args.utterances)
        cfg = load_config(args.config, [*args.override, f"train.cache_dir={cache}"])
        t = cfg.train
        ds = dataset_for(cfg, manifest, require_labels=True)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model = AcoustEmo.from_config(cfg.model).train()
        load_seconds = time.perf_counter() - t0
        params = [q for q in model.parameters() if q.requires_grad]
        bs = t.batch_size
        flops, times, tokens = time_steps(model, ds, cfg, steps=args.steps, warmup=args.warmup)
        step_s = sorted(times)[len(times) // 2]  # median
        peak = matmul_peak()
        res = {
            "config": args.config, "overrides": args.override, "batch_size": bs, "threads": torch.get_num_threads(),
            "llm_load_seconds": round(load_seconds, 2),
            "trainable_params": sum(q.numel() for q in params),
            "tokens_per_step": tokens / args.steps, "step_seconds_median": step_s,
            "steps_per_s": 1 / step_s, "tokens_per_s": tokens / args.steps / step_s,
            "flops_per_step": flops, "achieved_flops": flops / step_s, "matmul_peak_flops": peak,
            "mfu": flops / step_s / peak,
        }
        if not args.no_encoders:
            import numpy as np

            from acoustemo.encoders import build_audio_encoder, build_visual_encoder

            wav = (0.1 * np.sin(np.arange(int(args.seconds * 16000)) * 2 * np.pi * 180 / 16000)).astype(np.float32)
            frames = np.random.default_rng(0).integers(0, 255, (int(args.seconds * 2), 240, 320, 3), dtype=np.uint8)
            whisper = build_audio_encoder("whisper")
            fer = build_visual_encoder("fer", frame_rate=2.0)
            whisper.encode(wav)
            t1 = time.perf_counter()
            for _ in range(bs):
                whisper.encode(wav)
            audio_s = time.perf_counter() - t1
            t1 = time.perf_counter()
            for _ in range(bs):
                fer.encode(frames)
            visual_s = time.perf_counter() - t1
            res.update(encoders_seconds_per_batch={"whisper": audio_s, "fer": visual_s},
                       on_the_fly_step_seconds=step_s + audio_s + (visual_s if cfg.model.use_visual else 0.0))
            res["cached_speedup"] = res["on_the_fly_step_seconds"] / step_s
        print(json.dumps(res, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
