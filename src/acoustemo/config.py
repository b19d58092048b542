"""Configuration: one dataclass per concern, presets, YAML in, command-line overrides.

Defaults live in the dataclasses and nowhere else. A YAML file holds overrides of a preset; the command
line overrides the YAML (``--model.acoustic.num_queries=16``). Unknown keys and impossible values raise
:class:`~acoustemo.errors.ConfigError` naming the key.

    >>> cfg = Config.from_name("tiny")
    >>> cfg = load_config("paper", overrides=["model.lora.rank=8", "train.epochs=1"])
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError, excerpt
from .yamlio import load_yaml, read_yaml


@dataclass
class QFormerConfig:
    """A Q-Former: ``num_queries`` learnable queries cross-attending to a sequence of frames (Eq. 2)."""

    num_queries: int = 32  # K: tokens out per window (paper: 32)
    hidden_size: int = 768  # d_model (paper: 768)
    num_layers: int = 2  # Video-LLaMA's audio Q-Former: 2 layers
    num_heads: int = 12
    intermediate_size: int = 3072
    cross_attention_frequency: int = 1  # 1: cross-attention in every layer
    dropout: float = 0.1
    frame_positions: Literal["sinusoidal", "learned", "none"] = "sinusoidal"  # added to the frames
    # a LayerNorm over each input frame (BLIP-2's ln_vision); Video-LLaMA's audio Q-Former reads the frames as
    # they come, so a warm start from it turns this off
    frame_norm: bool = True
    max_frames: int = 4096  # length limit of "learned" frame positions
    # one more token per sequence: a projection of the mean and standard deviation of its frames (the
    # statistics a linear speech-emotion probe reads), beside the K query tokens
    stats_token: bool = False
    # per-dimension standardisation of the input frames, (x - mean) / std with mean and std trainable and set
    # from the training data by stage 1 (frozen encoders such as Whisper have a few dimensions hundreds of times
    # larger than the rest, which dominate a per-frame LayerNorm)
    input_standardization: bool = False

    @property
    def num_tokens(self) -> int:
        """Tokens out per sequence: the K queries, plus the statistics token when there is one."""
        return self.num_queries + int(self.stats_token)

    def __post_init__(self):
        _positive(self, "num_queries", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                  "cross_attention_frequency", "max_frames")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}")
        if self.cross_attention_frequency > self.num_layers:
            raise ConfigError(f"cross_attention_frequency={self.cross_attention_frequency} > num_layers="
                              f"{self.num_layers}: no layer would attend to the frames")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")


@dataclass
class LoRAConfig:
    """LoRA on the LLM (peft). The paper does not give its LoRA sizes; these are common LLaMA choices."""

    enabled: bool = True
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])

    def __post_init__(self):
        _positive(self, "rank", "alpha")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout={self.dropout} must be in [0, 1)")
        if self.enabled and not self.target_modules:
            raise ConfigError("lora.target_modules is empty")


@dataclass
class TinyLLMConfig:
    """Sizes of the random LLaMA that ``llm: tiny`` builds (tests, smoke runs); byte-level tokenizer."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128

    def __post_init__(self):
        _positive(self, "hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size")
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ConfigError("tiny_llm: hidden_size % num_heads and num_heads % num_kv_heads must be 0")


