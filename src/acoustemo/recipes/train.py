"""``acoustemo train``: the recipe of section 4.1 (see :mod:`acoustemo.training.loop`).

    acoustemo train --config configs/small-release.yaml
    acoustemo train --config configs/small-release.yaml --train.lr=0.0001 --model.acoustic.num_queries=16
    acoustemo train --config configs/small-release.yaml --resume            # continue a killed run
    accelerate launch --config_file configs/accelerate/fsdp.yaml -m acoustemo.cli train --config configs/paper.yaml
"""

from __future__ import annotations

import argparse
import sys

from ..config import add_config_arguments, load_config
from ..training import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                        help="continue from the newest checkpoint in train.output_dir (or the given folder)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                        help="checkpoint and stop after this optimizer step, as a killed run would (the "
                             "schedule still spans the whole run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    result = train(cfg, resume=args.resume, stop_after=args.stop_after, progress=not args.quiet)
    if result.is_main:
        where = result.final if result.final else result.output_dir / "checkpoints"
        print(f"trained {result.step}/{result.total_steps} steps, loss {result.loss:.4f}"
              + (f", validation loss {result.val_loss:.4f}" if result.val_loss is not None else "")
              + f" -> {where}", file=sys.stderr)
    return 0
