"""``acoustemo info``: a preset's resolved config, parameter counts and a training-memory estimate.

The model is built on the meta device: nothing is downloaded or allocated, so the 7B ``paper`` preset
can be inspected on any machine.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

GiB = 1024**3


@dataclass
class MemoryEstimate:
    """Bytes of GPU memory for one training step (an estimate, not a measurement)."""

    weights: int  # frozen weights in the compute dtype + trainable weights in fp32
    gradients: int  # fp32 gradients of the trainable weights
    optimizer: int  # AdamW: two fp32 moments per trainable weight
    activations: int  # layer-boundary checkpoints + one layer recomputed (+ all layers without checkpointing)
    logits: int  # fp32 logits and their gradient
    overhead: int  # CUDA context, allocator fragmentation, Q-Former activations

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.overhead

    def table(self) -> str:
        rows = [(k, getattr(self, k)) for k in ("weights", "gradients", "optimizer", "activations", "logits",
                                                 "overhead")] + [("total", self.total)]
        return "\n".join(f"  {k:<12} {v / GiB:7.2f} GiB" for k, v in rows)


def memory_estimate(model, *, batch_size: int = 1, seq_len: int = 1024, bytes_per_weight: int = 2,
                    gradient_checkpointing: bool = True) -> MemoryEstimate:
    """Training memory of ``model`` (an :class:`~acoustemo.model.AcoustEmo`, possibly on ``meta``).

    Activations per transformer layer follow Korthikanti et al. (2022), s*b*h*(34 + 5*a*s/h) bytes in
    16-bit; with gradient checkpointing only each layer's input (s*b*h*2 bytes) is kept, plus one
    layer being recomputed.
    """
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    arch = model.llm.config
    h, layers, heads, vocab = arch.hidden_size, arch.num_hidden_layers, arch.num_attention_heads, arch.vocab_size
    s, b = seq_len, batch_size
    per_layer = s * b * h * (34 + 5 * heads * s / h)
    if gradient_checkpointing:
        activations = layers * s * b * h * 2 + per_layer
    else:
        activations = layers * per_layer
    return MemoryEstimate(
        weights=frozen * bytes_per_weight + trainable * 4,
        gradients=trainable * 4,
        optimizer=trainable * 8,
        activations=int(activations),
        logits=2 * s * b * vocab * 4,
        overhead=int(1.5 * GiB),
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="paper", help="preset name (paper, small, tiny) or YAML file")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("overrides", nargs="*", metavar="section.key=value")


def run(args) -> int:
    import torch

    from .config import load_config
    from .model import AcoustEmo, count_parameters

    cfg = load_config(args.config, args.overrides)
    print(cfg.to_yaml())
    model = AcoustEmo.from_config(cfg.model, device="meta", dtype=torch.bfloat16)
    counts = count_parameters(model)
    print(f"parameters: {counts['total']:,} total, {counts['trainable']:,} trainable")
    for k, v in counts.items():
        if k.startswith("part:"):
            print(f"  {k[5:]:<18} {v:>15,}")
    est = memory_estimate(model, batch_size=args.batch_size, seq_len=cfg.model.max_length)
    print(f"training memory, bf16 weights, gradient checkpointing, batch {args.batch_size} x "
          f"{cfg.model.max_length} tokens:\n{est.table()}")
    return 0