@dataclass
class ModelConfig:
    """AcoustEmo (Fig. 1). The ablations of Table 2 are values here, not code forks:

    - full model:                    global_qformer=True,  utterance_qformer=True,  windows="utterance"
    - w/o global Q-Former:           global_qformer=False
    - fixed 2 s windows:             windows="fixed", fixed_window_seconds=2.0
    - w/o utterance-aware Q-Former:  utterance_qformer=False (global only, the Video-LLaMA-style baseline)
    """

    llm: str = "meta-llama/Llama-2-7b-hf"  # hub name, local folder, or "tiny" (random, see tiny_llm)
    llm_gguf_file: str | None = None  # a GGUF file inside `llm` to read the weights from
    tiny_llm: TinyLLMConfig = field(default_factory=TinyLLMConfig)
    audio_dim: int = 1024  # d of F_A: ImageBind audio 1024, Whisper tiny 384
    visual_dim: int = 1408  # per-frame visual features: EVA-CLIP-g 1408, FER mini-Xception 7
    use_visual: bool = True  # False: no visual tokens (audio + subtitle setting)
    global_qformer: bool = True  # T_A^global over all of F_A
    utterance_qformer: bool = True  # T_A^i over each window
    windows: Literal["utterance", "fixed"] = "utterance"  # Eq. (1) windows, or the fixed-length ablation
    fixed_window_seconds: float = 2.0
    # "interleaved": each utterance's tokens right after its line of the prompt; "prefix": all Q-Former
    # tokens before the prompt, [T_V; T_A; T_Lq] as Eq. (3) writes it (see acoustemo.model.prompts)
    prompt_layout: Literal["interleaved", "prefix"] = "interleaved"
    # "full": times, text and the instruction; "compact": text only, about half the tokens (small LLMs)
    prompt_style: Literal["full", "compact"] = "full"
    # True: ask for each utterance's emotions too (the second question form of acoustemo.model.prompts), trained
    # on the samples whose utterances carry their own labels; predictions then hold a per-utterance timeline
    utterance_answers: bool = False
    # speaker-relative acoustics (acoustemo.data.speakers): each sample's frames standardised by its speaker's own
    # statistics rather than the training population's. "speaker": pooled over every sample of the same manifest
    # speaker (training manifests must name it; at inference a voice with nothing else known keeps its raw frames,
    # or is measured against the files of --speaker-baseline); "recording": each file alone; "none": as before
    speaker_normalization: Literal["none", "speaker", "recording"] = "none"
    # seconds of population frames pooled with a speaker's own: a voice heard briefly moves only part of the way
    speaker_prior_seconds: float = 10.0
    acoustic: QFormerConfig = field(default_factory=QFormerConfig)  # global and utterance Q-Formers (separate weights)
    visual: QFormerConfig = field(default_factory=QFormerConfig)
    train_global_qformer: bool = False  # paper 4.1: frozen; True when it has no pretrained weights to start from
    train_visual_qformer: bool = False
    qformer_weights: str | None = None  # safetensors with pretrained Q-Former/projection weights to start from
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    max_length: int = 1024  # LLM sequence budget: visual + acoustic + prompt + answer tokens
    gradient_checkpointing: bool = False
    # the LLM's weight dtype; auto: bf16 on GPUs that have it, else fp16 on GPUs, fp32 on the CPU (see
    # acoustemo.device). Q-Formers and projections keep fp32 weights and cast their tokens to this dtype.
    llm_dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # decoding: the weight of the acoustic prior on the first label of each list the model writes (the clip's,
    # each utterance's), from the stage-1 classifier the trained model keeps (acoustemo.model.prior); 0 only
    # constrains that label to the classifier's label words; None: the LLM alone, open vocabulary throughout
    acoustic_prior: float | None = None
    # where the prior of each utterance's first label comes from: "head", the classifier's own answer for that
    # window; "probe", the probe stage 1 started its statistics tokens from (train.acoustic.probe_init), read on
    # that window's frames, and a clip of a single utterance takes it for the clip's first label too (clips of
    # several utterances keep the head's attention pooling). Decode-time, like acoustic_prior
    acoustic_prior_source: Literal["head", "probe"] = "head"
    # where the prior of the clip's first label comes from for a clip of several utterances: "head", the
    # classifier's attention-pooled answer for the whole clip; "utterances", the utterances' own priors (from
    # acoustic_prior_source) pooled so that the most emotional one names the clip, each weighed by
    # exp(clip_prior_emphasis * its probability of an emotion other than calm/neutral)
    # (acoustemo.model.prior.clip_from_utterances; 0: their plain mean). Decode-time, like acoustic_prior
    clip_prior_source: Literal["head", "utterances"] = "head"
    clip_prior_emphasis: float = 10.0
    # how the stage-1 classifier (acoustemo.model.classifier) pools its statistics head's scores over a sample's
    # slots: "mean" (every slot alike) or "attention" (the attention head's weights, so that one emotional
    # utterance among neutral ones can carry the read-out probe's decision for the whole dialogue)
    stats_pooling: Literal["mean", "attention"] = "mean"

    def __post_init__(self):
        _positive(self, "audio_dim", "visual_dim", "max_length", "fixed_window_seconds")
        if self.acoustic_prior is not None and not (self.acoustic_prior >= 0 and math.isfinite(self.acoustic_prior)):
            raise ConfigError(f"model.acoustic_prior={self.acoustic_prior} must be a finite number >= 0 (or null)")
        if not (self.clip_prior_emphasis >= 0 and math.isfinite(self.clip_prior_emphasis)):
            raise ConfigError(f"model.clip_prior_emphasis={self.clip_prior_emphasis} must be a finite number >= 0")
        if not (self.global_qformer or self.utterance_qformer):
            raise ConfigError("global_qformer and utterance_qformer are both False: the model would have no "
                              "acoustic tokens")
        if not self.llm:
            raise ConfigError("model.llm is empty: give a hub name, a local folder or 'tiny'")
        if self.speaker_normalization != "none" and not self.acoustic.input_standardization:
            raise ConfigError("model.speaker_normalization needs model.acoustic.input_standardization=true (the "
                              "Q-Formers' input statistics are the population a speaker's baseline is mapped onto)")
        if not (self.speaker_prior_seconds >= 0 and math.isfinite(self.speaker_prior_seconds)):
            raise ConfigError(f"model.speaker_prior_seconds={self.speaker_prior_seconds} must be a finite number >= 0")


