"""Stage 1: the acoustic branch trained without the LLM, against the label vocabulary.

BLIP-2 and Video-LLaMA train their Q-Formers before the LLM sees them; here the same Q-Formers that
:class:`~acoustemo.model.AcoustEmo` builds (``qformers["global"]``, ``qformers["utterance"]``, same config,
same parameter names) read the cached features of each sample, and a light head predicts the sample's
open-vocabulary labels (:class:`~acoustemo.model.classifier.AcousticClassifier`):

    slot vectors   the mean of each slot's tokens: the global slot and every window of Eq. (1)
    pooling        attention over the sample's slots (one learned query), so that one emotional utterance
                   among neutral ones can carry the decision
    head           a linear layer over the label vocabulary of the training set; the loss is the cross-entropy
                   against the sample's labels as a distribution (each of its labels equally likely)

Thousands of steps take minutes on a CPU. The Q-Former weights are then saved under AcoustEmo's names,
and the LLM stage starts from them (``model.qformer_weights``). The same head serves the fast
acoustic-branch ablation: it answers "do the tokens carry the cue?" without the LLM's cost and noise.

    result = fit_acoustic(cfg, "runs/stage1")    # -> runs/stage1/qformers.safetensors (cfg.train.acoustic)
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import Config, ModelConfig
from ..data.collate import Example
from ..data.dataset import dataset_for, require
from ..data.speakers import SpeakerBaseline, require_speakers
from ..errors import ConfigError, InputError
from ..io import HEAD_WEIGHTS, LABELS_FILE, PROBE_LABELS_FILE, QFORMER_WEIGHTS, atomic_open, atomic_write_json
from ..model.classifier import AcousticClassifier
from ..model.windows import fixed_time_windows, pad_sequences, utterance_windows
from .probe import fit_linear_probe, fit_temperature, window_stats


@dataclass
class AcousticBatch:
    audio: torch.Tensor  # (B, L, d)
    audio_mask: torch.Tensor  # (B, L) bool
    window_sample: torch.Tensor  # (W,) long
    window_begin: torch.Tensor  # (W,)
    window_end: torch.Tensor  # (W,)
    targets: torch.Tensor | None = None  # (B, V) multi-hot
    window_targets: torch.Tensor | None = None  # (W, V) multi-hot: each utterance window's own labels (0: unknown)


def collate_acoustic(examples: list[Example], config: ModelConfig, vocab: dict[str, int] | None = None) -> AcousticBatch:
    """Features, the windows of Eq. (1) (or fixed windows) and multi-hot label targets."""
    sample, begin, end, own = [], [], [], []
    for i, ex in enumerate(examples):
        if not config.utterance_qformer:
            break
        if config.windows == "fixed":
            spans = fixed_time_windows(ex.audio.shape[0] / ex.frame_rate, config.fixed_window_seconds)
            own += [None] * len(spans)
        else:
            spans = [(u.start, u.end) for u in ex.utterances]
            own += [u.labels for u in ex.utterances]
        if not spans:
            continue
        b, e = utterance_windows([s for s, _ in spans], [t for _, t in spans], ex.frame_rate, ex.audio.shape[0])
        sample += [i] * len(b)
        begin += b
        end += e
    audio, mask = pad_sequences([ex.audio.float() for ex in examples])
    targets = window_targets = None
    if vocab is not None:
        targets = multi_hot([ex.labels for ex in examples], vocab)
        window_targets = multi_hot(own, vocab)
    t = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return AcousticBatch(audio, mask, t(sample), t(begin), t(end), targets, window_targets)


def multi_hot(label_lists, vocab: dict[str, int]) -> torch.Tensor:
    """(N, V): 1 where a list names a vocabulary label (a None list: all zeros)."""
    out = torch.zeros(len(label_lists), len(vocab))
    for i, labels in enumerate(label_lists):
        for label in labels or []:
            if label in vocab:
                out[i, vocab[label]] = 1.0
    return out


@dataclass
class AcousticResult:
    out: Path | None
    epochs: int
    train_loss: float
    val_loss: float | None
    val_top1: float | None  # share of validation samples whose highest-scoring label is one of their labels
    history: list[dict] = field(default_factory=list)
    model: AcousticClassifier | None = field(default=None, repr=False)


def label_vocabulary(datasets, *, utterances: bool = False) -> list[str]:
    """Every label of the training samples (with ``utterances``, of their utterances too), most frequent first
    (ties alphabetical)."""
    counts: dict[str, int] = {}
    for ds in datasets:
        for s in ds.samples:
            own = [label for u in (s.utterances or []) for label in (u.labels or ())] if utterances else []
            for label in [*(s.labels or []), *own]:
                counts[label] = counts.get(label, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def _balanced_order(primary: list[str], g: torch.Generator) -> list[int]:
    """A permutation in which each primary label is drawn equally often: sampling with replacement weighted
    by 1 / (samples of that label), as many draws as samples."""
    freq: dict[str, int] = {}
    for p in primary:
        freq[p] = freq.get(p, 0) + 1
    weights = torch.tensor([1.0 / freq[p] for p in primary])
    return torch.multinomial(weights, len(primary), replacement=True, generator=g).tolist()


@torch.no_grad()
def init_stats_from_probe(model: AcousticClassifier, examples: list[Example], vocab: dict[str, int], *,
                          c: float = 0.1, utterances: bool = False, clips: bool = False,
                          weights: dict[str, float] | None = None, balance: bool = False,
                          readout: bool = False) -> float:
    """Start each Q-Former's statistics token from a linear speech-emotion probe.

    A standardised logistic regression (``C = c``) is fitted on the rows of :func:`probe_rows` (the mean and
    standard deviation of every training clip's, or utterance's, standardised frames against its first label),
    the probe a user would try first. Its coefficients, with the scaler folded in, become the first rows of the
    statistics projection, so from the first step the statistics token carries the probe's class scores.

    ``readout``: the classifier's heads start by reading those scores out: the statistics head maps each probe
    row onto its label's logit and the attention head starts at zero, so that the untrained classifier answers
    as the probe does (its class scores after the statistics token's layer norm, which keeps their order) and
    training starts from there. With attention-pooled statistics (``model.stats_pooling: attention``) the scale
    of those scores is fitted on the probe's rows too (:func:`~acoustemo.training.probe.fit_temperature`), since
    the layer norm leaves them nearly flat over the labels. Returns the probe's training accuracy.
    """
    qformer = next(iter(model.qformers.values()))
    if not qformer.cfg.stats_token:
        raise ConfigError("init_stats_from_probe needs statistics tokens (model.acoustic.stats_token=true)")
    feats, y, sample_weight = probe_rows(examples, vocab, standardize=qformer.standardize, utterances=utterances,
                                         clips=clips, weights=weights, balance=balance)
    coef, bias, classes, accuracy = fit_linear_probe(feats, y, c=c, sample_weight=sample_weight)  # (classes, 2d)
    n = min(coef.shape[0], qformer.stats_proj[0].out_features)  # the probe rows the projection has room for
    word = {i: w for w, i in vocab.items()}
    model.probe_labels = [word[int(i)] for i in classes[:n]]
    for q in model.qformers.values():
        linear = q.stats_proj[0]
        linear.weight[:n] = coef[:n]
        linear.bias[:n] = bias[:n]
        linear.weight[n:] *= 0.1  # the other rows stay small beside the probe's
        linear.bias[n:] = 0.0
    if readout:
        if model.stats_head is None or coef.shape[0] > qformer.cfg.hidden_size:
            raise ConfigError("train.acoustic.probe_readout needs statistics tokens at least as wide as the probe "
                              "has classes")
        model.stats_head.weight.zero_()
        model.stats_head.bias.zero_()
        for row, label in enumerate(classes):  # the probe's row of each class -> that label's logit
            model.stats_head.weight[label, row] = 1.0
        model.head.weight.zero_()
        model.head.bias.zero_()
        if model.stats_log_scale is not None:  # the layer norm flattens the probe's scores: sharpen them again
            reader = model.qformers["utterance"] if "utterance" in model.qformers else qformer
            tokens = reader.stats_proj(torch.as_tensor(np.stack(feats), dtype=torch.float32))
            scale = fit_temperature(model.stats_head(tokens), torch.tensor(y), torch.tensor(sample_weight))
            model.stats_log_scale.fill_(math.log(scale))
    return accuracy


def probe_rows(examples: list[Example], vocab: dict[str, int], *, standardize=None, utterances: bool = False,
               clips: bool = False, weights: dict[str, float] | None = None,
               balance: bool = False) -> tuple[list, list[int], list[float]]:
    """The probe's training rows: ``(features, vocab index of the first label, sample weight)``.

    One row per clip: the mean and standard deviation of its frames (after ``standardize``). With
    ``utterances``, a sample whose utterances carry their own labels gives one row per utterance (its frames, its
    first label) instead: cleaner rows where a dialogue mixes emotions. ``clips`` keeps the whole clip's row
    beside its utterances' (what the global Q-Former sees). ``weights`` maps the prefix of a sample's id
    (``acoustemo merge``'s, before the first "/") to the weight of its rows (1 when unlisted; rows of weight 0
    are left out); a prefix that no sample has is an error (a misspelt corpus would silently weigh 1).
    ``balance``: the weights scaled so that every class's rows weigh the same in all (their sum unchanged).
    """
    weights = dict(weights or {})
    prefix = [ex.id.split("/", 1)[0] for ex in examples]
    unknown = sorted(set(weights) - set(prefix))
    if unknown:
        raise ConfigError(f"train.acoustic.probe_weights: no training sample's id starts with "
                          f"{', '.join(p + '/' for p in unknown)} (prefixes: {', '.join(sorted(set(prefix)))})")
    feats, y, sample_weight = [], [], []
    for ex, p in zip(examples, prefix):
        w = weights.get(p, 1.0)
        if w == 0:
            continue
        x = standardize(ex.audio) if standardize is not None else ex.audio.float()
        own = labelled_windows(ex, vocab) if utterances else []
        rows = own + [(ex.labels[0], 0, x.shape[0])] if clips or not own else own
        for label, i, j in rows:
            feats.append(window_stats(x[i:j]))
            y.append(vocab[label])
            sample_weight.append(w)
    if not feats:
        raise ConfigError("train.acoustic.probe_weights leaves the probe no training rows")
    if balance:
        total = {}
        for label, w in zip(y, sample_weight):
            total[label] = total.get(label, 0.0) + w
        share = sum(sample_weight) / len(total)  # what each class weighs in all
        sample_weight = [w * share / total[label] for label, w in zip(y, sample_weight)]
    return feats, y, sample_weight


def labelled_windows(ex: Example, vocab: dict | None = None) -> list[tuple[str, int, int]]:
    """``(first label, first frame, end frame)`` of each utterance window of Eq. (1), when every utterance of
    ``ex`` carries labels (whose first is in ``vocab``, when given); else ``[]``."""
    if not ex.utterances or not all(u.labels and (vocab is None or u.labels[0] in vocab) for u in ex.utterances):
        return []
    b, e = utterance_windows([u.start for u in ex.utterances], [u.end for u in ex.utterances], ex.frame_rate,
                             ex.audio.shape[0])
    return [(u.labels[0], i, j) for i, j, u in zip(b, e, ex.utterances)]


class AcousticTrainer:
    """Stage 1 in the shape of :class:`~acoustemo.training.loop.Trainer`: :meth:`setup_data`, :meth:`setup_model`,
    :meth:`loss_step`, :meth:`fit`; every setting from ``cfg.train.acoustic`` (and the seed).

    ``utterance_weight`` > 0 adds that times the loss of each utterance window against its own labels (where the
    manifest gives them), and fits the probe of ``probe_init`` on those utterances (and, with ``probe_clips``,
    on the whole clips as well), weighting each corpus by ``probe_weights`` (see :func:`probe_rows`)."""

    def __init__(self, cfg: Config, *, out: str | Path | None = None, seed: int | None = None,
                 progress: bool = True):
        self.cfg, self.settings = cfg, cfg.train.acoustic
        self.out = Path(out) if out else None
        self.seed = cfg.train.seed if seed is None else seed
        self.progress = progress

    def setup_data(self) -> None:
        """The training (and validation) datasets and the label vocabulary of the head."""
        cfg = self.cfg
        require(cfg, "train_manifest", "cache_dir")
        self.train_ds = dataset_for(cfg, cfg.train.train_manifest, require_labels=True)
        self.val_ds = dataset_for(cfg, cfg.train.validation_manifest, require_labels=True) \
            if cfg.train.validation_manifest else None
        self.labels = label_vocabulary([self.train_ds], utterances=self.settings.utterance_weight > 0)
        self.vocab = {w: i for i, w in enumerate(self.labels)}

    def setup_model(self) -> None:
        """The classifier (seeded), its input statistics, speaker-relative examples, the probe, the optimizer."""
        cfg, a = self.cfg, self.settings
        if a.pooling_only and cfg.model.stats_pooling != "attention":
            raise ConfigError("train.acoustic.pooling_only needs model.stats_pooling=attention (with mean pooling "
                              "the read-out's answer does not depend on the pooling it would train)")
        torch.manual_seed(self.seed)
        model = self.model = AcousticClassifier(cfg.model, self.labels, dropout=a.dropout)
        examples = [self.train_ds[i] for i in range(len(self.train_ds))]  # features are small: keep them in memory
        val_examples = [self.val_ds[i] for i in range(len(self.val_ds))] if self.val_ds is not None else []
        if cfg.model.acoustic.input_standardization:
            frames = torch.cat([ex.audio.float() for ex in examples])
            for qformer in model.qformers.values():
                qformer.set_input_statistics(frames.mean(0), frames.std(0))
            del frames
        mode, self.raw = cfg.model.speaker_normalization, examples
        self.raw_share = cfg.train.speaker_baseline_dropout if mode != "none" else 0.0
        if mode != "none":  # speaker-relative frames, mapped onto the raw population's statistics just set
            if mode == "speaker":
                require_speakers(self.train_ds.samples, str(cfg.train.train_manifest))
            baseline = SpeakerBaseline.of_model(model, examples[0].frame_rate)
            examples, val_examples = baseline.apply_all(examples, mode), baseline.apply_all(val_examples, mode)
        self.examples, self.val_examples = examples, val_examples
        if a.probe_init:  # with train.speaker_baseline_dropout: fitted on both forms of every sample
            init_stats_from_probe(model, examples + (self.raw if self.raw_share else []), self.vocab,
                                  utterances=a.utterance_weight > 0, clips=a.probe_clips, weights=a.probe_weights,
                                  balance=a.probe_balance, readout=a.probe_readout, c=a.probe_c)
        if a.freeze_probe:
            for q in model.qformers.values():  # what the probe was fitted on, and its projection, stay as they are
                frozen = [*q.stats_proj[0].parameters()]
                if q.cfg.input_standardization:
                    frozen += [q.input_mean, q.input_log_std]
                for p in frozen:
                    p.requires_grad_(False)
        if a.pooling_only:  # each window keeps the probe's answer; only the weights of the slots are learnt
            frozen = [*model.head.parameters(), *model.stats_head.parameters(), model.kind_embedding]  # it moves
            # the statistics tokens too
            for q in model.qformers.values():
                frozen += [*q.stats_proj.parameters()]
                if q.cfg.input_standardization:
                    frozen += [q.input_mean, q.input_log_std]
            for p in frozen:
                p.requires_grad_(False)
        from .optim import weight_decay_groups

        self.optimizer = torch.optim.AdamW(weight_decay_groups(model, a.weight_decay)[0], lr=a.lr)
        self.steps_per_epoch = max(1, len(self.train_ds) // a.batch_size)

    def loss_step(self, batch: AcousticBatch) -> torch.Tensor:
        """The loss of one batch: the samples' labels, plus ``utterance_weight`` times each labelled window's."""
        logits, own = self.model.logits(batch)
        loss = soft_cross_entropy(logits, batch.targets)
        known = batch.window_targets.sum(1) > 0 if own.shape[0] else None
        if self.settings.utterance_weight > 0 and known is not None and known.any():
            loss = loss + self.settings.utterance_weight * soft_cross_entropy(own[known], batch.window_targets[known])
        return loss

    def fit(self, epochs: int | None = None) -> AcousticResult:
        """Train ``epochs`` (default ``train.acoustic.epochs``; 0: the initial model, e.g. the probe alone), saving
        into ``out`` when given."""
        from tqdm import tqdm

        from .optim import build_scheduler

        a = self.settings
        epochs = a.epochs if epochs is None else epochs
        if not hasattr(self, "train_ds"):
            self.setup_data()
        if not hasattr(self, "model"):
            self.setup_model()
        model, opt, steps = self.model, self.optimizer, self.steps_per_epoch
        sched = build_scheduler(opt, schedule="cosine", total_steps=epochs * steps, warmup_ratio=a.warmup_ratio)
        primary = [s.labels[0] for s in self.train_ds.samples]
        g = torch.Generator().manual_seed(self.seed)
        history = []
        bar = tqdm(total=epochs * steps, disable=not self.progress, file=sys.stderr, desc="acoustic stage",
                   unit="step", dynamic_ncols=True)
        train_loss = float("nan")
        for epoch in range(epochs):
            t0 = time.perf_counter()
            model.train()
            order = _balanced_order(primary, g) if a.balanced else \
                torch.randperm(len(self.examples), generator=g).tolist()
            losses = []
            for i in range(steps):
                idx = order[i * a.batch_size:(i + 1) * a.batch_size]
                chosen = [self.examples[j] for j in idx]
                if self.raw_share:  # train.speaker_baseline_dropout: these samples as a voice nothing is known of
                    keep_raw = (torch.rand(len(idx), generator=g) < self.raw_share).tolist()
                    chosen = [self.raw[j] if r else ex for j, r, ex in zip(idx, keep_raw, chosen)]
                loss = self.loss_step(collate_acoustic(chosen, self.cfg.model, self.vocab))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
                opt.step()
                sched.step()
                losses.append(loss.item())
                bar.update(1)
            train_loss = sum(losses) / len(losses)
            row = {"epoch": epoch + 1, "train_loss": train_loss, "seconds": round(time.perf_counter() - t0, 2)}
            if self.val_examples:
                row.update(evaluate_acoustic(model, self.val_examples, self.vocab))
            history.append(row)
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("train_loss", "val_loss", "val_top1")},
                            refresh=False)
        bar.close()
        last = history[-1] if history else {}
        result = AcousticResult(self.out, epochs, train_loss, last.get("val_loss"), last.get("val_top1"), history,
                                model)
        if self.out:
            save_acoustic(model, self.out, self.cfg, history)
        return result


def fit_acoustic(cfg: Config, out: str | Path | None = None, *, epochs: int | None = None, seed: int | None = None,
                 progress: bool = True) -> AcousticResult:
    """Stage 1 as ``cfg.train.acoustic`` says (:class:`AcousticTrainer`); ``epochs`` replaces its ``epochs``."""
    return AcousticTrainer(cfg, out=out, seed=seed, progress=progress).fit(epochs)


def soft_cross_entropy(logits: torch.Tensor, multi_hot: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the softmax over labels against each sample's labels, equally weighted."""
    target = multi_hot / multi_hot.sum(1, keepdim=True).clamp_min(1.0)
    return -(target * torch.log_softmax(logits, dim=1)).sum(1).mean()


@torch.no_grad()
def predict_acoustic(model: AcousticClassifier, examples: list[Example], batch_size: int = 64) -> torch.Tensor:
    """Label probabilities (N, V) for ``examples`` (softmax over the vocabulary)."""
    model.eval()
    out = []
    for i in range(0, len(examples), batch_size):
        out.append(torch.softmax(model(collate_acoustic(examples[i:i + batch_size], model.config)), dim=1))
    return torch.cat(out)


@torch.no_grad()
def predict_acoustic_windows(model: AcousticClassifier, examples: list[Example], batch_size: int = 64, *,
                             source: str = "head") -> list[torch.Tensor]:
    """Each example's (windows, V) label probabilities of its utterance windows alone: the heads'
    (:meth:`AcousticClassifier.logits`), or with ``source="probe"`` the probe's own
    (:meth:`AcousticClassifier.probe_logits`)."""
    model.eval()
    out: list[torch.Tensor] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        batch = collate_acoustic(chunk, model.config)
        own = model.probe_logits(batch) if source == "probe" else model.logits(batch)[1]
        probs = torch.softmax(own, dim=1)
        for j in range(len(chunk)):
            out.append(probs[batch.window_sample == j] if own.shape[0] else probs[:0])
    return out


@torch.no_grad()
def evaluate_acoustic(model: AcousticClassifier, examples: list[Example], vocab: dict[str, int]) -> dict:
    """Validation loss (:func:`soft_cross_entropy`) and top-1: the share of samples whose highest-scoring label
    is one of theirs."""
    return score_acoustic(predict_acoustic(model, examples), examples, vocab)


def score_acoustic(probs: torch.Tensor, examples: list[Example], vocab: dict[str, int]) -> dict:
    """:func:`evaluate_acoustic` of label probabilities already predicted (:func:`predict_acoustic`)."""
    targets = multi_hot([ex.labels for ex in examples], vocab)
    target = targets / targets.sum(1, keepdim=True).clamp_min(1.0)
    loss = -(target * probs.clamp_min(1e-12).log()).sum(1).mean().item()
    top1 = targets[torch.arange(len(examples)), probs.argmax(1)].mean().item()
    return {"val_loss": loss, "val_top1": top1}


def load_acoustic(folder: str | Path) -> AcousticClassifier:
    """The classifier that :func:`save_acoustic` wrote into ``folder`` (its config, labels, Q-Formers, head)."""
    from ..config import load_config
    from ..io import load_tensors, read_json

    folder = Path(folder)
    cfg = load_config(folder / "config.yaml")
    model = AcousticClassifier(cfg.model, read_json(folder / LABELS_FILE))
    state = {**load_tensors(folder / QFORMER_WEIGHTS), **load_tensors(folder / HEAD_WEIGHTS)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{folder}: stage-1 weights do not match its config ({(missing + unexpected)[0]})")
    if (folder / PROBE_LABELS_FILE).is_file():
        model.probe_labels = read_json(folder / PROBE_LABELS_FILE)
    return model.eval()


def save_acoustic(model: AcousticClassifier, out: Path, cfg: Config, history: list[dict]) -> None:
    """``qformers.safetensors`` (AcoustEmo's names), ``head.safetensors``, ``labels.json``, the probe's label
    words (``probe-labels.json``, where stage 1 started from a probe), ``config.yaml``, ``history.json``; each
    written atomically."""
    from safetensors.torch import save

    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / QFORMER_WEIGHTS, "wb") as f:
        f.write(save(model.qformer_state_dict()))
    head = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if not k.startswith("qformers.")}
    with atomic_open(out / HEAD_WEIGHTS, "wb") as f:
        f.write(save(head))
    atomic_write_json(out / LABELS_FILE, model.labels)
    if model.probe_labels is not None:
        atomic_write_json(out / PROBE_LABELS_FILE, model.probe_labels)
    atomic_write_json(out / "history.json", history)
    with atomic_open(out / "config.yaml", "w", encoding="utf-8") as f:
        f.write(cfg.to_yaml())


