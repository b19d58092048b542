"""Q-Formers: K learnable queries cross-attending to a sequence of frames (Eq. 2).

Built on transformers' ``Blip2QFormerModel`` (self-attention among the queries, cross-attention to the
frames every ``cross_attention_frequency`` layers, feed-forward). The same module serves as

- the global acoustic Q-Former over all of F_A  -> T_A^global, one call of shape (B, L, d);
- the utterance-aware acoustic Q-Former over the windows of Eq. (1) -> T_A^i: every window of every
  sample of a batch goes through one call of shape (W, max_len, d) with a key mask;
- the visual Q-Former over per-frame visual features -> T_V.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel

from ..config import QFormerConfig


def sinusoidal_positions(length: int, dim: int, device=None) -> torch.Tensor:
    """(length, dim) sine/cosine position codes, as in "Attention is all you need"."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (L, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return pe


class QFormer(nn.Module):
    """``num_queries`` learnable queries (init N(0, 0.02)) that read a padded sequence of frames.

    forward(frames (N, L, d_in), mask (N, L) bool) -> tokens (N, num_tokens, hidden_size)

    Frame positions (sinusoidal by default) count from each sequence's first frame, so a window's
    tokens do not depend on where the window sits in the clip or on how much padding follows it. With
    ``stats_token`` a last token is a linear projection of the masked mean and standard deviation of the
    frames: the pooled statistics that a linear speech-emotion probe reads, which the queries need many
    examples to learn to extract. With ``input_standardization`` the frames are first standardised per
    dimension by trainable statistics (set from the training data by :meth:`set_input_statistics`).
    """

    def __init__(self, cfg: QFormerConfig, *, input_dim: int):
        super().__init__()
        self.cfg = cfg
        self.input_dim = input_dim
        self.query_tokens = nn.Parameter(torch.randn(1, cfg.num_queries, cfg.hidden_size) * 0.02)
        if cfg.input_standardization:
            self.input_mean = nn.Parameter(torch.zeros(input_dim))
            self.input_log_std = nn.Parameter(torch.zeros(input_dim))
        self.frame_norm = nn.LayerNorm(input_dim) if cfg.frame_norm else nn.Identity()
        if cfg.stats_token:
            self.stats_proj = nn.Sequential(nn.Linear(2 * input_dim, cfg.hidden_size), nn.LayerNorm(cfg.hidden_size))
        if cfg.frame_positions == "learned":
            self.frame_position = nn.Embedding(cfg.max_frames, input_dim)
            nn.init.normal_(self.frame_position.weight, std=0.02)
        self.qformer = Blip2QFormerModel(
            Blip2QFormerConfig(
                hidden_size=cfg.hidden_size,
                num_hidden_layers=cfg.num_layers,
                num_attention_heads=cfg.num_heads,
                intermediate_size=cfg.intermediate_size,
                cross_attention_frequency=cfg.cross_attention_frequency,
                encoder_hidden_size=input_dim,
                hidden_dropout_prob=cfg.dropout,
                attention_probs_dropout_prob=cfg.dropout,
                initializer_range=0.02,
            )
        )

    @property
    def num_queries(self) -> int:
        return self.cfg.num_queries

    @property
    def num_tokens(self) -> int:
        return self.cfg.num_tokens

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """frames: (N, L, d_in); mask: (N, L) bool, True on real frames. Returns (N, K, hidden)."""
        return self._run(frames, mask)[0]

    @torch.no_grad()
    def frame_attention(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, L): how much the queries read each frame -- the cross-attention weights averaged over the
        cross-attention layers, heads and queries (each row sums to 1 over the real frames)."""
        impl = self.qformer.config._attn_implementation
        self.qformer.set_attn_implementation("eager")  # sdpa does not return attention weights
        try:
            cross = self._run(frames, mask, output_attentions=True)[1]
        finally:
            self.qformer.set_attn_implementation(impl)
        return torch.stack([a.float().mean(dim=(1, 2)) for a in cross]).mean(0)

    def _run(self, frames: torch.Tensor, mask: torch.Tensor | None, **kwargs):
        n, length, _ = frames.shape
        if mask is None:
            mask = torch.ones(n, length, dtype=torch.bool, device=frames.device)
        if not bool(mask.any(dim=1).all()):
            raise ValueError("a sequence without frames reached the Q-Former; every window needs >= 1 frame")
        x = self.standardize(frames)
        stats = self._stats(x, mask) if self.cfg.stats_token else None
        x = self.frame_norm(x)
        if self.cfg.frame_positions == "sinusoidal":
            x = x + sinusoidal_positions(length, self.input_dim, frames.device)[None]
        elif self.cfg.frame_positions == "learned":
            if length > self.cfg.max_frames:
                raise ValueError(f"{length} frames exceed max_frames={self.cfg.max_frames} of learned positions")
            x = x + self.frame_position.weight[:length][None]
        queries = self.query_tokens.expand(n, -1, -1)  # (N, K, hidden)
        out = self.qformer(
            query_embeds=queries,
            encoder_hidden_states=x,
            encoder_attention_mask=mask.long(),
            **kwargs,
        )
        tokens = out.last_hidden_state  # (N, K, hidden)
        if stats is not None:
            tokens = torch.cat([tokens, stats[:, None]], dim=1)  # (N, K + 1, hidden)
        return tokens, out.cross_attentions

    @torch.no_grad()
    def set_input_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise inputs with these per-dimension statistics (of the training frames)."""
        if not self.cfg.input_standardization:
            raise ValueError("the Q-Former has no input standardisation (acoustic.input_standardization=false)")
        self.input_mean.copy_(mean)
        self.input_log_std.copy_(std.clamp_min(1e-6).log())

    def standardize(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` in fp32, standardised with the input statistics when the config has them."""
        x = frames.float()
        if self.cfg.input_standardization:
            x = (x - self.input_mean) * torch.exp(-self.input_log_std)
        return x

    def stats_tokens(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, hidden) the statistics token alone (the last token of :meth:`forward`), without the attention layers."""
        if not self.cfg.stats_token:
            raise ValueError("the Q-Former has no statistics token (acoustic.stats_token=false)")
        if mask is None:
            mask = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
        return self._stats(self.standardize(frames), mask)

    def _stats(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(N, hidden): the projected mean and standard deviation of each sequence's real (standardised) frames."""
        return self.stats_proj(masked_mean_std(x, mask))

    def probe_scores(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, hidden) the statistics projection's linear part alone, before its layer norm: where stage 1 set it
        from a probe (``train.acoustic.probe_init``), the first rows are that probe's class scores."""
        if not self.cfg.stats_token:
            raise ValueError("the Q-Former has no statistics token (acoustic.stats_token=false)")
        if mask is None:
            mask = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
        return self.stats_proj[0](masked_mean_std(self.standardize(frames), mask))


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, 2 d): the mean and standard deviation of each sequence's real frames (``mask``), side by side."""
    w = mask[..., None].to(x.dtype)  # (N, L, 1)
    n = w.sum(1).clamp_min(1.0)
    mean = (x * w).sum(1) / n
    std = (((x - mean[:, None]) ** 2 * w).sum(1) / n + 1e-5).sqrt()
    return torch.cat([mean, std], dim=-1)


# LAVIS's Q-Former (BLIP-2, InstructBLIP, Video-LLaMA) is a BERT with query-only feed-forward layers; transformers'
# Blip2QFormerModel names the same tensors differently. Text-only tensors (word and position embeddings, the text
# feed-forward ``intermediate`` / ``output``, the LM head ``cls``) have no counterpart and are left out.
_LAVIS_RENAMES = (
    (re.compile(r"^embeddings\.LayerNorm\.(weight|bias)$"), r"layernorm.\1"),
    (re.compile(r"^encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.((query|key|value)\.(weight|bias))$"),
     r"encoder.layer.\1.\2.attention.\3"),
    (re.compile(r"^encoder\.layer\.(\d+)\.(attention|crossattention)\.output\.((dense|LayerNorm)\.(weight|bias))$"),
     r"encoder.layer.\1.\2.output.\3"),
    (re.compile(r"^encoder\.layer\.(\d+)\.(intermediate_query\.dense|output_query\.(dense|LayerNorm))\.(weight|bias)$"),
     r"encoder.layer.\1.\2.\4"),
)
_LAVIS_TEXT_ONLY = re.compile(r"^(embeddings\.(word_embeddings|position_embeddings|position_ids)|"
                              r"encoder\.layer\.\d+\.(intermediate|output)\.|cls\.)")
LAVIS_LAYOUTS = {
    # name: (prefix of the BERT, query tokens, frame LayerNorm, frame position embedding)
    "blip2": ("Qformer.bert.", "query_tokens", "ln_vision.", None),
    "video-llama-audio": ("audio_Qformer.bert.", "audio_query_tokens", None, "audio_position_embedding."),
    "video-llama-video": ("video_Qformer.bert.", "video_query_tokens", None, "video_frame_position_embedding."),
}


def convert_lavis_qformer(state: dict[str, torch.Tensor], layout: str = "blip2") -> dict[str, torch.Tensor]:
    """A LAVIS-style checkpoint's Q-Former tensors under :class:`QFormer`'s names.

    ``layout``: "blip2" (BLIP-2 / InstructBLIP: ``Qformer.bert.*``, ``query_tokens``, ``ln_vision.*`` as the frame
    LayerNorm) or "video-llama-audio" / "video-llama-video" (Video-LLaMA's second-level Q-Formers, whose frame
    position embedding becomes ``frame_position``: use ``frame_positions: learned``, ``frame_norm: false``).
    Raises KeyError naming an unknown tensor under the Q-Former's prefix, so that nothing is dropped unseen.
    """
    if layout not in LAVIS_LAYOUTS:
        raise ValueError(f"layout={layout!r}: one of {sorted(LAVIS_LAYOUTS)}")
    bert, queries, norm, positions = LAVIS_LAYOUTS[layout]
    if queries not in state:
        raise KeyError(f"{queries}: not in the checkpoint (is it a {layout} checkpoint?)")
    out = {"query_tokens": state[queries]}
    for key, value in state.items():
        if norm and key.startswith(norm):
            out["frame_norm." + key[len(norm):]] = value
        elif positions and key.startswith(positions):
            out["frame_position." + key[len(positions):]] = value
        elif key.startswith(bert):
            name = key[len(bert):]
            if _LAVIS_TEXT_ONLY.match(name):
                continue
            for pattern, repl in _LAVIS_RENAMES:
                if pattern.match(name):
                    out["qformer." + pattern.sub(repl, name)] = value
                    break
            else:
                raise KeyError(f"{key}: a Q-Former tensor with no counterpart in transformers' Blip2QFormerModel")
    return out
