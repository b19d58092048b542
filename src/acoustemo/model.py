"""AcoustEmo (Fig. 1): Q-Former tokens spliced into a causal LM's input embeddings.

    visual features (B, T, d_v)   -> visual Q-Former    -> visual_proj    -> T_V          (B, K_v, D)
    F_A (B, L, d)                 -> global Q-Former    -> global_proj    -> T_A^global   (B, K, D)
    F_A[b_i:e_i] for all windows  -> utterance Q-Former -> utterance_proj -> T_A^i        (W, K, D)
    prompt tokens with slots      -> LLM embeddings; slots <- [T_V; T_A^global; T_A^1 ... T_A^N] (Eq. 3)
    causal-LM loss on the answer tokens only (Eq. 4); LoRA on the LLM

Trainable by default, as in section 4.1: the utterance-aware Q-Former, the projections and LoRA; the
global and visual Q-Formers follow ``train_global_qformer`` / ``train_visual_qformer``. The LLM's own
weights are always frozen.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import nn

from .config import ModelConfig
from .errors import ConfigError
from .data.collate import Batch
from .io import atomic_open
from .llm import load_llm
from .prompts import parse_emotions
from .qformer import QFormer
from .windows import gather_windows

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    id: str
    text: str  # the generated answer
    emotions: list[str]  # parsed open-vocabulary list


class AcoustEmo(nn.Module):
    def __init__(self, config: ModelConfig, llm: nn.Module, tokenizer=None):
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        d_llm = llm.config.hidden_size
        a, v = config.acoustic, config.visual
        self.global_qformer = QFormer(a, input_dim=config.audio_dim) if config.global_qformer else None
        self.global_proj = nn.Linear(a.hidden_size, d_llm) if config.global_qformer else None
        self.utterance_qformer = QFormer(a, input_dim=config.audio_dim) if config.utterance_qformer else None
        self.utterance_proj = nn.Linear(a.hidden_size, d_llm) if config.utterance_qformer else None
        self.visual_qformer = QFormer(v, input_dim=config.visual_dim) if config.use_visual else None
        self.visual_proj = nn.Linear(v.hidden_size, d_llm) if config.use_visual else None

        llm.requires_grad_(False)
        if config.lora.enabled:
            from peft import LoraConfig, get_peft_model

            lora = config.lora
            with warnings.catch_warnings():  # peft asks a transformers property deprecated in v5
                warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                        category=FutureWarning)
                llm = get_peft_model(llm, LoraConfig(r=lora.rank, lora_alpha=lora.alpha,
                                                     lora_dropout=lora.dropout, task_type="CAUSAL_LM",
                                                     target_modules=list(lora.target_modules)))
        if config.gradient_checkpointing:
            llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.llm = llm
        self._set_trainable()
        if config.qformer_weights:
            path = Path(config.qformer_weights)
            if not path.is_file():
                raise ConfigError(f"model.qformer_weights={path}: no such file")
            try:
                self.load_trainable(path, strict=False)
            except (KeyError, ValueError) as e:
                raise ConfigError(f"model.qformer_weights={path}: {e}") from None
        else:
            frozen = [name for name, on, trained in (
                ("global", config.global_qformer, config.train_global_qformer),
                ("visual", config.use_visual, config.train_visual_qformer)) if on and not trained]
            if frozen and self.device.type != "meta":
                log.warning("the %s Q-Former%s frozen with random weights: give model.qformer_weights, or set "
                            "model.train_%s_qformer=true", " and ".join(frozen),
                            " is" if len(frozen) == 1 else "s are", frozen[0])

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @classmethod
    def from_config(cls, config: ModelConfig, *, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> "AcoustEmo":
        """Load the LLM named by the config and build the model around it. On ``device="meta"`` nothing
        is read or allocated: for parameter counts and memory estimates."""
        llm, tokenizer = load_llm(config, dtype=dtype, device=device)
        with torch.device(device):
            return cls(config, llm, tokenizer)

    # ----------------------------------------------------------------- which parameters train
    def _set_trainable(self) -> None:
        cfg = self.config
        for module in (self.utterance_qformer, self.utterance_proj, self.global_proj, self.visual_proj):
            if module is not None:
                module.requires_grad_(True)
        if self.global_qformer is not None:
            self.global_qformer.requires_grad_(cfg.train_global_qformer)
        if self.visual_qformer is not None:
            self.visual_qformer.requires_grad_(cfg.train_visual_qformer)
        for name, p in self.llm.named_parameters():
            p.requires_grad_("lora_" in name)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trainable tensors (what a checkpoint holds)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def save_trainable(self, path: str | Path) -> None:
        tensors = {n: t.contiguous().cpu() for n, t in self.trainable_state_dict().items()}
        with atomic_open(path, "wb") as f:
            f.write(save(tensors))

    def load_trainable(self, path: str | Path, *, strict: bool = True) -> None:
        """Load a safetensors file of (some of) this model's tensors; unknown keys are an error."""
        state = load_file(str(path))
        own = dict(self.named_parameters())
        unknown = sorted(set(state) - set(own))
        if unknown:
            raise KeyError(f"{path}: tensors not in this model: {', '.join(unknown[:5])}")
        missing = sorted(n for n, p in own.items() if p.requires_grad and n not in state)
        if strict and missing:
            raise KeyError(f"{path}: trainable tensors missing: {', '.join(missing[:5])}")
        with torch.no_grad():
            for n, t in state.items():
                if own[n].shape != t.shape:
                    raise ValueError(f"{path}: {n} has shape {tuple(t.shape)}, the model {tuple(own[n].shape)}")
                own[n].copy_(t)

    # ----------------------------------------------------------------- forward
    def modality_tokens(self, batch: Batch) -> torch.Tensor:
        """The Q-Former tokens of every slot of the batch, in row-major slot order: (num_slots, D)."""
        dtype = self.llm.get_input_embeddings().weight.dtype
        visual = glob = utter = None
        if self.visual_qformer is not None:
            visual = self.visual_proj(self.visual_qformer(batch.visual, batch.visual_mask))  # (B, K_v, D)
        if self.global_qformer is not None:
            glob = self.global_proj(self.global_qformer(batch.audio, batch.audio_mask))  # (B, K, D)
        if self.utterance_qformer is not None and batch.num_windows:
            frames, mask = gather_windows(batch.audio, batch.window_sample, batch.window_begin,
                                          batch.window_end)  # (W, max_len, d), (W, max_len)
            utter = self.utterance_proj(self.utterance_qformer(frames, mask))  # (W, K, D)
        parts = [batch.audio.new_zeros(0, self.llm.get_input_embeddings().weight.shape[1])]
        for b in range(batch.input_ids.shape[0]):
            if visual is not None:
                parts.append(visual[b])
            if glob is not None:
                parts.append(glob[b])
            if utter is not None:
                parts.append(utter[batch.window_sample == b].flatten(0, 1))  # (N_b * K, D)
        tokens = torch.cat(parts)
        if utter is None and self.utterance_qformer is not None and self.training:
            # a batch without utterances: keep the utterance branch in the graph with a zero contribution,
            # so that every process of a DDP run has a gradient for every parameter
            probe = self.utterance_proj(self.utterance_qformer(batch.audio[:1, :1]))
            tokens = tokens + 0.0 * probe.sum()
        return tokens.to(dtype)

    def embed(self, batch: Batch) -> torch.Tensor:
        """inputs_embeds (B, T, D): prompt embeddings with the slots filled by Q-Former tokens."""
        embeds = self.llm.get_input_embeddings()(batch.input_ids)  # (B, T, D)
        tokens = self.modality_tokens(batch)
        if tokens.shape[0] != int(batch.slot_mask.sum()):
            raise ValueError(f"{tokens.shape[0]} Q-Former tokens for {int(batch.slot_mask.sum())} slots: the "
                             f"batch was collated with another model configuration")
        return embeds.masked_scatter(batch.slot_mask[..., None], tokens)

    def forward(self, batch: Batch):
        """Causal-LM output; ``.loss`` is Eq. (4) averaged over the answer tokens of the batch."""
        return self.llm(inputs_embeds=self.embed(batch), attention_mask=batch.attention_mask, labels=batch.labels)

    @torch.no_grad()
    def generate(self, batch: Batch, *, max_new_tokens: int = 32, do_sample: bool = False,
                 **generate_kwargs) -> list[Prediction]:
        """Answers for a batch collated with ``Collator(..., train=False)`` (left-padded prompts)."""
        if batch.labels is not None:
            raise ValueError("generate() takes prompts without answers: collate with Collator(train=False)")
        tok = self.tokenizer
        out = self.llm.generate(
            inputs_embeds=self.embed(batch), attention_mask=batch.attention_mask, max_new_tokens=max_new_tokens,
            do_sample=do_sample, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            **generate_kwargs,
        )  # (B, new_tokens): with inputs_embeds only the new tokens come back
        texts = tok.batch_decode(out, skip_special_tokens=True)
        return [Prediction(i, t.strip(), parse_emotions(t)) for i, t in zip(batch.ids, texts)]


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Total and trainable parameter counts, overall and per top-level part."""
    parts: dict[str, int] = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        parts[top] = parts.get(top, 0) + p.numel()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, **{f"part:{k}": v for k, v in parts.items()}}