@dataclass
class AcousticConfig:
    """Stage 1 (:mod:`acoustemo.training.acoustic`): the acoustic Q-Formers under a label head, trained against the
    label vocabulary before the LLM stage, which then starts from them. Every stage-1 setting, once."""

    epochs: int = 0  # 0: no stage 1
    lr: float = 3e-4
    batch_size: int = 32
    weight_decay: float = 0.05
    dropout: float = 0.1  # of the head
    warmup_ratio: float = 0.05  # then cosine decay
    max_grad_norm: float = 1.0
    balanced: bool = True  # each epoch draws the samples' first labels evenly (else a plain shuffle)
    probe_init: bool = False  # start the statistics tokens from a logistic-regression probe
    # with probe_init: the probe's statistics projection and the input standardisation it was fitted on stay as
    # the probe set them (the rest of the Q-Formers and the head train around them)
    freeze_probe: bool = False
    # weight of a second loss on each utterance window's own labels (utterances that carry "labels" in the
    # manifest), beside the loss on the sample's labels; with it the probe of probe_init is fitted on those windows
    # instead of the whole clips. 0: the sample's labels only
    utterance_weight: float = 0.0
    # with utterance_weight > 0: the probe is fitted on the whole clips as well as on their utterances
    probe_clips: bool = False
    # with probe_init: the weight of each training sample's rows in the probe's fit, by the prefix its id got from
    # `acoustemo merge` (the part before the first "/"); unlisted prefixes weigh 1, 0 leaves them out.
    # E.g. {synth: 0.1}: synthetic speech informs the probe, real speech decides it
    probe_weights: dict[str, float] = field(default_factory=dict)
    # with probe_init: the inverse L2 strength of the probe's logistic regression (sklearn's C; baseline (b) uses 0.1)
    probe_c: float = 0.1
    # with probe_init: each class's rows weigh the same in the probe's fit (sklearn's class_weight="balanced", on
    # top of probe_weights), so that the calm utterances around a dialogue's emotional one do not set its prior
    probe_balance: bool = False
    # with probe_init: the heads start by reading the probe's class scores out of the statistics tokens, so the
    # untrained classifier answers as the probe does and training starts from there
    probe_readout: bool = False
    # with probe_readout: train only the pooling over slots (the pooling query and the Q-Formers through the
    # attention scores); the probe's projection, both heads, the slot-kind embedding and the standardisation stay
    # as the read-out set them, so each window answers as the probe does (use with model.stats_pooling=attention)
    pooling_only: bool = False

    def __post_init__(self):
        _positive(self, "lr", "batch_size", "max_grad_norm", "probe_c")
        if self.probe_readout and not self.probe_init:
            raise ConfigError("probe_readout needs probe_init=true")
        if self.pooling_only and not self.probe_readout:
            raise ConfigError("pooling_only needs probe_readout=true (the heads it keeps are the probe's read-out)")
        if self.epochs < 0:
            raise ConfigError(f"epochs={self.epochs} must be >= 0")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay={self.weight_decay} must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1)")
        if not self.utterance_weight >= 0:
            raise ConfigError(f"utterance_weight={self.utterance_weight} must be >= 0")
        if self.freeze_probe and not self.probe_init:
            raise ConfigError("freeze_probe needs probe_init=true")
        for prefix, w in self.probe_weights.items():
            if not w >= 0:
                raise ConfigError(f"probe_weights.{prefix}={w} must be >= 0")
        if self.probe_weights and not self.probe_init:
            raise ConfigError("probe_weights needs probe_init=true")
        if self.probe_balance and not self.probe_init:
            raise ConfigError("probe_balance needs probe_init=true")


