"""The acoustic classifier: AcoustEmo's acoustic Q-Formers under a light multi-label head over label words.

Stage 1 (:mod:`acoustemo.training.acoustic`) trains it without the LLM. Its Q-Formers have AcoustEmo's config
and parameter names, so the LLM stage starts from them; a trained model may keep the head too, reading its own
(frozen) Q-Formers, so that decoding can weigh what the acoustic branch says (:mod:`acoustemo.model.prior`).
It reads any batch with AcoustEmo's acoustic fields (``audio``, ``audio_mask``, ``window_sample``,
``window_begin``, ``window_end``): stage 1's :class:`~acoustemo.training.acoustic.AcousticBatch` and the LLM
collator's :class:`~acoustemo.model.batch.Batch` alike, windows in the same order.

    slot vectors   the mean of each slot's tokens: the global slot and every window of Eq. (1)
    pooling        attention over the sample's slots (one learned query), so that one emotional utterance
                   among neutral ones can carry the decision
    head           a linear layer over the label vocabulary of the training set, plus, with statistics tokens,
                   a second linear head on them alone, pooled over the slots by their mean or, with
                   ``model.stats_pooling: attention``, by the attention weights above
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import ConfigError
from .qformer import QFormer
from .windows import gather_windows


class AcousticClassifier(nn.Module):
    """The acoustic Q-Formers of AcoustEmo under a light multi-label head (see the module docstring)."""

    def __init__(self, config: ModelConfig, labels: list[str], *, dropout: float = 0.1):
        super().__init__()
        self.config, self.labels = config, list(labels)
        kinds = [k for k, on in (("global", config.global_qformer), ("utterance", config.utterance_qformer)) if on]
        self.qformers = nn.ModuleDict({k: QFormer(config.acoustic, input_dim=config.audio_dim) for k in kinds})
        hidden = config.acoustic.hidden_size
        self.kind_embedding = nn.Parameter(torch.zeros(2, hidden))  # global / window, added to slot vectors
        self.pool_query = nn.Parameter(torch.randn(hidden) * 0.02)
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, len(labels))
        # with statistics tokens: a second, linear head on them alone (averaged over a sample's slots), so that
        # the statistics token learns to carry what a linear speech-emotion probe reads
        self.stats_head = nn.Linear(hidden, len(labels)) if config.acoustic.stats_token else None
        # with attention-pooled statistics: the log of a scale on the statistics head's scores (a temperature; the
        # read-out probe's is fitted on its training rows, see acoustemo.training.acoustic.init_stats_from_probe)
        self.stats_log_scale = nn.Parameter(torch.zeros(())) \
            if self.stats_head is not None and config.stats_pooling == "attention" else None
        # the label words of the probe's rows in the statistics projection, in order, where stage 1 started it
        # from a probe (train.acoustic.probe_init; saved as PROBE_LABELS_FILE beside the head): see probe_logits
        self.probe_labels: list[str] | None = None

    def slot_tokens(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, tokens, hidden) the tokens of every slot (global slots first, then windows), (S,) the sample of each."""
        tokens, owner = [], []
        b = batch.audio.shape[0]
        if "global" in self.qformers:
            tokens.append(self.qformers["global"](batch.audio, batch.audio_mask) + self.kind_embedding[0])
            owner.append(torch.arange(b))
        if "utterance" in self.qformers and batch.window_sample.numel():
            frames, mask = gather_windows(batch.audio, batch.window_sample, batch.window_begin, batch.window_end)
            tokens.append(self.qformers["utterance"](frames, mask) + self.kind_embedding[1])
            owner.append(batch.window_sample)
        if not tokens:
            raise ConfigError("no acoustic slot in the batch: the samples have no utterances and the model no "
                              "global Q-Former")
        return torch.cat(tokens), torch.cat(owner).to(batch.audio.device)

    def forward(self, batch) -> torch.Tensor:
        """Label logits (B, V): attention pooling over each sample's slots, then the linear head (plus the
        statistics head, when there is one)."""
        return self.logits(batch)[0]

    def logits(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, V) the samples' label logits (:meth:`forward`) and (W, V) each window's own: the same heads on
        that window's slot alone."""
        tokens, owner = self.slot_tokens(batch)
        vectors = self.norm(tokens.mean(1))
        b = batch.audio.shape[0]
        n_windows = batch.window_sample.numel() if "utterance" in self.qformers else 0
        windows = slice(tokens.shape[0] - n_windows, tokens.shape[0])  # window slots come after the global ones
        scale = self.stats_log_scale.exp() if self.stats_log_scale is not None else 1.0
        own = self.head(self.dropout(vectors[windows]))
        if self.stats_head is not None:
            own = own + scale * self.stats_head(self.dropout(tokens[windows, -1]))
        scores = vectors @ self.pool_query / math.sqrt(vectors.shape[-1])  # (S,)
        weights = torch.exp(scores - scores.max())
        denom = torch.zeros(b, device=vectors.device).index_add(0, owner, weights)
        pooled = torch.zeros(b, vectors.shape[-1], device=vectors.device).index_add(0, owner, weights[:, None] * vectors)
        pooled = pooled / denom.clamp_min(1e-12)[:, None]
        logits = self.head(self.dropout(pooled))
        if self.stats_head is not None:
            per_slot = scale * self.stats_head(self.dropout(tokens[:, -1]))  # (S, V): each slot's statistics token
            if self.config.stats_pooling == "attention":  # the attention head's weights
                per_slot, counts = weights[:, None] * per_slot, denom
            else:
                counts = torch.zeros(b, device=tokens.device).index_add(0, owner, torch.ones_like(weights))
            summed = torch.zeros(b, per_slot.shape[1], device=tokens.device).index_add(0, owner, per_slot)
            logits = logits + summed / counts.clamp_min(1e-12)[:, None]
        return logits, own

    def probe_logits(self, batch) -> torch.Tensor:
        """(W, V) the probe's own class scores for each utterance window of the batch (the statistics projection's
        probe rows on that window's frames, :meth:`QFormer.probe_scores`), on this classifier's label vocabulary;
        labels the probe has no row for score ``-inf``. Needs :attr:`probe_labels` and the utterance Q-Former."""
        if self.probe_labels is None or "utterance" not in self.qformers:
            raise ConfigError("probe_logits needs the probe's label words (a stage 1 started from a probe, "
                              "train.acoustic.probe_init) and the utterance Q-Former")
        frames, mask = gather_windows(batch.audio, batch.window_sample, batch.window_begin, batch.window_end)
        rows = self.qformers["utterance"].probe_scores(frames, mask)[:, :len(self.probe_labels)]
        index = {w: i for i, w in enumerate(self.labels)}
        out = rows.new_full((rows.shape[0], len(self.labels)), float("-inf"))
        out[:, [index[w] for w in self.probe_labels]] = rows
        return out

    def qformer_state_dict(self) -> dict[str, torch.Tensor]:
        """The Q-Former tensors under AcoustEmo's names (``qformers.utterance.*``), for ``model.qformer_weights``."""
        return {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items() if k.startswith("qformers.")}
