"""LoRA folded into a plain LLM's weights while loading, for inference, without building peft's wrapper.

A checkpoint stores each adapted projection's two LoRA factors under peft's names,
``llm.base_model.model.<module>.lora_A.<adapter>.weight`` (r, in) and ``...lora_B...`` (out, r). Folding adds
``(B @ A) * alpha / r`` (in float32) to ``<module>.weight``: the same operation, in the same order, as peft's
``merge_and_unload`` (so the answers are the same), at a fraction of its cost (no adapter layers are built or
removed, and peft is not imported: most of a cold start's time after torch and transformers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

LORA_KEY = re.compile(r"^llm\.base_model\.model\.(?P<module>.+)\.lora_(?P<factor>[AB])\.[^.]+\.weight$")


def split_lora(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """``state`` as (its tensors but LoRA's, {module inside the LLM: {"A": tensor, "B": tensor}})."""
    rest, factors = {}, {}
    for name, tensor in state.items():
        m = LORA_KEY.match(name)
        if m:
            factors.setdefault(m["module"], {})[m["factor"]] = tensor
        else:
            rest[name] = tensor
    return rest, factors


def lora_targets(llm: nn.Module, target_modules: Iterable[str]) -> list[str]:
    """The linear layers of ``llm`` that LoRA adapts: those whose last name is one of ``target_modules`` (peft's
    rule for a list of names)."""
    wanted = set(target_modules)
    return [name for name, module in llm.named_modules()
            if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in wanted]


@torch.no_grad()
def fold_lora(llm: nn.Module, factors: dict[str, dict[str, torch.Tensor]], scaling: float) -> None:
    """Add each module's ``(B @ A) * scaling`` to its weight. A module that is not a linear layer of ``llm``, a
    factor missing or shapes that do not fit raise ``ValueError``, before any weight changes."""
    updates = []
    for module_name, pair in sorted(factors.items()):
        try:
            module = llm.get_submodule(module_name)
        except AttributeError:
            module = None
        if not isinstance(module, nn.Linear):
            raise ValueError(f"LoRA factors for {module_name!r}, which is not a linear layer of the LLM")
        if set(pair) != {"A", "B"}:
            raise ValueError(f"{module_name}: LoRA factor {'B' if 'A' in pair else 'A'} missing")
        weight = module.weight
        # in float32, as peft's adapters are kept (its merge adds their float32 product into the weight)
        a, b = pair["A"].to(weight.device, torch.float32), pair["B"].to(weight.device, torch.float32)
        if a.shape[0] != b.shape[1] or (b.shape[0], a.shape[1]) != tuple(weight.shape):
            raise ValueError(f"{module_name}: LoRA factors {tuple(b.shape)} @ {tuple(a.shape)} do not fit its weight "
                             f"{tuple(weight.shape)}")
        updates.append((weight, a, b))
    for weight, a, b in updates:
        weight += (b @ a) * scaling
