"""AcoustEmo (Fig. 1): Q-Former tokens spliced into a causal LM's input embeddings.

    visual features (B, T, d_v)   -> qformers["visual"]    -> projections["visual"]    -> T_V        (B, K_v, D)
    F_A (B, L, d)                 -> qformers["global"]    -> projections["global"]    -> T_A^global (B, K, D)
    F_A[b_i:e_i] for all windows  -> qformers["utterance"] -> projections["utterance"] -> T_A^i      (W, K, D)
    prompt tokens                 -> LLM embeddings; the positions of each slot kind (Batch.slot_kind) take
                                     that kind's tokens in reading order (Eq. 3)
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
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import ConfigError
from ..io import load_tensors, save_tensors
from .llm import load_llm
from .prompts import SLOT_KINDS, parse_answer, parse_emotions
from .qformer import QFormer
from .windows import gather_windows

if TYPE_CHECKING:
    from .batch import Batch

log = logging.getLogger(__name__)


TOKENS_PER_UTTERANCE_LINE = 12  # generation budget of one "3: anxious, nervous" line


@dataclass
class Prediction:
    id: str
    text: str  # the generated answer
    emotions: list[str]  # parsed open-vocabulary list
    # the second question form (model.utterance_answers): each utterance's own list, in prompt order
    utterance_emotions: list[list[str]] | None = None


class AcoustEmo(nn.Module):
    """Q-Former tokens in a causal LM's input, one Q-Former + projection per slot kind.

    ``qformers[kind]`` and ``projections[kind]`` exist for each kind the config turns on; the kind of
    every input position is data (``Batch.slot_kind``), so the tokens of kind ``k`` fill exactly the
    positions marked ``k``, in reading order.
    """

    def __init__(self, config: ModelConfig, llm: nn.Module, tokenizer=None, *, fold_lora: bool = False):
        """``fold_lora``: for inference only, the LLM is left as it is and :meth:`load_trainable` adds the
        checkpoint's LoRA factors into its weights (:mod:`acoustemo.model.lora`; what :meth:`merge_lora` gives,
        without building peft's adapters first). Such a model cannot be saved or trained."""
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        d_llm = llm.config.hidden_size
        qformer_configs = {"visual": (config.visual, config.visual_dim), "global": (config.acoustic, config.audio_dim),
                           "utterance": (config.acoustic, config.audio_dim)}
        kinds = [k for k, on in zip(SLOT_KINDS, (config.use_visual, config.global_qformer, config.utterance_qformer))
                 if on]
        # Q-Formers and projections keep fp32 weights whatever the LLM's dtype; their output is cast to it
        with torch.device(next(llm.parameters()).device):
            self.qformers = nn.ModuleDict({k: QFormer(qformer_configs[k][0], input_dim=qformer_configs[k][1]).float()
                                           for k in kinds})
            self.projections = nn.ModuleDict({k: nn.Linear(qformer_configs[k][0].hidden_size, d_llm).float()
                                              for k in kinds})

        llm.requires_grad_(False)
        if config.lora.enabled and not fold_lora:
            from peft import LoraConfig, get_peft_model

            lora = config.lora
            with warnings.catch_warnings():  # peft asks a transformers property deprecated in v5
                warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                        category=FutureWarning)
                llm = get_peft_model(llm, LoraConfig(r=lora.rank, lora_alpha=lora.alpha,
                                                     lora_dropout=lora.dropout, task_type="CAUSAL_LM",
                                                     target_modules=list(lora.target_modules)))
        if config.gradient_checkpointing:
            kwargs = {"use_reentrant": False}
            if hasattr(llm, "activation_checkpointing_enable"):  # transformers >= 5 names it so
                llm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        self.llm = llm
        self.lora_merged = fold_lora and config.lora.enabled  # LoRA goes (or went) into the LLM: inference only
        self._lora_folded = False
        # the stage-1 classifier over these Q-Formers and the trie of its label words, for model.acoustic_prior
        # (attach_acoustic_head); kept out of the module's parameters: its Q-Formers are these, its head not trained
        self.__dict__["acoustic_head"] = None
        self.__dict__["_label_trie"] = None
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
            frozen = [k for k in ("global", "visual") if k in self.qformers and not self._trains_qformer(k)]
            if frozen and self.device.type != "meta":
                log.warning("the %s Q-Former%s frozen with random weights: give model.qformer_weights, or set "
                            "model.train_%s_qformer=true", " and ".join(frozen),
                            " is" if len(frozen) == 1 else "s are", frozen[0])

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def llm_dtype(self) -> torch.dtype:
        return self.llm.get_input_embeddings().weight.dtype

    @classmethod
    def from_config(cls, config: ModelConfig, *, device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None, quantize: str | None = None,
                    fold_lora: bool = False) -> "AcoustEmo":
        """Load the LLM named by the config on ``device`` (default: the best present, see
        :func:`acoustemo.device.resolve_device`) in ``dtype`` (default: ``config.llm_dtype`` resolved for that
        device) and build the model around it. On ``device="meta"`` nothing is read or allocated: for
        parameter counts and memory estimates. ``quantize``: "8bit" / "4bit" loads the LLM through bitsandbytes
        (inference on CUDA; the Q-Formers, projections and LoRA stay in ``dtype``). ``fold_lora``: see
        :class:`AcoustEmo` (not with ``quantize``: LoRA cannot be added into 8- or 4-bit weights)."""
        from ..device import llm_dtype, resolve_device

        device = resolve_device(device or "auto")
        dtype = dtype or llm_dtype(config.llm_dtype, device)
        if fold_lora and quantize:
            raise ConfigError(f"LoRA cannot be folded into {quantize} LLM weights: load it with its adapters")
        llm, tokenizer = load_llm(config, dtype=dtype, device=device, quantize=quantize)
        with torch.device(device):  # LoRA weights too
            return cls(config, llm, tokenizer, fold_lora=fold_lora)

    # ----------------------------------------------------------------- which parameters train
    def _trains_qformer(self, kind: str) -> bool:
        return {"visual": self.config.train_visual_qformer, "global": self.config.train_global_qformer}.get(kind, True)

    def _set_trainable(self) -> None:
        for kind, qformer in self.qformers.items():
            qformer.requires_grad_(self._trains_qformer(kind))
        self.projections.requires_grad_(True)
        for name, p in self.llm.named_parameters():
            p.requires_grad_("lora_" in name)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trainable tensors (what a checkpoint holds)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def merge_lora(self) -> "AcoustEmo":
        """For inference only: fold the LoRA weights into the LLM's (one matmul per projection instead of three;
        generation is bound by reading the weights, about 20 % faster for SmolLM2-135M on a CPU). The model
        cannot be saved or trained afterwards."""
        if self.lora_merged or not self.config.lora.enabled:
            return self
        self.llm = self.llm.merge_and_unload()  # peft's adapters: enabled and not yet merged
        self.lora_merged = self._lora_folded = True
        return self

    def int8_decode(self) -> "AcoustEmo":
        """For inference on a CPU only: the LLM's linear layers (LoRA merged first) replaced by torch's dynamically
        quantised int8 ones (weights in int8, activations quantised per batch; fbgemm/onednn kernels). Decoding reads
        a quarter of the bytes per token: about twice as fast for SmolLM2-135M on a 2-core CPU (docs/performance.md,
        with the answers it changes). torch's eager ``quantize_dynamic`` is used because torchao's int8 configs
        were slower than float32 there. The Q-Formers, projections and the acoustic head stay float32."""
        import torch.ao.quantization as tq

        if self.device.type != "cpu":
            raise ConfigError(f"--int8: torch's dynamic int8 kernels run on the CPU; the model is on {self.device}")
        self.merge_lora()
        with warnings.catch_warnings():  # torch points eager-mode users to torchao (slower here, see above)
            warnings.simplefilter("ignore")
            self.llm = tq.quantize_dynamic(self.llm, {nn.Linear}, dtype=torch.qint8)
        self.lora_merged = True  # cannot be saved or trained either
        return self

    def save_trainable(self, path: str | Path) -> None:
        if self.lora_merged:
            raise RuntimeError("the LoRA weights were merged into the LLM (merge_lora): this model cannot be saved")
        save_tensors(path, self.trainable_state_dict())

    def load_trainable(self, path: str | Path, *, strict: bool = True) -> None:
        """Load a safetensors file of (some of) this model's tensors; unknown keys are an error. A model built with
        ``fold_lora`` adds the file's LoRA factors into its LLM (once: a second file with LoRA is refused)."""
        state = load_tensors(path, what="trainable tensors")
        if self.lora_merged:
            state = self._fold_lora(path, state, strict=strict)
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

    def _fold_lora(self, path, state: dict[str, torch.Tensor], *, strict: bool) -> dict[str, torch.Tensor]:
        """``state`` without its LoRA factors, which go into the LLM's weights
        (:func:`acoustemo.model.lora.fold_lora`)."""
        from .lora import fold_lora, lora_targets, split_lora

        state, factors = split_lora(state)
        if not factors:
            return state
        if self._lora_folded:
            raise RuntimeError(f"{path}: this model's LLM already holds folded LoRA weights")
        lora = self.config.lora
        targets = set(lora_targets(self.llm, lora.target_modules))
        unknown = sorted(set(factors) - targets)
        if unknown:
            raise KeyError(f"{path}: LoRA factors for modules the config does not adapt: {', '.join(unknown[:5])}")
        missing = sorted(targets - set(factors))
        if strict and missing:
            raise KeyError(f"{path}: LoRA factors missing: {', '.join(missing[:5])}")
        fold_lora(self.llm, factors, lora.alpha / lora.rank)
        self._lora_folded = True
        return state

    def attach_acoustic_head(self, labels: list[str], head: dict[str, torch.Tensor], *,
                             probe_labels: list[str] | None = None) -> None:
        """Keep stage 1's classifier head (``head``: its tensors but the Q-Formers', ``labels``: its label words)
        over this model's own Q-Formers, for decoding with ``model.acoustic_prior``. Valid where the LLM stage left
        the Q-Formers as stage 1 trained them (``train.qformer_lr_scale=0``)."""
        from .classifier import AcousticClassifier
        from .prior import LabelTrie

        classifier = AcousticClassifier(self.config, labels)
        classifier.qformers = self.qformers
        missing, unexpected = classifier.load_state_dict(head, strict=False)
        missing = [k for k in missing if not k.startswith("qformers.")]
        if missing or unexpected:
            raise ValueError(f"the acoustic head does not fit the model ({(missing + unexpected)[0]})")
        if probe_labels is not None and not set(probe_labels) <= set(labels):
            raise ValueError(f"the probe's label {sorted(set(probe_labels) - set(labels))[0]!r} is not a head label")
        classifier.probe_labels = probe_labels
        self.__dict__["acoustic_head"] = classifier.eval()
        self.__dict__["_label_trie"] = LabelTrie(self.tokenizer, classifier.labels)

    # ----------------------------------------------------------------- forward
    def qformer_inputs(self, kind: str, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """What the Q-Former of ``kind`` reads: frames (N, L, d) and their mask (N, L), one row per slot."""
        if kind == "visual":
            return batch.visual, batch.visual_mask  # (B, T, d_v): one slot per sample
        if kind == "global":
            return batch.audio, batch.audio_mask  # (B, L, d): one slot per sample
        return gather_windows(batch.audio, batch.window_sample, batch.window_begin, batch.window_end)  # (W, max, d)

    def slot_tokens(self, kind: str, batch: Batch) -> torch.Tensor:
        """The projected tokens of every slot of ``kind`` in the batch, in reading order: (slots, K, D), fp32."""
        frames, mask = self.qformer_inputs(kind, batch)
        return self.projections[kind](self.qformers[kind](frames, mask))

    def embed(self, batch: Batch) -> torch.Tensor:
        """inputs_embeds (B, T, D): prompt embeddings, each slot position filled with its kind's tokens."""
        embeds = self.llm.get_input_embeddings()(batch.input_ids)  # (B, T, D)
        for code, kind in enumerate(SLOT_KINDS, 1):
            where = batch.slot_kind == code
            wanted = int(where.sum())
            if kind not in self.qformers:
                if wanted:
                    raise ValueError(f"the batch has {kind} slots but the model has no {kind} Q-Former: it was "
                                     f"collated with another model configuration")
                continue
            if kind == "utterance" and batch.num_windows == 0:
                tokens = embeds.new_zeros(0, embeds.shape[-1])
                if self.training:
                    # keep the branch in the graph with a zero contribution, so that every process of a DDP
                    # run has a gradient for every parameter
                    probe = self.projections[kind](self.qformers[kind](batch.audio[:1, :1]))
                    embeds = embeds + 0.0 * probe.sum().to(embeds.dtype)
            else:
                tokens = self.slot_tokens(kind, batch).flatten(0, 1)  # (slots * K, D)
            if tokens.shape[0] != wanted:
                raise ValueError(f"{tokens.shape[0]} {kind} Q-Former tokens for {wanted} {kind} slots: the batch "
                                 f"was collated with another model configuration")
            embeds = embeds.masked_scatter(where[..., None], tokens.to(embeds.dtype))
        return embeds

    def forward(self, batch: Batch):
        """Causal-LM output; ``.loss`` is Eq. (4) averaged over the answer tokens of the batch."""
        batch = batch.to(self.device)
        return self.llm(inputs_embeds=self.embed(batch), attention_mask=batch.attention_mask, labels=batch.labels)

    @torch.no_grad()
    def generate(self, batch: Batch, *, max_new_tokens: int = 32, do_sample: bool = False,
                 **generate_kwargs) -> list[Prediction]:
        """Answers for a batch collated with ``Collator(..., train=False)`` (left-padded prompts).

        ``max_new_tokens`` is the budget of the clip's list; a batch asked for each utterance too (the second
        question form) gets :data:`TOKENS_PER_UTTERANCE_LINE` more per utterance of its longest dialogue."""
        if batch.labels is not None:
            raise ValueError("generate() takes prompts without answers: collate with Collator(train=False)")
        if "utterances" in batch.question:
            max_new_tokens += TOKENS_PER_UTTERANCE_LINE * max(batch.num_utterances)
        batch = batch.to(self.device)
        tok = self.tokenizer
        if self.config.acoustic_prior is not None:
            generate_kwargs["logits_processor"] = [*generate_kwargs.get("logits_processor", []),
                                                   self.acoustic_prior(batch)]
        out = self.llm.generate(
            inputs_embeds=self.embed(batch), attention_mask=batch.attention_mask, max_new_tokens=max_new_tokens,
            do_sample=do_sample, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            **generate_kwargs,
        )  # (B, new_tokens): with inputs_embeds only the new tokens come back
        texts = tok.batch_decode(out, skip_special_tokens=True)
        preds = []
        for j, (i, t) in enumerate(zip(batch.ids, texts)):
            if batch.question and batch.question[j] == "utterances":
                clip, own = parse_answer(t, batch.num_utterances[j])
                preds.append(Prediction(i, t.strip(), clip, own or [[] for _ in range(batch.num_utterances[j])]))
            else:
                preds.append(Prediction(i, t.strip(), parse_emotions(t)))
        return preds

    @torch.no_grad()
    def answer_per_utterance(self, batch: Batch, given: list[list[str]] = (), *, max_new_tokens: int = 32
                             ) -> Prediction:
        """The answer for one dialogue in the second question form (the clip's list, then a line per utterance),
        decoded greedily with the answer's layout fixed (:mod:`acoustemo.model.decode`): the model writes the clip's
        list (at most ``max_new_tokens``), then each utterance's line after reading its number (``"3:"``), so every
        utterance gets exactly one line, in order, and nothing is written after the last. ``given``: the labels of
        the first utterances, read as their lines instead of written (the stream: they were answered as they came).

        On the dialogues the model was trained on it writes that layout itself, so the words are those of
        :meth:`generate` (docs/performance.md counts the differences); on longer ones it may not (skipped or
        invented line numbers, lines past the last utterance), and the reading keeps the layout. Each read costs one
        forward pass for several tokens and the answer stops at its last line: fewer passes than writing it."""
        from .decode import Read, Write, greedy_decode

        if len(batch.ids) != 1 or batch.question != ["utterances"]:
            raise ValueError("answer_per_utterance takes one dialogue collated with the per-utterance question")
        n = batch.num_utterances[0]
        if len(given) >= n:
            raise ValueError(f"{len(given)} given lines for a dialogue of {n} utterances: nothing left to answer")
        batch = batch.to(self.device)
        tok = self.tokenizer

        def ids(text: str) -> tuple[int, ...]:
            return tuple(tok(text, add_special_tokens=False).input_ids)

        given_lines = "".join(f"{i}: {', '.join(labels)}\n" for i, labels in enumerate(given, 1))
        plan: list = [Write(max_new_tokens, ends_answer=False)]
        for k in range(len(given) + 1, n + 1):
            plan += [Read(ids((given_lines if k == len(given) + 1 else "") + f"{k}:"), own_line=True),
                     Write(TOKENS_PER_UTTERANCE_LINE, ends_answer=False)]
        processors = [self.acoustic_prior(batch)] if self.config.acoustic_prior is not None else []
        answer, _ = greedy_decode(self.llm, self.embed(batch), plan, tokenizer=tok, eos_token_id=tok.eos_token_id,
                                  logits_processors=processors)
        text = tok.decode(answer, skip_special_tokens=True)
        clip, own = parse_answer(text, n)
        return Prediction(batch.ids[0], text.strip(), clip, own or [[] for _ in range(n)])

    def acoustic_prior(self, batch: Batch):
        """The logits processor of ``model.acoustic_prior`` for ``batch`` (:mod:`acoustemo.model.prior`): the
        classifier's label probabilities for each clip and, where a sample's windows are its utterances, for
        each utterance."""
        from .prior import AcousticPrior, clip_from_utterances, neutral_mask

        head = self.acoustic_head
        if head is None:
            raise ConfigError("model.acoustic_prior needs the stage-1 classifier head beside the weights "
                              "(head.safetensors, labels.json): this model has none")
        head.to(self.device)
        clip, own = head.logits(batch)
        probe = self.config.acoustic_prior_source == "probe"
        if probe:
            if head.probe_labels is None:
                raise ConfigError("model.acoustic_prior_source=probe needs the probe's label words beside the head "
                                  "(probe-labels.json: a stage 1 started from a probe, train.acoustic.probe_init)")
            own = head.probe_logits(batch)
        clip, own = clip.softmax(-1), own.softmax(-1)
        neutral = neutral_mask(head.labels)
        per_sample = []
        for j, n in enumerate(batch.num_utterances or [0] * clip.shape[0]):
            windows = own[batch.window_sample == j] if own.shape[0] else own
            merged = batch.merged[j] if batch.merged else 0
            utterances = n and not merged and windows.shape[0] == n
            per_sample.append(windows if utterances else None)
            if probe and utterances and n == 1:  # a clip of one utterance: the clip is that utterance
                clip[j] = windows[0]
            elif utterances and n > 1 and self.config.clip_prior_source == "utterances":
                clip[j] = clip_from_utterances(windows, neutral, self.config.clip_prior_emphasis)
        return AcousticPrior(self.tokenizer, self._label_trie, clip, per_sample, self.config.acoustic_prior)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Total and trainable parameter counts, overall and per top-level part."""
    parts: dict[str, int] = {}
    for name, p in model.named_parameters():
        top = ".".join(name.split(".")[:2]) if name.startswith(("qformers.", "projections.")) else name.split(".")[0]
        parts[top] = parts.get(top, 0) + p.numel()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, **{f"part:{k}": v for k, v in parts.items()}}
