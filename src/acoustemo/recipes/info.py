"""``acoustemo info``: a preset's resolved config, parameter counts and a training-memory estimate.

The model is built on the meta device with the dtypes a recipe loads on a GPU (``model.llm_dtype``):
nothing is downloaded or allocated, so the 7B ``paper`` preset can be inspected on any machine.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="paper", help="preset name (paper, small, tiny) or YAML file")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("overrides", nargs="*", metavar="section.key=value")


def run(args) -> int:
    from ..config import load_config
    from ..device import dtype_name
    from ..model import count_parameters
    from ..model.memory import memory_estimate, meta_model

    cfg = load_config(args.config, args.overrides)
    print(cfg.to_yaml())
    model = meta_model(cfg.model)
    counts = count_parameters(model)
    print(f"parameters: {counts['total']:,} total, {counts['trainable']:,} trainable")
    for k, v in counts.items():
        if k.startswith("part:"):
            print(f"  {k[5:]:<22} {v:>15,}")
    est = memory_estimate(model, batch_size=args.batch_size, seq_len=cfg.model.max_length,
                          gradient_checkpointing=cfg.model.gradient_checkpointing)
    checkpointing = "with" if cfg.model.gradient_checkpointing else "without"
    print(f"training memory on a GPU: LLM weights in {dtype_name(model.llm_dtype)}, Q-Formers and projections in "
          f"fp32, {checkpointing} gradient checkpointing, batch {args.batch_size} x {cfg.model.max_length} "
          f"tokens:\n{est.table()}")
    return 0
