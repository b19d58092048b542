"""AdamW parameter groups, the learning-rate schedule, and the data order of a run.

The schedule is transformers' (``get_scheduler``): linear warm-up from 0 over ``warmup_ratio`` of the
steps, then cosine (or linear, or constant) decay, as section 4.1 describes. The data order is a pure
function of ``(seed, epoch, rank)``, so resuming at step ``s`` needs no sampler state.
"""

from __future__ import annotations

import math

import torch
from transformers import get_scheduler


def weight_decay_groups(model: torch.nn.Module, weight_decay: float, *, lr: float | None = None,
                        lr_scales: dict[str, float] | None = None) -> tuple[list[dict], list[str]]:
    """AdamW groups: decay on matrices, none on biases / norm scales; and the parameter names in order.

    ``lr_scales`` (``{"qformers.": 0.1}``) gives the parameters under a name prefix their own learning rate,
    ``lr`` times the scale, in groups of their own (empty groups are left out).
    """
    scales = dict(lr_scales or {})
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    def scale_of(name: str) -> float | None:
        return next((s for prefix, s in scales.items() if name.startswith(prefix)), None)

    groups, names = [], []
    for scale in [None, *dict.fromkeys(scales.values())]:
        for decay in (True, False):
            members = [(n, p) for n, p in trainable if scale_of(n) == scale and (p.ndim >= 2) == decay]
            if not members and scale is not None:
                continue
            group = {"params": [p for _, p in members], "weight_decay": weight_decay if decay else 0.0}
            if scale is not None:
                group["lr"] = lr * scale
            groups.append(group)
            names += [n for n, _ in members]  # the optimizer's parameter order
    return groups, names


def build_scheduler(optimizer: torch.optim.Optimizer, *, schedule: str, total_steps: int, warmup_ratio: float):
    """transformers' scheduler ``schedule`` ("cosine", "linear", "constant") with linear warm-up."""
    warmup = math.ceil(warmup_ratio * total_steps)
    name = "constant_with_warmup" if schedule == "constant" else schedule
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


def epoch_batches(n: int, global_batch: int, seed: int, epoch: int, lengths: list[int] | None = None,
                  group: int = 32) -> list[list[int]]:
    """The global batches of one epoch: a permutation seeded by ``(seed, epoch)``, cut into whole batches.

    With ``lengths`` (one per sample), samples of similar length are batched together, as transformers'
    ``group_by_length`` does: the permutation is cut into groups of ``group`` global batches, each group is
    sorted by length, cut into batches, and the batches are shuffled. Less padding, the same samples.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    usable = perm[:n - n % global_batch]
    if lengths is not None:
        span = group * global_batch
        usable = [i for k in range(0, len(usable), span)
                  for i in sorted(usable[k:k + span], key=lambda i: -lengths[i])]
    batches = [usable[i:i + global_batch] for i in range(0, len(usable), global_batch)]
    if lengths is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    return batches


def rank_micro_batches(global_batch: list[int], rank: int, batch_size: int, grad_accum: int) -> list[list[int]]:
    """Process ``rank``'s micro-batches of one global batch."""
    per_rank = batch_size * grad_accum
    mine = global_batch[rank * per_rank:(rank + 1) * per_rank]
    return [mine[i:i + batch_size] for i in range(0, per_rank, batch_size)]