@torch.no_grad()
def init_projections_from_labels(model, examples: list[Example], *, c: float = 0.1) -> dict[str, float]:
    """Start the LLM stage's projections in the LLM's own label words, from what the statistics tokens carry.

    For each Q-Former kind with a statistics token, a standardised logistic regression (``C = c``) is fitted
    from the (frozen) statistics tokens of the training clips, and of their labelled utterance windows, to
    their first labels: scores ``z = W t + b`` over the labels seen. The kind's projection then starts as

        P t = e_mean + alpha * sum_v z_v (e_v - e_mean) + 0.2 * P_random t

    with ``e_v`` the LLM's input embedding of label ``v`` (" fearful", averaged over its word pieces) and
    ``e_mean`` their mean: the statistics token arrives as a mixture of the label words it scores highest, at
    the norm of a word embedding (``alpha``), and the query tokens keep a small random projection. With
    nn.Linear's initialisation instead, projected tokens start about five times longer than any word
    embedding and unrelated to the words of the answer. Returns ``alpha`` per kind.
    """
    kinds = [k for k in ("global", "utterance") if k in model.projections and model.qformers[k].cfg.stats_token]
    if not kinds:
        raise ConfigError("train.projection_init=labels needs statistics tokens (model.acoustic.stats_token=true)")
    if not examples:
        raise ConfigError("train.projection_init=labels: no training example to fit the projections on")
    table = model.llm.get_input_embeddings().weight
    spans = [(ex.audio, label, i, j) for ex in examples
             for label, i, j in [(ex.labels[0], 0, ex.audio.shape[0]), *labelled_windows(ex)]]
    y = [label for _, label, _, _ in spans]
    alphas = {}
    for kind in kinds:
        qformer, proj = model.qformers[kind], model.projections[kind]
        device = proj.weight.device
        x = torch.stack([qformer.stats_tokens(audio[None, i:j].to(device))[0].float().cpu()
                         for audio, _, i, j in spans])
        w, b, classes, _ = fit_linear_probe(x.numpy(), y, c=c)  # (labels, hidden), (labels,)
        rows = []
        for label in classes:
            ids = model.tokenizer(" " + str(label), add_special_tokens=False).input_ids
            rows.append(table[torch.tensor(ids, device=table.device)].float().mean(0).cpu())
        emb = torch.stack(rows)  # (labels, D)
        mean = emb.mean(0)
        mixed = (x @ w.T + b) @ (emb - mean)  # (N, D): sum_v z_v (e_v - e_mean)
        alpha = float(emb.norm(dim=1).median() / mixed.norm(dim=1).median().clamp_min(1e-6))
        proj.weight.mul_(0.2).add_((alpha * (emb - mean).T @ w).to(device, proj.weight.dtype))
        proj.bias.mul_(0.2).add_((mean + alpha * (emb - mean).T @ b).to(device, proj.bias.dtype))
        alphas[kind] = alpha
    return alphas
