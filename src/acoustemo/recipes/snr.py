"""``acoustemo snr``: scores of trained models as background noise grows (the low-SNR analysis of section 4.6).

    acoustemo snr --manifest data/release/ravdess/test.jsonl --out runs/snr-ravdess \\
        --model full=runs/release/final \\
        --model "full head=runs/probe-ablation/ravdess/full/seed-0/acoustic" \\
        --model "w/o utterance head=runs/probe-ablation/ravdess/no_utterance/seed-0/acoustic" \\
        --snr clean,20,10,5,0 --gain=-30,-20,-10

Every sample of the manifest is heard again with pink background noise at each SNR (speech power over noise
power, the speech measured inside the sample's utterances; the same noise as ``acoustemo synth --snr``, one
fixed noise draw per sample and level), written as 16-bit WAV under ``<out>/media/snr-<dB>/`` with its manifest.
The features of every level go into ``<out>/cache`` through each model's own audio encoder, and each model
scores every level:

    top-1   the share of samples whose first predicted label is one of their gold labels
    M-avg   the emotion-wheel score of the predictions

``--gain`` adds levels at which the clean recording is played quieter or louder by that many dB instead (no
noise; clipped to [-1, 1]), under ``<out>/media/gain-<dB>/``: quiet recordings are common, and a level change is
what a frozen log-mel encoder is least invariant to.

A model is a trained folder (``trainable.safetensors``: the LLM answers) or a stage-1 folder
(``head.safetensors``: its label head's top label, as in ``acoustemo ablate --probe``). Several ``--model`` with
the same name (e.g. one per seed) are one row: mean ± std over them. Audio-only models only (the noise is
added to the sound). Writes ``table.csv``, ``table.json`` and ``table.png`` (score against SNR, one line per
name, std error bars). Everything resumes: noisy media, features and each (model, level) score are kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import add_device_argument
from ..experiments.noise import Gain, format_table, parse_gains, parse_levels, parse_models, sweep


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True, help="the test samples (media, utterances, labels)")
    p.add_argument("--out", required=True, help="folder for the noisy media, their features and the table")
    p.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER",
                   help="a trained folder or a stage-1 folder; repeat (the same NAME again: one more seed)")
    p.add_argument("--snr", default="clean,20,10,5,0",
                   help="comma-separated levels in dB, 'clean' for no noise (default clean,20,10,5,0)")
    p.add_argument("--gain", default="", metavar="DB,...",
                   help="also score the clean audio played at these level changes in dB (e.g. -30,-20,-10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--batch-size", type=int, default=8)
    add_device_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    levels = parse_levels(args.snr) + [Gain(g) for g in parse_gains(args.gain)]
    models = parse_models(args.model)
    table = sweep(args.manifest, models, levels, out=args.out, seed=args.seed, batch_size=args.batch_size,
                  device=args.device, progress=not args.quiet)
    print(format_table(table))
    print(f"table -> {Path(args.out) / 'table.csv'} (.json, .png)", file=sys.stderr)
    return 0