@dataclass
class TrainConfig:
    """The recipe of section 4.1 by default."""

    lr: float = 2e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.05
    warmup_ratio: float = 0.05  # linear warm-up over the first 5 % of steps
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    epochs: int = 3
    batch_size: int = 1
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 on GPUs that have it, else fp32
    max_steps: int | None = None  # cap on optimizer steps (the schedule spans the capped run); None: epochs
    # data: paths come from the YAML or the command line, relative to the working directory
    train_manifest: str | None = None  # JSONL manifest of the training samples (with labels)
    validation_manifest: str | None = None  # periodic validation loss; None: none
    test_manifest: str | None = None  # what `acoustemo evaluate` / `ablate` score by default
    cache_dir: str | None = None  # feature cache written by `acoustemo extract`
    audio_key: str | None = None  # cache key, or encoder name ("whisper"); None: the cache's only audio key
    visual_key: str | None = None  # same for the visual features ("fer"); unused when model.use_visual=false
    output_dir: str | None = None  # checkpoints, log.jsonl, final weights
    # loop
    group_by_length: bool = False  # batch dialogues with similar numbers of utterances together (less padding)
    eval_every: int = 0  # validation loss every N optimizer steps; 0: at the end of each epoch
    save_every: int = 0  # checkpoint every N optimizer steps; 0: at the end of each epoch
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    eval_batch_size: int = 8  # validation and generation batch size (per process)
    # stage 1 (acoustemo.training.acoustic): the acoustic Q-Formers trained against the label vocabulary first
    acoustic: AcousticConfig = field(default_factory=AcousticConfig)
    # with model.speaker_normalization: this share of the training samples is drawn with its raw frames instead
    # (each epoch anew), so that the model also reads a voice of which nothing else is known; the stage-1 probe is
    # then fitted on both forms of every sample
    speaker_baseline_dropout: float = 0.0
    qformer_lr_scale: float = 1.0  # LLM stage: the Q-Formers learn at train.lr times this (0: kept as stage 1 left them)
    # LLM stage: where the projections into the LLM start. "random": nn.Linear's initialisation; "labels": the
    # statistics token lands on a mixture of the LLM's embeddings of the label words it scores highest (a linear
    # probe on the trained statistics tokens; see acoustemo.training.acoustic.init_projections_from_labels)
    projection_init: Literal["random", "labels"] = "random"

    def __post_init__(self):
        _positive(self, "lr", "epochs", "batch_size", "grad_accum", "max_grad_norm", "keep_checkpoints",
                  "eval_batch_size")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"train.max_steps={self.max_steps} must be > 0 (or null)")
        if self.eval_every < 0 or self.save_every < 0:
            raise ConfigError("train.eval_every and train.save_every must be >= 0")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"train.betas={self.betas} must be in [0, 1)")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"train.warmup_ratio={self.warmup_ratio} must be in [0, 1)")
        if self.weight_decay < 0:
            raise ConfigError(f"train.weight_decay={self.weight_decay} must be >= 0")
        if self.qformer_lr_scale < 0:
            raise ConfigError(f"train.qformer_lr_scale={self.qformer_lr_scale} must be >= 0")
        if not 0.0 <= self.speaker_baseline_dropout <= 1.0:
            raise ConfigError(f"train.speaker_baseline_dropout={self.speaker_baseline_dropout} must be in [0, 1]")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_name(cls, name: str) -> "Config":
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r} (presets: {', '.join(PRESETS)})")
        return from_dict(cls, PRESETS[name], "")

    @classmethod
    def from_file(cls, path: str | Path) -> "Config":
        return load_config(path)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(self.to_dict()), sort_keys=False)


