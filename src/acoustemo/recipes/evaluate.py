"""``acoustemo evaluate``: generate open-vocabulary labels for a manifest and score them.

    acoustemo evaluate --checkpoint runs/small/final                       # train.test_manifest of its config
    acoustemo evaluate --checkpoint runs/small/final --manifest test.jsonl --out eval/ --metrics exact,wheel,embedding
    acoustemo evaluate --checkpoint runs/small/final --sample --temperature 0.7 --top-p 0.9 --seed 1

The files written and the metrics are described in :mod:`acoustemo.evaluation`.
"""

from __future__ import annotations

import argparse
import sys

from ..config import add_config_arguments, add_device_argument, add_quantization_argument
from ..device import resolve_device
from ..inference.evaluation import METRICS, Generation, evaluate, format_scores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="folder with trainable.safetensors and config.yaml (a run's final/ or a step-N/)")
    add_config_arguments(parser, default=None)
    parser.set_defaults(config=None)
    parser.add_argument("--manifest", help="samples to label (default: train.test_manifest of the config)")
    parser.add_argument("--out", help="output folder (default: <checkpoint>/eval-<manifest name>)")
    parser.add_argument("--metrics", default="exact,wheel",
                        help=f"comma-separated, of {', '.join(METRICS)} (default: exact,wheel)")
    parser.add_argument("--grouping", help="JSON {name: [[label, synonym, ...], ...]} for the grouping metric")
    parser.add_argument("--batch-size", type=int, default=None, help="default: train.eval_batch_size")
    g = Generation()
    parser.add_argument("--max-new-tokens", type=int, default=g.max_new_tokens)
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument("--temperature", type=float, default=g.temperature)
    parser.add_argument("--top-p", type=float, default=g.top_p)
    parser.add_argument("--top-k", type=int, default=g.top_k)
    parser.add_argument("--seed", type=int, default=g.seed, help="sampling seed")
    add_device_argument(parser)
    add_quantization_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..model.llm import check_quantization

    check_quantization(args.quantize, resolve_device(args.device))  # stops here, before anything is loaded
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    gen = Generation(args.max_new_tokens, args.sample, args.temperature, args.top_p, args.top_k, args.seed)
    result = evaluate(args.checkpoint, manifest=args.manifest, out=args.out, metrics=metrics, grouping=args.grouping,
                      generation=gen, batch_size=args.batch_size, config=args.config, overrides=args.overrides,
                      device=args.device, progress=not args.quiet, quantize=args.quantize)
    print(format_scores(result["scores"]))
    print(f"predictions and scores -> {result['out']}", file=sys.stderr)
    return 0
