"""The paper recipe on a GPU: step time, tokens/s, MFU and peak memory of a LLaMA-2-7B-shaped AcoustEmo, and the
batched vs per-utterance Q-Former.

    python benchmarks/gpu.py                          # LLaMA-2-7B shape, random weights (nothing downloaded)
    python benchmarks/gpu.py --layers 8 --json gpu.json
    python benchmarks/gpu.py --tiny --device cpu      # the tiny preset on a CPU: checks the script, not the speed

What it does:

1. builds the ``paper`` preset's model with the LLM's weights drawn at random on the device (the architecture of
   meta-llama/Llama-2-7b-hf from its known config, ``--layers`` decoder layers; bf16 where the GPU has it), LoRA,
   the Q-Formers and projections, gradient checkpointing as the preset sets it;
2. writes ``--dialogues`` random dialogues (the preset's feature sizes, ``--utterances`` utterances over
   ``--seconds`` seconds) into a temporary feature cache and trains on them with the loop's step (autocast,
   token-weighted loss, clipping, AdamW) at the preset's batch size, ``--warmup`` untimed steps then ``--steps``
   timed ones (median);
3. counts one step's FLOPs with ``torch.utils.flop_counter`` and measures the bf16 matmul peak of the device, and
   reports MFU against it (and against ``--peak-tflops`` when given, e.g. 989 for an H100/H200's dense bf16);
4. peak memory: ``torch.cuda.max_memory_allocated`` over the run;
5. the utterance Q-Former at 16 utterances of a 60 s clip, batched (one padded call) vs one call per utterance,
   in the model's dtype (the batching must pay here: the target is at least 5x).

Prints a Markdown table and the JSON; ``--json FILE`` writes it too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 8192, repeats: int = 10) -> float:
    """Best FLOP/s of square matmuls in ``dtype`` on ``device``."""
    if device.type == "cpu":
        n = 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def build_model(cfg, device: torch.device, dtype: torch.dtype, layers: int | None):
    """AcoustEmo with the LLM's weights drawn at random on ``device`` (no download)."""
    from transformers import AutoModelForCausalLM

    from acoustemo.model import AcoustEmo
    from acoustemo.model.llm import llm_architecture, tiny_tokenizer

    arch = llm_architecture(cfg.model)
    if layers:
        arch.num_hidden_layers = layers
    torch.manual_seed(0)
    with torch.device(device):
        llm = AutoModelForCausalLM.from_config(arch, dtype=dtype)
        # byte-level ids fit any vocabulary; the prompt's text takes about 3-4 times LLaMA's token count
        model = AcoustEmo(cfg.model, llm, tiny_tokenizer())
    return model


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="the tiny preset instead of the paper's (script check)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--layers", type=int, default=None, help="LLM decoder layers (default: all 32)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the preset's train.batch_size")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dialogues", type=int, default=16)
    p.add_argument("--seconds", type=float, default=9.4, help="dialogue length (synthetic corpus mean: 9.4 s)")
    p.add_argument("--utterances", type=int, default=4)
    p.add_argument("--repeats", type=int, default=20, help="Q-Former timing: best of")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's dense peak, for a second MFU")
    p.add_argument("--override", action="append", default=[], help="key=value, repeatable")
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)

    from train_speed import time_steps, write_corpus

    from acoustemo.config import load_config
    from acoustemo.data.dataset import dataset_for
    from acoustemo.device import resolve_device

    device = resolve_device(args.device)
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        torch.cuda.reset_peak_memory_stats(device)
    else:
        dtype = torch.float32
    preset = "tiny" if args.tiny else "paper"
    overrides = (["model.max_length=2048"] if args.tiny else []) + list(args.override)
    overrides += [f"train.batch_size={args.batch_size}"] if args.batch_size else []
    with tempfile.TemporaryDirectory() as tmp:
        base = load_config(preset, overrides)
        manifest, cache = write_corpus(Path(tmp), base, args.dialogues, args.seconds, args.utterances)
        cfg = load_config(preset, [*overrides, f"train.cache_dir={cache}"])
        t = cfg.train
        ds = dataset_for(cfg, manifest, require_labels=True)
        t0 = time.perf_counter()
        model = build_model(cfg, device, dtype, args.layers).train()
        sync(device)
        build_s = time.perf_counter() - t0
        params = [q for q in model.parameters() if q.requires_grad]
        bs = t.batch_size
        flops, times, tokens = time_steps(model, ds, cfg, steps=args.steps, warmup=args.warmup, device=device,
                                          dtype=dtype)
        step_s = statistics.median(times)
        peak = matmul_peak(device, dtype)
        res = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "preset": preset, "llm_layers": model.llm.config.num_hidden_layers, "dtype": str(dtype).split(".")[-1],
            "batch_size": bs, "build_seconds": round(build_s, 1),
            "params": sum(q.numel() for q in model.parameters()), "trainable_params": sum(q.numel() for q in params),
            "tokens_per_step": tokens / args.steps, "step_seconds_median": step_s, "tokens_per_s": tokens / args.steps / step_s,
            "flops_per_step": flops, "achieved_tflops": flops / step_s / 1e12, "matmul_peak_tflops": peak / 1e12,
            "mfu_vs_measured_peak": flops / step_s / peak,
        }
        if args.peak_tflops:
            res["mfu_vs_spec"] = flops / step_s / (args.peak_tflops * 1e12)
        if device.type == "cuda":
            res["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 1024**3
        del model
    from qformer_batching import NUM_UTTERANCES, run as qformer_batching

    q = res["qformer_batching"] = qformer_batching(f"{preset} Q-Former, {cfg.model.audio_dim}-d at 50 Hz", preset,
                                                   cfg.model.audio_dim, 50.0, args.repeats, device, dtype)
    print("| device | LLM layers | dtype | batch | step (s) | tokens/s | TFLOP/s | MFU (measured peak) | peak memory |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {res['device']} | {res['llm_layers']} | {res['dtype']} | {bs} | {step_s:.3f} | {res['tokens_per_s']:.0f} | "
          f"{res['achieved_tflops']:.1f} | {100 * res['mfu_vs_measured_peak']:.1f} % | "
          f"{res.get('peak_memory_gib', float('nan')):.1f} GiB |")
    print(f"\nutterance Q-Former, {NUM_UTTERANCES} utterances: batched {q['batched_ms']:.2f} ms, loop "
          f"{q['loop_ms']:.2f} ms, {q['speedup']:.1f}x, max abs diff {q['max_abs_diff']:.1e}")
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