# Presets are overrides of the dataclass defaults (which are the paper's).
PRESETS: dict[str, dict] = {
    "paper": {},
    "small": {
        "model": {
            "llm": "smollm2-135m-instruct",  # resolved by acoustemo.model.llm to the GGUF shipped on PyPI
            "audio_dim": 384,  # Whisper tiny.en encoder, 50 Hz
            "visual_dim": 129,  # FER2013 mini-Xception: 128-d pooled features + face flag per frame
            "acoustic": {"num_queries": 8, "hidden_size": 256, "num_heads": 4, "intermediate_size": 1024},
            "visual": {"num_queries": 4, "hidden_size": 128, "num_layers": 1, "num_heads": 4,
                       "intermediate_size": 512},
            "train_global_qformer": True,  # no pretrained Q-Former weights to start from
            "train_visual_qformer": True,
            "lora": {"rank": 8, "alpha": 16},
        },
        "train": {"lr": 2e-4, "batch_size": 4},
    },
    "tiny": {
        "model": {
            "llm": "tiny",
            "audio_dim": 16,
            "visual_dim": 8,
            "acoustic": {"num_queries": 4, "hidden_size": 32, "num_heads": 4, "intermediate_size": 64,
                         "dropout": 0.0},
            "visual": {"num_queries": 2, "hidden_size": 32, "num_layers": 1, "num_heads": 4,
                       "intermediate_size": 64, "dropout": 0.0},
            "lora": {"rank": 4, "alpha": 8, "dropout": 0.0},
            "max_length": 512,
        },
        "train": {"lr": 1e-3, "batch_size": 2, "epochs": 1},
    },
}


# Named sets of settings that a run and its continuation or reuse must share (see settings_diff). Entries are
# dotted names; a section name ("model", "train.acoustic") stands for every setting under it.
# What stage 1 (acoustemo.training.acoustic) depends on:
STAGE_ONE_SETTINGS = ("model", "train.train_manifest", "train.seed", "train.acoustic",
                      "train.speaker_baseline_dropout")
# What the LLM stage's trajectory depends on: a checkpoint continues only with these unchanged.
TRAJECTORY_SETTINGS = ("model", *(f"train.{k}" for k in (
    "lr", "betas", "weight_decay", "warmup_ratio", "schedule", "epochs", "batch_size", "grad_accum", "max_grad_norm",
    "seed", "max_steps", "train_manifest", "group_by_length", "qformer_lr_scale", "projection_init",
    "speaker_baseline_dropout")))
# A whole two-stage run, as a finished run's results are reused for: both stages.
RUN_SETTINGS = tuple(dict.fromkeys(TRAJECTORY_SETTINGS + STAGE_ONE_SETTINGS))


def settings_diff(a: Config, b: Config, keys: tuple[str, ...] | None = None) -> list[str]:
    """The dotted settings (``model.acoustic.num_queries``, ``train.lr``) whose values differ between two configs,
    sorted; with ``keys`` (e.g. :data:`TRAJECTORY_SETTINGS`) only those among them, else every setting."""
    fa, fb = _flat(a), _flat(b)
    changed = [k for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)]
    if keys is None:
        return changed

    return [name for name in changed if any(name == k or name.startswith(k + ".") for k in keys)]


