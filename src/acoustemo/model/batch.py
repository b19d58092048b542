"""What :class:`~acoustemo.model.AcoustEmo` reads: a collated batch (tokens, slot kinds, frames, windows).

:class:`~acoustemo.data.collate.Collator` builds it from examples; the model only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch


@dataclass
class Batch:
    ids: list[str]
    input_ids: torch.Tensor  # (B, T) long; slot positions hold pad ids
    attention_mask: torch.Tensor  # (B, T) long
    labels: torch.Tensor | None  # (B, T) long, IGNORE_INDEX outside the answer
    slot_kind: torch.Tensor  # (B, T) long: 0 text, else 1 + index in SLOT_KINDS of the Q-Former whose tokens go there
    audio: torch.Tensor  # (B, L_max, audio_dim)
    audio_mask: torch.Tensor  # (B, L_max) bool
    window_sample: torch.Tensor  # (W,) long, sample of each window, windows in prompt order
    window_begin: torch.Tensor  # (W,) long, first frame
    window_end: torch.Tensor  # (W,) long, one past the last frame
    visual: torch.Tensor | None = None  # (B, T_max, visual_dim)
    visual_mask: torch.Tensor | None = None  # (B, T_max) bool
    merged: list[int] = field(default_factory=list)  # windows merged per sample by the budget policy
    num_utterances: list[int] = field(default_factory=list)  # utterances the prompt lists, per sample
    question: list[str] = field(default_factory=list)  # question form per sample ("clip" or "utterances")

    def to(self, device) -> "Batch":
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to(device) if isinstance(v, torch.Tensor) else v
        return Batch(**out)

    @property
    def slot_mask(self) -> torch.Tensor:
        """(B, T) bool, True where Q-Former tokens go (any kind)."""
        return self.slot_kind != 0

    @property
    def num_windows(self) -> int:
        return int(self.window_sample.numel())
