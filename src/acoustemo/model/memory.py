"""A training-memory estimate of an AcoustEmo built on the meta device (``acoustemo info``).

The estimate reads each parameter's own dtype (``element_size``), so it follows what the recipes load:
the LLM in ``model.llm_dtype`` (bf16 on a GPU that has it), the Q-Formers and projections in fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1024**3


@dataclass
class MemoryEstimate:
    """Bytes of GPU memory for one training step (an estimate, not a measurement)."""

    weights: int  # every parameter in the dtype it is loaded in
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


def memory_estimate(model, *, batch_size: int = 1, seq_len: int = 1024,
                    gradient_checkpointing: bool = True) -> MemoryEstimate:
    """Training memory of ``model`` (an :class:`~acoustemo.model.AcoustEmo`, possibly on ``meta``).

    Weights count each parameter in its own dtype; gradients and the two AdamW moments are those of the
    trainable parameters, in their dtype. Activations per transformer layer follow Korthikanti et al.
    (2022), s*b*h*(34 + 5*a*s/h) bytes in 16-bit (twice that for an fp32 LLM); with gradient
    checkpointing only each layer's input (s*b*h*2 bytes) is kept, plus one layer being recomputed.
    """
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    act_scale = model.llm_dtype.itemsize / 2  # the formula counts 16-bit activations
    arch = model.llm.config
    h, layers, heads, vocab = arch.hidden_size, arch.num_hidden_layers, arch.num_attention_heads, arch.vocab_size
    s, b = seq_len, batch_size
    per_layer = s * b * h * (34 + 5 * heads * s / h) * act_scale
    if gradient_checkpointing:
        activations = layers * s * b * h * 2 * act_scale + per_layer
    else:
        activations = layers * per_layer
    return MemoryEstimate(
        weights=weights,
        gradients=trainable,
        optimizer=2 * trainable,
        activations=int(activations),
        logits=2 * s * b * vocab * 4,
        overhead=int(1.5 * GiB),
    )


def meta_model(config):
    """The model of ``config`` (a :class:`~acoustemo.config.ModelConfig`) on the meta device, its LLM in the
    dtype a recipe loads on a GPU with bf16 (``model.llm_dtype``; ``auto`` gives bf16)."""
    from ..device import llm_dtype
    from .acoustemo import AcoustEmo

    return AcoustEmo.from_config(config, device="meta", dtype=llm_dtype(config.llm_dtype, "meta", bf16_supported=True))