def _flat(section, prefix: str = "") -> dict:
    """A config's settings as ``{"model.acoustic.num_queries": 8, ...}``: sections are the dataclasses, anything
    else (a mapping such as ``train.acoustic.probe_weights`` too) is one value; tuples as lists, as a config read
    back from JSON holds them."""
    out = {}
    for f in dataclasses.fields(section):
        v = getattr(section, f.name)
        if dataclasses.is_dataclass(v):
            out.update(_flat(v, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = _plain(v)
    return out


def load_config(source: str | Path = "paper", overrides: list[str] | None = None) -> Config:
    """A preset name or a YAML file (which may name its base preset with ``preset: small``), then
    ``key.sub=value`` overrides (values parsed as YAML)."""
    data: dict = {}
    if str(source) in PRESETS:
        data = _merge({}, PRESETS[str(source)])
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file, and not a preset ({', '.join(PRESETS)})")
        loaded = read_yaml(path) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        base = loaded.pop("preset", "paper")
        if not isinstance(base, str) or base not in PRESETS:
            raise ConfigError(f"{path}: field 'preset': unknown preset {excerpt(base)} (presets: {', '.join(PRESETS)})")
        data = _merge(_merge({}, PRESETS[base]), loaded)
        try:
            return from_dict(Config, _apply_overrides(data, overrides), "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return from_dict(Config, _apply_overrides(data, overrides), "")


def _apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    for item in overrides or []:
        key, sep, value = item.removeprefix("--").partition("=")
        if not sep or not key:
            raise ConfigError(f"override {excerpt(item)}: expected key.sub=value")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {excerpt(item)}: {excerpt(p)} is not a section")
        node[leaf] = load_yaml(value, source=f"override {excerpt(key)}")
    return data


def from_dict(cls, data: dict, prefix: str):
    """Build dataclass ``cls`` from nested dicts, rejecting unknown keys and values of the wrong type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {excerpt(data)}")
    if cls is TrainConfig:
        data = _nest_legacy_acoustic(data)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str) or key not in fields:
            close = difflib.get_close_matches(key, fields, n=1) if isinstance(key, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"
            raise ConfigError(f"{excerpt(name)[1:-1]}: unknown key{hint}")
        kwargs[key] = _coerce(hints[key], value, name)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {e}") from None


def _nest_legacy_acoustic(train: dict) -> dict:
    """Configs written before stage 1 had its own section (``train.acoustic_epochs: 12``, as saved runs and older
    YAML files hold them) read as ``train.acoustic.epochs``; a setting given both ways is an error."""
    legacy = {k: v for k, v in train.items() if isinstance(k, str) and k.startswith("acoustic_")}
    if not legacy:
        return train
    nested = dict(train.get("acoustic") or {})
    for key, value in legacy.items():
        name = key[len("acoustic_"):]
        if name in nested:
            raise ConfigError(f"train.{key} and train.acoustic.{name}: the same setting twice")
        nested[name] = value
    return {**{k: v for k, v in train.items() if k not in legacy}, "acoustic": nested}


def _coerce(tp, value, name: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, name + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, name)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name}: {excerpt(value)} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping, got {excerpt(value)}")
        key_type, value_type = args or (Any, Any)
        return {_coerce(key_type, k, f"{name} key"): _coerce(value_type, v, f"{name}.{k}") for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {excerpt(value)}")
        if origin is tuple and len(args) != len(value) and not (len(args) == 2 and args[1] is Ellipsis):
            raise ConfigError(f"{name}: expected {len(args)} values, got {len(value)}")
        inner = args[0] if args else Any
        out = [_coerce(inner, v, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true/false, got {excerpt(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {excerpt(value)}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number, got {excerpt(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{name}: {value} is not a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string, got {excerpt(value)}")
        return value
    return value


def _positive(obj, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not v > 0:
            raise ConfigError(f"{n}={v} must be > 0")


def _merge(base: dict, over: dict) -> dict:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = _merge(dict(base[k]), v)
        else:
            base[k] = _merge({}, v) if isinstance(v, dict) else v
    return base


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# --------------------------------------------------------------------------------------------- command line
class _Override(argparse.Action):
    """``--section.key=value`` -> ``args.overrides += ["section.key=value"]``."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, "overrides", None) or [])
        items.append(f"{option_string.removeprefix('--')}={values}")
        setattr(namespace, "overrides", items)


def config_paths(cls=Config, prefix: str = "") -> list[str]:
    """Every leaf key of the configuration: ``["model.llm", ..., "model.acoustic.num_queries", "train.lr", ...]``."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += config_paths(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def add_config_arguments(parser: argparse.ArgumentParser, default: str | None = "small") -> None:
    """``--config`` and one ``--section.key VALUE`` option per configuration key (values read as YAML)."""
    parser.add_argument("--config", default=default,
                        help="preset name (paper, small, tiny) or YAML file"
                             + (f" (default: {default})" if default else ""))
    parser.set_defaults(overrides=[])
    group = parser.add_argument_group("configuration overrides", "any key of the resolved config, e.g. "
                                      "--train.lr=0.0001 --model.windows=fixed (values are parsed as YAML)")
    for key in config_paths():
        group.add_argument(f"--{key}", action=_Override, metavar="V", help=argparse.SUPPRESS)
    for f in dataclasses.fields(AcousticConfig):  # the names of stage-1 settings before they had a section
        group.add_argument(f"--train.acoustic_{f.name}", action=_Override, metavar="V", help=argparse.SUPPRESS)


def add_quantization_argument(parser: argparse.ArgumentParser) -> None:
    """``--load-in-8bit`` / ``--load-in-4bit``: the LLM's weights quantized by bitsandbytes (GPUs; inference);
    ``--int8``: its linear layers dynamically quantised by torch (CPUs; inference)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--int8", dest="quantize", action="store_const", const="int8",
                       help="the LLM's linear layers in int8 (torch dynamic quantisation, CPU): about twice as fast "
                            "a decode; a few answers change (docs/performance.md)")
    group.add_argument("--load-in-8bit", dest="quantize", action="store_const", const="8bit",
                       help="load the LLM in 8 bits (bitsandbytes, CUDA): a 7B model in about 8 GB")
    group.add_argument("--load-in-4bit", dest="quantize", action="store_const", const="4bit",
                       help="load the LLM in 4 bits (bitsandbytes NF4, CUDA): a 7B model in about 5 GB")
    parser.set_defaults(quantize=None)


def clip_prior_overrides(value: str | None) -> list[str]:
    """``--clip-prior head|utterances[:EMPHASIS]`` as config overrides (``model.clip_prior_source``,
    ``model.clip_prior_emphasis``), None for the model's own settings."""
    if value is None:
        return []
    source, _, emphasis = value.strip().partition(":")
    if source not in ("head", "utterances") or (emphasis and source == "head"):
        raise ConfigError(f"--clip-prior {value!r}: expected head or utterances[:EMPHASIS]")
    return [f"model.clip_prior_source={source}", *([f"model.clip_prior_emphasis={emphasis}"] if emphasis else [])]


def acoustic_prior_overrides(value: str | None) -> list[str]:
    """``--acoustic-prior W[:SOURCE]`` as config overrides: a number, optionally with where the utterances' prior
    comes from (``1000:probe``, ``2:head``; ``model.acoustic_prior_source``), "none" for the LLM alone, None for
    the model's own settings."""
    if value is None:
        return []
    weight, _, source = value.strip().partition(":")
    if weight.lower() == "none":
        return ["model.acoustic_prior=null"]
    return [f"model.acoustic_prior={weight}", *([f"model.acoustic_prior_source={source}"] if source else [])]


def add_prior_arguments(parser: argparse.ArgumentParser) -> None:
    """``--acoustic-prior`` and ``--clip-prior``, the decode-time settings of the first labels; read back as
    config overrides by :func:`prior_overrides`."""
    parser.add_argument("--acoustic-prior", default=None, metavar="W[:SOURCE]",
                        help="weight of the stage-1 classifier on the first label of each list (model.acoustic_prior: "
                             "a number >= 0, or none for the LLM alone; default: the model's own setting), and "
                             "where the utterances' prior comes from (head or probe, model.acoustic_prior_source), "
                             "e.g. 1000:probe")
    parser.add_argument("--clip-prior", default=None, metavar="head|utterances[:EMPHASIS]",
                        help="where the clip's first label comes from when it has several utterances: the "
                             "classifier's answer for the whole clip (head) or the most emotional utterance's "
                             "(utterances, model.clip_prior_source; EMPHASIS: model.clip_prior_emphasis); default: "
                             "the model's own setting")


def prior_overrides(args: argparse.Namespace) -> list[str]:
    """The config overrides of :func:`add_prior_arguments`' options."""
    return acoustic_prior_overrides(args.acoustic_prior) + clip_prior_overrides(args.clip_prior)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="where the model runs: auto (a GPU when present), cpu, cuda, cuda:N, mps "
                             "(default: auto)")
